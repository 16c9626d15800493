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
    /// Compiled once per process and shared by every tokenizer (matching only reads it).
    static let gpt2Regex = try! OnigRegex(gpt2Pattern)

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
    func split(_ pieces: PieceList, gpt2: OnigRegex) -> PieceList {
        switch self {
        case let .sequence(list):
            return list.reduce(pieces) { $1.split($0, gpt2: gpt2) }
        case let .split(pattern, .isolated, _):
            // Isolated keeps every match and every gap, so invert does not matter.
            return PreTokenizer.isolate(pieces, pattern)
        case let .split(pattern, behavior, invert):
            return pieces.refined { piece in
                let marked = PreTokenizer.mark(piece.count, pattern.matches(in: piece)).map { ($0.0, $0.1 != invert) }
                return PreTokenizer.apply(behavior, marked)
            }
        case let .byteLevel(addPrefixSpace, useRegex):
            var prefixed = pieces
            if addPrefixSpace { prefixed = pieces.prefixingSpaces() }
            if useRegex { prefixed = PreTokenizer.isolate(prefixed, .regex(gpt2)) }
            return prefixed.byteLevelEncoded()
        case let .digits(individual):
            return pieces.refined { piece in
                // Every numeric scalar (Rust char::is_numeric: Nd, Nl, No) is one match.
                var marked: [(Range<Int>, Bool)] = []
                var last = 0
                for i in 0..<piece.count where PreTokenizer.isNumeric(piece[i]) {
                    if last < i { marked.append((last..<i, false)) }
                    marked.append((i..<i + 1, true))
                    last = i + 1
                }
                if last < piece.count { marked.append((last..<piece.count, false)) }
                return PreTokenizer.apply(individual ? .isolated : .contiguous, marked)
            }
        }
    }

    /// Split with the Isolated behaviour: matches and the gaps between them, empty ones dropped.
    static func isolate(_ pieces: PieceList, _ pattern: SplitPattern) -> PieceList {
        var out: [Range<Int>] = []
        out.reserveCapacity(pieces.ranges.count * 2)
        var found: [(Int, Int)] = []
        var scratch = OnigRegex.Scratch()
        pieces.storage.withUnsafeBufferPointer { buf in
            for r in pieces.ranges {
                found.removeAll(keepingCapacity: true)
                pattern.matches(in: UnsafeBufferPointer(rebasing: buf[r]), into: &found, scratch: &scratch)
                let base = r.lowerBound
                var prev = 0
                for (s, e) in found {
                    if prev < s { out.append(base + prev..<base + s) }
                    if s < e { out.append(base + s..<base + e) }
                    prev = e
                }
                if prev < r.count { out.append(base + prev..<r.upperBound) }
            }
        }
        return PieceList(storage: pieces.storage, ranges: out)
    }

    static func isNumeric(_ c: UInt32) -> Bool {
        guard let s = Unicode.Scalar(c) else { return false }
        switch s.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    /// Matches → ranges covering the whole piece, each flagged as match or not (HF `find_matches`).
    static func mark(_ count: Int, _ matches: [(Int, Int)]) -> [(Range<Int>, Bool)] {
        if count == 0 { return [(0..<0, false)] }
        var out: [(Range<Int>, Bool)] = []
        var prev = 0
        for (s, e) in matches {
            if prev != s { out.append((prev..<s, false)) }
            out.append((s..<e, true))
            prev = e
        }
        if prev != count { out.append((prev..<count, false)) }
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

/// Pre-tokenized pieces: ranges over one scalar buffer, so splitting never copies text.
struct PieceList {
    var storage: [UInt32]
    var ranges: [Range<Int>]

    init(_ text: [UInt32]) {
        storage = text
        ranges = text.isEmpty ? [] : [0..<text.count]
    }

    init(storage: [UInt32], ranges: [Range<Int>]) {
        self.storage = storage
        self.ranges = ranges
    }

    /// Each piece → sub-ranges (relative to the piece), computed over the piece's scalars.
    func refined(_ split: (UnsafeBufferPointer<UInt32>) -> [Range<Int>]) -> PieceList {
        var out: [Range<Int>] = []
        out.reserveCapacity(ranges.count * 2)
        storage.withUnsafeBufferPointer { buf in
            for r in ranges {
                let piece = UnsafeBufferPointer(rebasing: buf[r])
                for sub in split(piece) { out.append((sub.lowerBound + r.lowerBound)..<(sub.upperBound + r.lowerBound)) }
            }
        }
        return PieceList(storage: storage, ranges: out)
    }

    /// HF ByteLevel's add_prefix_space: a space before every piece that does not start with one.
    func prefixingSpaces() -> PieceList {
        var s: [UInt32] = []
        var out: [Range<Int>] = []
        for r in ranges {
            let start = s.count
            if storage[r.lowerBound] != 0x20 { s.append(0x20) }
            s += storage[r]
            out.append(start..<s.count)
        }
        return PieceList(storage: s, ranges: out)
    }

    /// Every piece as the byte-level alphabet spelling of its UTF-8.
    func byteLevelEncoded() -> PieceList {
        var s: [UInt32] = []
        s.reserveCapacity(storage.count * 2)
        var out: [Range<Int>] = []
        out.reserveCapacity(ranges.count)
        for r in ranges {
            let start = s.count
            ByteLevelAlphabet.encode(storage[r], into: &s)
            out.append(start..<s.count)
        }
        return PieceList(storage: s, ranges: out)
    }
}
