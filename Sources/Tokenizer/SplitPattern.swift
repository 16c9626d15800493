/// The pattern of a Split pre-tokenizer or Replace normalizer / decoder: `{"String": ...}` (a literal)
/// or `{"Regex": ...}` (Oniguruma syntax).
enum SplitPattern {
    case literal([UInt32])
    case regex(OnigRegex)

    static func load(_ json: JSONValue) throws -> SplitPattern {
        if let s = json["String"]?.string { return .literal(scalars(s)) }
        if let r = json["Regex"]?.string { return .regex(try OnigRegex(r)) }
        throw TokenizerError.malformed(file: "tokenizer.json", detail: "pattern is neither {String} nor {Regex}")
    }

    /// Non-overlapping matches, left to right, as scalar ranges.
    func matches(in s: [UInt32]) -> [(Int, Int)] {
        switch self {
        case let .regex(re): return re.matches(in: s)
        case let .literal(lit):
            guard !lit.isEmpty, lit.count <= s.count else { return [] }
            var out: [(Int, Int)] = []
            var i = 0
            while i + lit.count <= s.count {
                if s[i] == lit[0], s[i..<i + lit.count].elementsEqual(lit) {
                    out.append((i, i + lit.count))
                    i += lit.count
                } else {
                    i += 1
                }
            }
            return out
        }
    }
}
