/// HF pre-tokenizers: split normalized text into pieces the model encodes independently.
indirect enum PreTokenizer {
    enum Behavior: String {
        case removed = "Removed", isolated = "Isolated", mergedWithPrevious = "MergedWithPrevious"
        case mergedWithNext = "MergedWithNext", contiguous = "Contiguous"
    }

    case sequence([PreTokenizer])
    case split(SplitPattern, Behavior, invert: Bool)
    case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
    case digits(individual: Bool)

    /// GPT-2's pattern, used by ByteLevel with use_regex.
    static let gpt2Pattern = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

    static func load(_ json: JSONValue) throws -> PreTokenizer? {
        if json.isNull { return nil }
        guard let type = json["type"]?.string else { throw TokenizerError.malformed(file: "tokenizer.json", detail: "pre_tokenizer without type") }
        switch type {
        case "Sequence":
            return .sequence(try (json["pretokenizers"]?.array ?? []).compactMap { try load($0) })
        case "Split":
            guard let pattern = json["pattern"] else { throw TokenizerError.malformed(file: "tokenizer.json", detail: "Split without pattern") }
            let name = json["behavior"]?.string ?? ""
            guard let behavior = Behavior(rawValue: name) else {
                throw TokenizerError.unsupported(component: "Split behavior \(name)", detail: "supported: Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous")
            }
            return .split(try SplitPattern.load(pattern), behavior, invert: json["invert"]?.bool ?? false)
        case "ByteLevel":
            return .byteLevel(addPrefixSpace: json["add_prefix_space"]?.bool ?? true, useRegex: json["use_regex"]?.bool ?? true)
        case "Digits":
            return .digits(individual: json["individual_digits"]?.bool ?? false)
        default:
            throw TokenizerError.unsupported(component: "pre-tokenizer \(type)", detail: "supported: Sequence, Split, ByteLevel, Digits")
        }
    }

    /// Pieces → finer pieces (empty pieces dropped).
    func split(_ pieces: [[UInt32]], gpt2: OnigRegex) -> [[UInt32]] {
        switch self {
        case let .sequence(list):
            return list.reduce(pieces) { $1.split($0, gpt2: gpt2) }
        case let .split(pattern, behavior, invert):
            return pieces.flatMap { piece in
                let marked = PreTokenizer.mark(piece, pattern.matches(in: piece)).map { ($0.0, $0.1 != invert) }
                return PreTokenizer.apply(behavior, marked).map { Array(piece[$0]) }
            }
        case let .byteLevel(addPrefixSpace, useRegex):
            return pieces.flatMap { piece -> [[UInt32]] in
                var p = piece
                if addPrefixSpace, p.first != 0x20 { p.insert(0x20, at: 0) }
                guard useRegex else { return [ByteLevelAlphabet.encode(p)] }
                let marked = PreTokenizer.mark(p, gpt2.matches(in: p))
                return PreTokenizer.apply(.isolated, marked).map { ByteLevelAlphabet.encode(Array(p[$0])) }
            }
        case let .digits(individual):
            return pieces.flatMap { piece -> [[UInt32]] in
                // Every numeric scalar (Rust char::is_numeric: Nd, Nl, No) is one match.
                var marked: [(Range<Int>, Bool)] = []
                var last = 0
                for (i, c) in piece.enumerated() where PreTokenizer.isNumeric(c) {
                    if last < i { marked.append((last..<i, false)) }
                    marked.append((i..<i + 1, true))
                    last = i + 1
                }
                if last < piece.count { marked.append((last..<piece.count, false)) }
                return PreTokenizer.apply(individual ? .isolated : .contiguous, marked).map { Array(piece[$0]) }
            }
        }
    }

    static func isNumeric(_ c: UInt32) -> Bool {
        guard let s = Unicode.Scalar(c) else { return false }
        switch s.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    /// Matches → ranges covering the whole piece, each flagged as match or not (HF `find_matches`).
    static func mark(_ piece: [UInt32], _ matches: [(Int, Int)]) -> [(Range<Int>, Bool)] {
        if piece.isEmpty { return [(0..<0, false)] }
        var out: [(Range<Int>, Bool)] = []
        var prev = 0
        for (s, e) in matches {
            if prev != s { out.append((prev..<s, false)) }
            out.append((s..<e, true))
            prev = e
        }
        if prev != piece.count { out.append((prev..<piece.count, false)) }
        return out
    }

    /// HF `SplitDelimiterBehavior`, then empty pieces dropped.
    static func apply(_ behavior: Behavior, _ marked: [(Range<Int>, Bool)]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        switch behavior {
        case .isolated:
            out = marked.map(\.0)
        case .removed:
            out = marked.filter { !$0.1 }.map(\.0)
        case .mergedWithPrevious:
            var previousMatch = false
            for (r, isMatch) in marked {
                if isMatch, !previousMatch, let last = out.last {
                    out[out.count - 1] = last.lowerBound..<r.upperBound
                } else {
                    out.append(r)
                }
                previousMatch = isMatch
            }
        case .mergedWithNext:
            var previousMatch = false
            var reversed: [Range<Int>] = []
            for (r, isMatch) in marked.reversed() {
                if isMatch, !previousMatch, let last = reversed.last {
                    reversed[reversed.count - 1] = r.lowerBound..<last.upperBound
                } else {
                    reversed.append(r)
                }
                previousMatch = isMatch
            }
            out = reversed.reversed()
        case .contiguous:
            var previousMatch = false
            for (r, isMatch) in marked {
                if isMatch == previousMatch, let last = out.last {
                    out[out.count - 1] = last.lowerBound..<r.upperBound
                } else {
                    out.append(r)
                }
                previousMatch = isMatch
            }
        }
        return out.filter { !$0.isEmpty }
    }
}
