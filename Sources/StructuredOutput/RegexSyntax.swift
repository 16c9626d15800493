/// Why a regular expression cannot be served: where in the pattern (in characters) and why.
public struct RegexError: Error, CustomStringConvertible, Equatable, Sendable {
    public let position: Int?      // nil: the pattern as a whole (its size, or what it matches)
    public let reason: String

    public var description: String { position.map { "\(reason) at position \($0)" } ?? reason }
}

/// A set of Unicode scalar values as sorted, disjoint, non-adjacent closed ranges (surrogates never in it:
/// UTF-8 cannot write them).
struct ScalarSet: Equatable, Sendable {
    private(set) var ranges: [ClosedRange<UInt32>] = []

    static let maxScalar: UInt32 = 0x10FFFF
    static let surrogates: ClosedRange<UInt32> = 0xD800...0xDFFF

    init() {}
    init(_ ranges: [ClosedRange<UInt32>]) { for r in ranges { insert(r) } }
    init(scalar: UInt32) { insert(scalar...scalar) }

    var isEmpty: Bool { ranges.isEmpty }

    mutating func insert(_ range: ClosedRange<UInt32>) {
        var pieces: [ClosedRange<UInt32>] = []
        if range.lowerBound < Self.surrogates.lowerBound { pieces.append(range.lowerBound...min(range.upperBound, Self.surrogates.lowerBound - 1)) }
        if range.upperBound > Self.surrogates.upperBound { pieces.append(max(range.lowerBound, Self.surrogates.upperBound + 1)...range.upperBound) }
        for p in pieces {
            var all = ranges + [p]
            all.sort { $0.lowerBound < $1.lowerBound }
            var merged: [ClosedRange<UInt32>] = []
            for r in all {
                if let last = merged.last, r.lowerBound <= last.upperBound &+ 1 {
                    merged[merged.count - 1] = last.lowerBound...max(last.upperBound, r.upperBound)
                } else {
                    merged.append(r)
                }
            }
            ranges = merged
        }
    }

    mutating func formUnion(_ other: ScalarSet) { for r in other.ranges { insert(r) } }

    /// Every scalar value not in the set.
    var inverted: ScalarSet {
        var out = ScalarSet()
        var next: UInt32 = 0
        for r in ranges {
            if r.lowerBound > next { out.insert(next...(r.lowerBound - 1)) }
            next = r.upperBound + 1
        }
        if next <= Self.maxScalar { out.insert(next...Self.maxScalar) }
        return out
    }

    // Python's ASCII classes (re.ASCII): \d, \w, \s.
    static let digit = ScalarSet([0x30...0x39])
    static let word = ScalarSet([0x30...0x39, 0x41...0x5A, 0x5F...0x5F, 0x61...0x7A])
    static let space = ScalarSet([0x09...0x0D, 0x20...0x20])
    /// `.`: any character but a newline.
    static let dot = ScalarSet([0x0A...0x0A]).inverted
}

/// A regular expression's structure: what the automaton is built from.
indirect enum RegexNode: Equatable, Sendable {
    case scalars(ScalarSet)                      // one character of the set
    case sequence([RegexNode])                   // each in turn (empty: the empty text)
    case alternatives([RegexNode])               // any one
    case repeated(RegexNode, min: Int, max: Int?) // min...max times (nil: unbounded)
}

/// Python `re` syntax (the language vLLM's `structured_outputs.regex` is written in), matched against the
/// whole output as `re.fullmatch(pattern, text, re.ASCII)` does: literals and escapes (\n \t \xhh \uhhhh
/// \Uhhhhhhhh, escaped punctuation), `.` (not a newline), classes `[...]` / `[^...]` with ranges and \d \w
/// \s \D \W \S (ASCII, as outlines and xgrammar read them), groups `(...)` `(?:...)` `(?P<name>...)`,
/// `|`, `*` `+` `?` `{n}` `{n,}` `{,m}` `{n,m}` (lazy forms alike: the same texts match whole), and `^` /
/// `\A` first, `$` / `\Z` last. Refused by name: backreferences, lookaround, word boundaries, inline flags,
/// conditionals, possessive and atomic forms — what a finite automaton cannot hold or the whole-text
/// match would change.
struct RegexParser {
    private let scalars: [UInt32]
    private var i = 0
    private var groups = 0

    static let maxRepeat = 1000
    static let maxGroupDepth = 100

    static func parse(_ pattern: String) throws(RegexError) -> RegexNode {
        var p = RegexParser(scalars: pattern.unicodeScalars.map(\.value))
        return try p.whole()
    }

    private init(scalars: [UInt32]) { self.scalars = scalars }

    private func fail(_ reason: String, at position: Int? = nil) -> RegexError { RegexError(position: position ?? i, reason: reason) }
    private var atEnd: Bool { i >= scalars.count }
    private func peek(_ offset: Int = 0) -> UInt32? { i + offset < scalars.count ? scalars[i + offset] : nil }
    private func isChar(_ c: Character, at offset: Int = 0) -> Bool { peek(offset) == c.unicodeScalars.first!.value }

    private mutating func whole() throws(RegexError) -> RegexNode {
        // A leading ^ / \A and a trailing $ / \Z match where a whole-text match starts and ends anyway.
        if isChar("^") { i += 1 } else if isChar("\\") && isChar("A", at: 1) { i += 2 }
        let node = try alternation(depth: 0)
        if !atEnd { throw fail(isChar(")") ? "unbalanced parenthesis" : "unexpected character") }
        return node
    }

    /// Whether the pattern ends here with $ or \Z (only there are they served).
    private func atFinalAnchor() -> Bool {
        (isChar("$") && i + 1 == scalars.count) || (isChar("\\") && isChar("Z", at: 1) && i + 2 == scalars.count)
    }

    private mutating func alternation(depth: Int) throws(RegexError) -> RegexNode {
        var options = [try sequence(depth: depth)]
        while isChar("|") {
            i += 1
            options.append(try sequence(depth: depth))
        }
        return options.count == 1 ? options[0] : .alternatives(options)
    }

    private mutating func sequence(depth: Int) throws(RegexError) -> RegexNode {
        var items: [RegexNode] = []
        while !atEnd && !isChar("|") && !isChar(")") {
            if atFinalAnchor() { i = scalars.count; break }
            let start = i
            var atom = try self.atom(depth: depth)
            var quantified = false
            while let (lower, upper) = try quantifier() {
                if quantified { throw fail("multiple repeat", at: start) }
                quantified = true
                atom = .repeated(atom, min: lower, max: upper)
                if isChar("?") { i += 1 }                      // lazy: the same whole-text matches
                else if isChar("+") { throw fail("possessive repeats are not supported") }
            }
            items.append(atom)
        }
        return items.count == 1 ? items[0] : .sequence(items)
    }

    /// `*`, `+`, `?` or a `{...}` repeat here (consumed), or nil; a `{` that is not a repeat is a literal.
    private mutating func quantifier() throws(RegexError) -> (Int, Int?)? {
        guard let c = peek() else { return nil }
        switch c {
        case 0x2A: i += 1; return (0, nil)
        case 0x2B: i += 1; return (1, nil)
        case 0x3F: i += 1; return (0, 1)
        case 0x7B:
            var j = i + 1
            func number(_ j: inout Int) -> Int? {
                var n: Int?
                while j < scalars.count, (0x30...0x39).contains(scalars[j]) {
                    n = min((n ?? 0) * 10 + Int(scalars[j] - 0x30), Int(Int32.max))
                    j += 1
                }
                return n
            }
            let low = number(&j)
            var high = low
            if j < scalars.count && scalars[j] == 0x2C {
                j += 1
                high = number(&j)
                guard low != nil || high != nil || (j < scalars.count && scalars[j] == 0x7D) else { return nil }
            } else if low == nil {
                return nil
            }
            guard j < scalars.count && scalars[j] == 0x7D else { return nil }
            let lower = low ?? 0
            if let high, high < lower { throw fail("min repeat greater than max repeat", at: i + 1) }
            if lower > Self.maxRepeat || (high ?? 0) > Self.maxRepeat {
                throw fail("a repeat count above \(Self.maxRepeat) is not supported", at: i + 1)
            }
            i = j + 1
            return (lower, high)
        default: return nil
        }
    }

    private mutating func atom(depth: Int) throws(RegexError) -> RegexNode {
        let start = i
        let c = scalars[i]
        switch c {
        case 0x28: return try group(depth: depth)
        case 0x2A, 0x2B, 0x3F: throw fail("nothing to repeat")
        case 0x7B where (try? lookaheadIsRepeat()) == true: throw fail("nothing to repeat")
        case 0x2E: i += 1; return .scalars(.dot)
        case 0x5B: return .scalars(try characterClass())
        case 0x5E: throw fail("^ is only served at the start of the pattern")
        case 0x24: throw fail("$ is only served at the end of the pattern")
        case 0x5C:
            i += 1
            guard let set = try escape(inClass: false) else { throw fail("bad escape", at: start) }
            return .scalars(set)
        default:
            i += 1
            return .scalars(ScalarSet(scalar: c))
        }
    }

    private mutating func lookaheadIsRepeat() throws(RegexError) -> Bool {
        let saved = i
        defer { i = saved }
        return try quantifier() != nil
    }

    private mutating func group(depth: Int) throws(RegexError) -> RegexNode {
        let start = i
        guard depth < Self.maxGroupDepth else { throw fail("groups nested more than \(Self.maxGroupDepth) deep are not supported") }
        i += 1
        if isChar("?") {
            if isChar(":", at: 1) {
                i += 2
            } else if isChar("P", at: 1) && isChar("<", at: 2) {
                i += 3
                let nameStart = i
                while let c = peek(), c != 0x3E { guard c == 0x5F || ScalarSet.word.contains(c) || c > 0x7F else { throw fail("bad character in group name") }; i += 1 }
                guard !atEnd, i > nameStart else { throw fail("missing group name", at: nameStart) }
                i += 1
            } else if isChar("P", at: 1) && isChar("=", at: 2) {
                throw fail("backreferences are not supported", at: start)
            } else if isChar("=", at: 1) || isChar("!", at: 1) || (isChar("<", at: 1) && (isChar("=", at: 2) || isChar("!", at: 2))) {
                throw fail("lookaround is not supported", at: start)
            } else if isChar(">", at: 1) {
                throw fail("atomic groups are not supported", at: start)
            } else if isChar("(", at: 1) {
                throw fail("conditional groups are not supported", at: start)
            } else if isChar("#", at: 1) {
                throw fail("comments are not supported", at: start)
            } else {
                throw fail("inline flags are not supported", at: start)
            }
        }
        groups += 1
        let inner = try alternation(depth: depth + 1)
        guard isChar(")") else { throw fail("missing ), unterminated subpattern", at: start) }
        i += 1
        return inner
    }

    /// After a backslash: the scalars it stands for (nil: an unknown escape). In a class, \b is a backspace.
    private mutating func escape(inClass: Bool) throws(RegexError) -> ScalarSet? {
        let start = i - 1
        guard let c = peek() else { throw fail("bad escape (end of pattern)", at: start) }
        i += 1
        switch c {
        case 0x64: return .digit                                // \d
        case 0x44: return ScalarSet.digit.inverted              // \D
        case 0x77: return .word                                 // \w
        case 0x57: return ScalarSet.word.inverted               // \W
        case 0x73: return .space                                // \s
        case 0x53: return ScalarSet.space.inverted              // \S
        case 0x6E: return ScalarSet(scalar: 0x0A)               // \n
        case 0x74: return ScalarSet(scalar: 0x09)               // \t
        case 0x72: return ScalarSet(scalar: 0x0D)               // \r
        case 0x66: return ScalarSet(scalar: 0x0C)               // \f
        case 0x76: return ScalarSet(scalar: 0x0B)               // \v
        case 0x61: return ScalarSet(scalar: 0x07)               // \a
        case 0x62:
            if inClass { return ScalarSet(scalar: 0x08) }
            throw fail("word boundaries (\\b) are not supported", at: start)
        case 0x42: throw fail("word boundaries (\\B) are not supported", at: start)
        case 0x41, 0x5A: throw fail("\\A and \\Z are only served at the start and end of the pattern", at: start)
        case 0x78: return ScalarSet(scalar: try hex(digits: 2, start: start))
        case 0x75: return ScalarSet(scalar: try hex(digits: 4, start: start))
        case 0x55: return ScalarSet(scalar: try hex(digits: 8, start: start))
        case 0x30:                                              // \0, \0o, \0oo: octal
            var value: UInt32 = 0
            for _ in 0..<2 { guard let d = peek(), (0x30...0x37).contains(d) else { break }; value = value * 8 + d - 0x30; i += 1 }
            return ScalarSet(scalar: value)
        case 0x31...0x39:
            if inClass { throw fail("bad escape", at: start) }
            throw fail("backreferences are not supported", at: start)
        case 0x4E: throw fail("named characters (\\N{...}) are not supported", at: start)
        default:
            // Python refuses an escaped ASCII letter or digit it does not know; any other character stands for itself.
            if (0x41...0x5A).contains(c) || (0x61...0x7A).contains(c) { return nil }
            return ScalarSet(scalar: c)
        }
    }

    private mutating func hex(digits: Int, start: Int) throws(RegexError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<digits {
            guard let d = peek(), let v = Self.hexValue(d) else { throw fail("incomplete escape", at: start) }
            value = value * 16 + v
            i += 1
        }
        guard value <= ScalarSet.maxScalar else { throw fail("bad escape (beyond U+10FFFF)", at: start) }
        return value
    }

    private static func hexValue(_ c: UInt32) -> UInt32? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x41...0x46: return c - 0x41 + 10
        case 0x61...0x66: return c - 0x61 + 10
        default: return nil
        }
    }

    /// `[...]` from its `[`: the set it matches (negated for `[^...]`).
    private mutating func characterClass() throws(RegexError) -> ScalarSet {
        let start = i
        i += 1
        let negated = isChar("^")
        if negated { i += 1 }
        var set = ScalarSet()
        var first = true
        while true {
            guard let c = peek() else { throw fail("unterminated character set", at: start) }
            if c == 0x5D && !first { i += 1; break }
            first = false
            let itemStart = i
            // One item: a character (maybe the start of a range) or a class escape.
            var low: UInt32
            if c == 0x5C {
                i += 1
                guard let escaped = try escape(inClass: true) else { throw fail("bad escape", at: itemStart) }
                if escaped.ranges.count != 1 || escaped.ranges[0].count != 1 {
                    if isChar("-") && peek(1) != nil && !isChar("]", at: 1) { throw fail("bad character range", at: itemStart) }
                    set.formUnion(escaped)
                    continue
                }
                low = escaped.ranges[0].lowerBound
            } else {
                i += 1
                low = c
            }
            if isChar("-") && peek(1) != nil && !isChar("]", at: 1) {
                i += 1
                var high: UInt32
                if isChar("\\") {
                    i += 1
                    guard let escaped = try escape(inClass: true), escaped.ranges.count == 1, escaped.ranges[0].count == 1 else {
                        throw fail("bad character range", at: itemStart)
                    }
                    high = escaped.ranges[0].lowerBound
                } else {
                    high = scalars[i]
                    i += 1
                }
                guard low <= high else { throw fail("bad character range", at: itemStart) }
                set.insert(low...high)
            } else {
                set.insert(low...low)
            }
        }
        return negated ? set.inverted : set
    }
}

extension ScalarSet {
    func contains(_ c: UInt32) -> Bool { ranges.contains { $0.contains(c) } }
}
