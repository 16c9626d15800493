/// A GBNF grammar that cannot be served, with where in its text: `line L column C: reason` (1-based, in
/// Unicode scalars), or the reason alone when it is about the whole grammar.
public struct GrammarError: Error, CustomStringConvertible, Equatable, Sendable {
    public let line: Int?
    public let column: Int?
    public let reason: String

    public var description: String {
        if let line, let column { return "line \(line) column \(column): \(reason)" }
        return reason
    }
}

/// A set of code points: the listed ranges, or (negated) every code point outside them. `.` is the
/// negated empty set. The ranges are kept sorted and merged (none overlapping or touching), so a test is
/// a binary search however many a class lists.
struct CodePointClass: Hashable, Sendable {
    let ranges: [ClosedRange<UInt32>]
    let negated: Bool

    init(ranges: [ClosedRange<UInt32>], negated: Bool) {
        var merged: [ClosedRange<UInt32>] = []
        for r in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = merged.last, r.lowerBound <= last.upperBound &+ 1 {
                merged[merged.count - 1] = last.lowerBound...max(last.upperBound, r.upperBound)
            } else {
                merged.append(r)
            }
        }
        self.ranges = merged
        self.negated = negated
    }

    static func single(_ c: UInt32) -> CodePointClass { CodePointClass(ranges: [c...c], negated: false) }

    /// The first range whose upper bound is ≥ c, or nil.
    private func firstRange(reaching c: UInt32) -> ClosedRange<UInt32>? {
        var low = 0, high = ranges.count
        while low < high {
            let mid = (low + high) / 2
            if ranges[mid].upperBound < c { low = mid + 1 } else { high = mid }
        }
        return low < ranges.count ? ranges[low] : nil
    }

    func contains(_ c: UInt32) -> Bool {
        let inside = firstRange(reaching: c).map { $0.lowerBound <= c } ?? false
        return inside != negated
    }

    /// Some code point of `low...high` is in the class.
    func intersects(_ low: UInt32, _ high: UInt32) -> Bool {
        guard let r = firstRange(reaching: low) else { return negated }
        if !negated { return r.lowerBound <= high }
        // Merged ranges: past the one holding `low` (if any) comes a code point outside every range.
        return r.lowerBound > low || r.upperBound < high
    }
}

/// One symbol of a rule's alternative: a code point class, or another rule (by index).
enum GrammarSymbol: Hashable, Sendable {
    case chars(CodePointClass)
    case rule(Int)
}

/// llama.cpp's GBNF (grammars/README.md): `name ::= alternatives` rules, one per line (a rule continues
/// over new lines inside parentheses and after `|`), `"literals"` and `[classes]` with `\x.. \u.... \U........
/// \t \r \n \\ \" \[ \] \-` escapes, `[^...]` negation, `.` any code point, `( )` groups, `|`, and the
/// repetitions `* + ? {m} {m,} {m,n}` (rewritten into rules as llama.cpp does); `#` comments; `root`
/// starts. Parsed as llama.cpp's llama_grammar_parser does, with its refusals (undefined rules, a missing
/// root, left recursion, repetitions past 2000) and, beyond them, what would take a daemon's memory or
/// stack (repetitions writing out more than 2^20 symbols in all, parentheses nested 100 deep); token
/// references (`<[id]>`, `<think>`, `!<...>`) are not served.
struct GBNFSyntax {
    /// Past this llama.cpp refuses a repetition count, or the rules a repetition writes out.
    static let maxRepetitions = 2000
    /// Symbols repetitions may write out in all (llama.cpp bounds each repetition only).
    static let maxWrittenSymbols = 1 << 20
    /// Parentheses nested deeper are refused (the parser recurses once per level).
    static let maxGroupDepth = 100

    private let text: [Unicode.Scalar]
    private var i = 0
    private(set) var rules: [[[GrammarSymbol]]?] = []   // [rule] its alternatives; nil while only referenced
    private(set) var names: [String] = []                // [rule] its name (generated ones: name_N)
    private var ids: [String: Int] = [:]
    private var written = 0

    private init(_ text: String) { self.text = Array(text.unicodeScalars) }

    /// The rules of `text` and the index of each name, or the first thing llama.cpp would refuse.
    static func parse(_ text: String) throws(GrammarError) -> (rules: [[[GrammarSymbol]]], names: [String]) {
        var p = GBNFSyntax(text)
        p.skipSpace(newlines: true)
        while p.i < p.text.count { try p.rule() }
        var rules: [[[GrammarSymbol]]] = []
        for (index, rule) in p.rules.enumerated() {
            guard let rule else { throw GrammarError(line: nil, column: nil, reason: "undefined rule '\(p.names[index])'") }
            rules.append(rule)
        }
        guard !rules.isEmpty else { throw GrammarError(line: nil, column: nil, reason: "the grammar has no rules") }
        return (rules, p.names)
    }

    private var current: Unicode.Scalar? { i < text.count ? text[i] : nil }
    private func peek(_ k: Int) -> Unicode.Scalar? { i + k < text.count ? text[i + k] : nil }

    private func fail(_ reason: String, at position: Int? = nil) -> GrammarError {
        let at = min(position ?? i, text.count)
        var line = 1, column = 1
        for s in text[..<at] {
            if s == "\n" { line += 1; column = 1 } else { column += 1 }
        }
        return GrammarError(line: line, column: column, reason: reason)
    }

    private static func isWordChar(_ s: Unicode.Scalar?) -> Bool {
        guard let s else { return false }
        return ("a"..."z").contains(s) || ("A"..."Z").contains(s) || ("0"..."9").contains(s) || s == "-"
    }

    private mutating func skipSpace(newlines: Bool) {
        while let s = current {
            if s == "#" {
                while let c = current, c != "\r", c != "\n" { i += 1 }
            } else if s == " " || s == "\t" || (newlines && (s == "\r" || s == "\n")) {
                i += 1
            } else {
                break
            }
        }
    }

    private mutating func symbolID(_ name: String) -> Int {
        if let id = ids[name] { return id }
        let id = rules.count
        ids[name] = id
        names.append(name)
        rules.append(nil)
        return id
    }

    /// A new rule for a group or a repetition of rule `base` (llama.cpp names them base_N).
    private mutating func generatedID(_ base: String) -> Int {
        let id = rules.count
        let name = "\(base)_\(id)"
        ids[name] = id
        names.append(name)
        rules.append(nil)
        return id
    }

    private mutating func name() throws(GrammarError) -> String {
        let start = i
        while Self.isWordChar(current) { i += 1 }
        guard i > start else { throw fail("expecting a rule name") }
        return String(String.UnicodeScalarView(text[start..<i]))
    }

    private mutating func rule() throws(GrammarError) {
        let name = try name()
        let id = symbolID(name)
        skipSpace(newlines: false)
        guard current == ":", peek(1) == ":", peek(2) == "=" else {
            // vLLM's other backends take Lark (`name: ...`); say so rather than only what is missing.
            throw fail(current == ":" && peek(1) != "=" && peek(1) != ":" ? "expecting ::= (a Lark rule `name: ...`? only GBNF, llama.cpp's format, is served)" : "expecting ::=")
        }
        i += 3
        skipSpace(newlines: true)
        rules[id] = try alternatives(ruleName: name, depth: 0)
        switch current {
        case "\r"?: i += peek(1) == "\n" ? 2 : 1
        case "\n"?: i += 1
        case nil: break
        default: throw fail("expecting a new line or the end after a rule")
        }
        skipSpace(newlines: true)
    }

    /// `depth`: the parentheses around; inside any, a new line does not end the rule.
    private mutating func alternatives(ruleName: String, depth: Int) throws(GrammarError) -> [[GrammarSymbol]] {
        var alternatives = [try sequence(ruleName: ruleName, depth: depth)]
        while current == "|" {
            i += 1
            skipSpace(newlines: true)
            alternatives.append(try sequence(ruleName: ruleName, depth: depth))
        }
        return alternatives
    }

    /// One escape or literal code point of a string or class.
    private mutating func char() throws(GrammarError) -> UInt32 {
        guard let s = current else { throw fail("unexpected end of the grammar") }
        guard s == "\\" else { i += 1; return s.value }
        let start = i
        guard let e = peek(1) else { throw fail("unexpected end of the grammar") }
        i += 2
        switch e {
        case "x": return try hex(2, escapeAt: start)
        case "u": return try hex(4, escapeAt: start)
        case "U": return try hex(8, escapeAt: start)
        case "t": return 9
        case "r": return 13
        case "n": return 10
        case "\\", "\"", "[", "]", "-": return e.value
        default: throw fail("unknown escape \\\(e)", at: start)
        }
    }

    private mutating func hex(_ digits: Int, escapeAt start: Int) throws(GrammarError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<digits {
            guard let s = current, s.isASCII, let d = UInt32(String(s), radix: 16) else {
                throw fail("expecting \(digits) hex digits", at: start)
            }
            value = value << 4 | d
            i += 1
        }
        return value
    }

    /// The digits at `i`: their value (nil past Int's range) and where they start.
    private mutating func number() throws(GrammarError) -> (value: Int?, start: Int) {
        let start = i
        while let s = current, ("0"..."9").contains(s) { i += 1 }
        guard i > start else { throw fail("expecting a number") }
        return (Int(String(String.UnicodeScalarView(text[start..<i]))), start)
    }

    private mutating func sequence(ruleName: String, depth: Int) throws(GrammarError) -> [GrammarSymbol] {
        let nested = depth > 0
        var symbols: [GrammarSymbol] = []
        var lastStart = 0            // where the symbols a repetition repeats begin
        var rulesRepeated = 1        // how many rules the last symbol writes out (llama.cpp's bound)

        func repeatLast(_ low: Int, _ high: Int?, at position: Int) throws(GrammarError) {
            guard lastStart < symbols.count else { throw fail("expecting something to repeat before */+/?/{", at: position) }
            let repeated = Array(symbols[lastStart...])
            let total = high.map { $0 > 0 ? $0 : max(low, 1) } ?? max(low, 1)
            guard rulesRepeated * total <= Self.maxRepetitions else {
                throw fail("the repetition writes out more than \(Self.maxRepetitions) rules", at: position)
            }
            let optional = high.map { $0 - low } ?? 1
            written += repeated.count * (max(low - 1, 0) + optional) + optional
            guard written <= Self.maxWrittenSymbols else {
                throw fail("the repetitions write out more than \(Self.maxWrittenSymbols) symbols", at: position)
            }
            // S{m,n} → S × m, then S'(n−m) where S'(x) ::= S S'(x−1) | ε …; S{m,} → S × m S' with S' ::= S S' | ε.
            if low == 0 { symbols.removeSubrange(lastStart...) } else { for _ in 1..<low { symbols += repeated } }
            var previous = -1
            for k in 0..<optional {
                let id = generatedID(ruleName)
                var body = repeated
                if high == nil { body.append(.rule(id)) } else if k > 0 { body.append(.rule(previous)) }
                rules[id] = [body, []]
                previous = id
            }
            if optional > 0 { symbols.append(.rule(previous)) }
            rulesRepeated *= total
        }

        while let s = current {
            let position = i
            switch s {
            case "\"":
                i += 1
                lastStart = symbols.count
                rulesRepeated = 1
                while current != "\"" {
                    guard current != nil else { throw fail("unterminated string", at: position) }
                    symbols.append(.chars(.single(try char())))
                }
                i += 1
            case "[":
                i += 1
                var negated = false
                if current == "^" { negated = true; i += 1 }
                var ranges: [ClosedRange<UInt32>] = []
                while current != "]" {
                    guard current != nil else { throw fail("unterminated character class", at: position) }
                    let low = try char()
                    if current == "-", let next = peek(1), next != "]" {
                        i += 1
                        let high = try char()
                        // llama.cpp keeps an inverted range, which then matches nothing.
                        if low <= high { ranges.append(low...high) }
                    } else {
                        if current == "-" && peek(1) == nil { throw fail("unterminated character class", at: position) }
                        ranges.append(low...low)
                    }
                }
                i += 1
                lastStart = symbols.count
                rulesRepeated = 1
                symbols.append(.chars(CodePointClass(ranges: ranges, negated: negated)))
            case "<", "!":
                throw fail("token references (<…>) are not served: write the text the grammar allows")
            case ".":
                i += 1
                lastStart = symbols.count
                rulesRepeated = 1
                symbols.append(.chars(CodePointClass(ranges: [], negated: true)))
            case "(":
                guard depth < Self.maxGroupDepth else { throw fail("parentheses nested more than \(Self.maxGroupDepth) deep") }
                i += 1
                skipSpace(newlines: true)
                let before = rules.count
                let id = generatedID(ruleName)
                rules[id] = try alternatives(ruleName: ruleName, depth: depth + 1)
                rulesRepeated = max(1, rules.count - before)
                lastStart = symbols.count
                symbols.append(.rule(id))
                guard current == ")" else { throw fail("expecting )") }
                i += 1
            case "*": i += 1; skipSpace(newlines: nested); try repeatLast(0, nil, at: position); continue
            case "+": i += 1; skipSpace(newlines: nested); try repeatLast(1, nil, at: position); continue
            case "?": i += 1; skipSpace(newlines: nested); try repeatLast(0, 1, at: position); continue
            case "{":
                i += 1
                skipSpace(newlines: nested)
                let (minimum, start) = try number()
                guard let low = minimum, low <= Self.maxRepetitions else {
                    throw fail("a repetition count over \(Self.maxRepetitions)", at: start)
                }
                skipSpace(newlines: nested)
                var high: Int? = low
                if current == "," {
                    i += 1
                    skipSpace(newlines: nested)
                    high = nil
                    if let d = current, ("0"..."9").contains(d) {
                        // llama.cpp reads a maximum past its bound as no maximum.
                        high = try number().value.flatMap { $0 <= Self.maxRepetitions ? $0 : nil }
                        skipSpace(newlines: nested)
                    }
                    guard current == "}" else { throw fail("expecting }") }
                } else if current != "}" {
                    throw fail("expecting , or }")
                }
                i += 1
                if let high, high < low { throw fail("a repetition {\(low),\(high)} with its maximum below its minimum", at: position) }
                skipSpace(newlines: nested)
                try repeatLast(low, high, at: position)
                continue
            default:
                guard Self.isWordChar(s) else { return symbols }
                let name = try name()
                lastStart = symbols.count
                rulesRepeated = 1
                symbols.append(.rule(symbolID(name)))
            }
            skipSpace(newlines: nested)
        }
        return symbols
    }
}
