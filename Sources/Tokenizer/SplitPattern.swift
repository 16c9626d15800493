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
        s.withUnsafeBufferPointer { matches(in: $0) }
    }

    func matches(in s: UnsafeBufferPointer<UInt32>) -> [(Int, Int)] {
        var out: [(Int, Int)] = []
        var scratch = OnigRegex.Scratch()
        matches(in: s, into: &out, scratch: &scratch)
        return out
    }

    func matches(in s: UnsafeBufferPointer<UInt32>, into out: inout [(Int, Int)], scratch: inout OnigRegex.Scratch) {
        switch self {
        case let .regex(re): re.matches(in: s, into: &out, scratch: &scratch)
        case let .literal(lit):
            guard !lit.isEmpty, lit.count <= s.count else { return }
            var i = 0
            while i + lit.count <= s.count {
                if s[i] == lit[0], s[i..<i + lit.count].elementsEqual(lit) {  // scalars compared one by one
                    out.append((i, i + lit.count))
                    i += lit.count
                } else {
                    i += 1
                }
            }
        }
    }
}
