/// Parse tree of the Oniguruma (Ruby syntax) subset the tokenizer patterns use.
indirect enum RegexNode {
    case empty
    case char(UInt32)
    case set(CharacterClass)
    case concat([RegexNode])
    case alternation([RegexNode])
    case repetition(RegexNode, min: Int, max: Int?, kind: RepetitionKind)
    case lookahead(RegexNode, negated: Bool)
    case anchor(Anchor)

    enum RepetitionKind { case greedy, lazy, possessive }

    enum Anchor {
        case lineStart      // ^ : start, or after \n
        case lineEnd        // $ : end, or before \n (Ruby syntax)
        case textStart      // \A
        case textEnd        // \z
        case textEndOrFinalNewline  // \Z
    }
}

/// Recursive-descent parser. Anything outside the subset is refused by name, never approximated.
struct RegexParser {
    private let pattern: String
    private let s: [UInt32]
    private var i = 0
    /// Groups and nested classes open around the parser now (`maxNesting`).
    private var depth = 0

    /// Parsing (and compiling, matching, freeing) recurses once per level; Oniguruma stops at 4096,
    /// real pre-tokenizer patterns nest a few levels.
    static let maxNesting = 200
    /// Oniguruma's ONIG_MAX_REPEAT_NUM: a larger `{n,m}` bound is an error there too.
    static let maxRepeat = 100_000

    init(_ pattern: String) {
        self.pattern = pattern
        s = pattern.unicodeScalars.map(\.value)
    }

    static func parse(_ pattern: String) throws -> RegexNode {
        var p = RegexParser(pattern)
        let node = try p.alternation(caseInsensitive: false)
        if p.i < p.s.count { throw p.fail("unbalanced ')'") }
        return node
    }

    private func fail(_ detail: String) -> TokenizerError {
        .badPattern(pattern: pattern, detail: "\(detail) at offset \(i)")
    }

    private func unsupported(_ construct: String) -> TokenizerError {
        .unsupported(component: "regex construct \(construct)", detail: "in pattern \(pattern.debugDescription.prefix(80))")
    }

    private func peek(_ offset: Int = 0) -> UInt32? { i + offset < s.count ? s[i + offset] : nil }
    private func isChar(_ c: Character, at offset: Int = 0) -> Bool { peek(offset) == c.unicodeScalars.first!.value }

    private mutating func alternation(caseInsensitive: Bool) throws -> RegexNode {
        var branches = [try concatenation(caseInsensitive: caseInsensitive)]
        while isChar("|") {
            i += 1
            branches.append(try concatenation(caseInsensitive: caseInsensitive))
        }
        return branches.count == 1 ? branches[0] : .alternation(branches)
    }

    private mutating func concatenation(caseInsensitive: Bool) throws -> RegexNode {
        var items: [RegexNode] = []
        while let c = peek(), c != UInt32(ascii: "|"), c != UInt32(ascii: ")") {
            // Inline option (?i) / (?-i): as in Oniguruma, the rest of the enclosing group, later
            // alternatives included, is parsed under it (`a(?i)b|c` is `a(?i:b|c)`).
            if isChar("("), isChar("?", at: 1), let flagged = try inlineOption() {
                items.append(try alternation(caseInsensitive: flagged))
                break
            }
            let atom = try self.atom(caseInsensitive: caseInsensitive)
            items.append(try quantified(atom))
        }
        if items.isEmpty { return .empty }
        return items.count == 1 ? items[0] : .concat(items)
    }

    /// Parses `(?i)` / `(?-i)` when present; returns the new case-insensitivity, nil when not an inline option.
    private mutating func inlineOption() throws -> Bool? {
        if isChar("i", at: 2), isChar(")", at: 3) { i += 4; return true }
        if isChar("-", at: 2), isChar("i", at: 3), isChar(")", at: 4) { i += 5; return false }
        return nil
    }

    private mutating func quantified(_ atom: RegexNode) throws -> RegexNode {
        var node = atom
        while let c = peek() {
            var min = 0, max: Int? = nil
            let isBrace: Bool
            switch c {
            case UInt32(ascii: "*"): min = 0; max = nil; isBrace = false; i += 1
            case UInt32(ascii: "+"): min = 1; max = nil; isBrace = false; i += 1
            case UInt32(ascii: "?"): min = 0; max = 1; isBrace = false; i += 1
            case UInt32(ascii: "{"):
                guard let bounds = try braceBounds() else { return node }  // a literal '{' (Ruby syntax)
                (min, max) = bounds
                isBrace = true
            default: return node
            }
            if case .anchor = node { throw unsupported("quantified anchor") }
            if case .lookahead = node { throw unsupported("quantified lookahead") }
            var kind = RegexNode.RepetitionKind.greedy
            if isChar("?") { kind = .lazy; i += 1 }
            else if isChar("+") {
                if isBrace { throw unsupported("'{n,m}+' (a repeat of a repeat in Ruby syntax)") }
                kind = .possessive; i += 1
            }
            if case .repetition = node { throw unsupported("nested quantifier") }
            node = .repetition(node, min: min, max: max, kind: kind)
        }
        return node
    }

    /// `{n}`, `{n,}`, `{n,m}`, `{,m}`; nil (and no input consumed) when the brace is not a quantifier.
    private mutating func braceBounds() throws -> (Int, Int?)? {
        var j = i + 1
        func number() throws -> Int? {
            var v: Int? = nil
            while j < s.count, s[j] >= 0x30, s[j] <= 0x39 {
                v = (v ?? 0) * 10 + Int(s[j] - 0x30)
                j += 1
                if v! > RegexParser.maxRepeat { throw fail("too big number for repeat range (over \(RegexParser.maxRepeat))") }
            }
            return v
        }
        let lo = try number()
        var hi: Int?
        if j < s.count, s[j] == UInt32(ascii: ",") {
            j += 1
            hi = try number()
            guard lo != nil || hi != nil else { return nil }
        } else {
            guard let lo else { return nil }
            hi = lo
        }
        guard j < s.count, s[j] == UInt32(ascii: "}") else { return nil }
        if let lo, let hi, hi < lo { return nil }
        i = j + 1
        return (lo ?? 0, hi)
    }

    private mutating func atom(caseInsensitive ci: Bool) throws -> RegexNode {
        let c = s[i]
        switch c {
        case UInt32(ascii: "("): return try group(caseInsensitive: ci)
        case UInt32(ascii: "["):
            i += 1
            var cls = try characterClass()
            if ci && !cls.intersections.isEmpty { throw unsupported("class intersection && under (?i)") }
            cls.caseInsensitive = ci
            return .set(cls)
        case UInt32(ascii: "."):
            i += 1
            return .set(CharacterClass(items: [.range(0x0A, 0x0A)], negated: true))
        case UInt32(ascii: "^"): i += 1; return .anchor(.lineStart)
        case UInt32(ascii: "$"): i += 1; return .anchor(.lineEnd)
        case UInt32(ascii: "\\"):
            i += 1
            guard let e = peek() else { throw fail("trailing backslash") }
            switch e {
            case UInt32(ascii: "A"): i += 1; return .anchor(.textStart)
            case UInt32(ascii: "z"): i += 1; return .anchor(.textEnd)
            case UInt32(ascii: "Z"): i += 1; return .anchor(.textEndOrFinalNewline)
            case UInt32(ascii: "b"), UInt32(ascii: "B"): throw unsupported("word boundary \\b/\\B")
            case UInt32(ascii: "G"): throw unsupported("\\G")
            case UInt32(ascii: "K"): throw unsupported("\\K")
            case UInt32(ascii: "R"), UInt32(ascii: "X"): throw unsupported("\\R/\\X")
            case 0x31...0x39, UInt32(ascii: "k"), UInt32(ascii: "g"): throw unsupported("backreference / subexp call")
            default: break
            }
            let item = try escape(inClass: false)
            return literalOrSet(item, caseInsensitive: ci)
        case UInt32(ascii: "*"), UInt32(ascii: "+"), UInt32(ascii: "?"):
            throw fail("quantifier without a target")
        default:
            i += 1
            return literalOrSet(.range(c, c), caseInsensitive: ci)
        }
    }

    private func literalOrSet(_ item: CharacterClass.Item, caseInsensitive: Bool) -> RegexNode {
        if case let .range(lo, hi) = item, lo == hi {
            guard caseInsensitive, let scalar = Unicode.Scalar(lo) else { return .char(lo) }
            let variants = Set([lo] + CharacterClass.simpleCaseVariants(scalar))
            if variants.count == 1 { return .char(lo) }
            return .set(CharacterClass(items: variants.sorted().map { .range($0, $0) }))
        }
        return .set(CharacterClass(items: [item], caseInsensitive: caseInsensitive))
    }

    private mutating func enterNested() throws {
        depth += 1
        guard depth <= RegexParser.maxNesting else { throw fail("nested more than \(RegexParser.maxNesting) levels deep") }
    }

    private mutating func group(caseInsensitive ci: Bool) throws -> RegexNode {
        try enterNested()
        defer { depth -= 1 }
        i += 1  // (
        var inner: RegexNode
        if isChar("?") {
            i += 1
            guard let k = peek() else { throw fail("unterminated group") }
            switch k {
            case UInt32(ascii: ":"): i += 1; inner = try alternation(caseInsensitive: ci)
            case UInt32(ascii: "="), UInt32(ascii: "!"):
                i += 1
                inner = .lookahead(try alternation(caseInsensitive: ci), negated: k == UInt32(ascii: "!"))
            case UInt32(ascii: "i"), UInt32(ascii: "-"):
                // (?i:...) / (?-i:...)
                let on = k == UInt32(ascii: "i")
                i += on ? 1 : 2
                if !on, !(s[i - 1] == UInt32(ascii: "i")) { throw unsupported("option group other than i") }
                guard isChar(":") else { throw unsupported("option group other than (?i:...) / (?-i:...)") }
                i += 1
                inner = try alternation(caseInsensitive: on)
            case UInt32(ascii: "<"):
                if isChar("=", at: 1) || isChar("!", at: 1) { throw unsupported("lookbehind (?<= / (?<!") }
                // Named group: the name does not matter, there are no captures.
                while let c = peek(), c != UInt32(ascii: ">") { i += 1 }
                i += 1
                inner = try alternation(caseInsensitive: ci)
            case UInt32(ascii: ">"): throw unsupported("atomic group (?>...)")
            case UInt32(ascii: "#"): throw unsupported("comment group (?#...)")
            default: throw unsupported("group (?\(Character(Unicode.Scalar(k) ?? "?"))")
            }
        } else {
            inner = try alternation(caseInsensitive: ci)  // capturing group: no captures are needed
        }
        guard isChar(")") else { throw fail("missing ')'") }
        i += 1
        return inner
    }

    /// An escape after the backslash; as a class item (a single char is a one-scalar range).
    private mutating func escape(inClass: Bool) throws -> CharacterClass.Item {
        let e = s[i]
        i += 1
        switch e {
        case UInt32(ascii: "s"): return .whitespace(negated: false)
        case UInt32(ascii: "S"): return .whitespace(negated: true)
        case UInt32(ascii: "d"): return .decimalDigit(negated: false)
        case UInt32(ascii: "D"): return .decimalDigit(negated: true)
        case UInt32(ascii: "w"): return .word(negated: false)
        case UInt32(ascii: "W"): return .word(negated: true)
        case UInt32(ascii: "h"): return .hexDigit(negated: false)
        case UInt32(ascii: "H"): return .hexDigit(negated: true)
        case UInt32(ascii: "p"), UInt32(ascii: "P"):
            guard isChar("{") else { throw fail("\\p without {") }
            i += 1
            var negated = e == UInt32(ascii: "P")
            if isChar("^") { negated.toggle(); i += 1 }
            var name = ""
            while let c = peek(), c != UInt32(ascii: "}") { name.unicodeScalars.append(Unicode.Scalar(c)!); i += 1 }
            guard isChar("}") else { throw fail("unterminated \\p{") }
            i += 1
            if name == "Han" || name == "Hani" { return .han(negated: negated) }
            let mask = CharacterClass.categoryMask(name)
            guard mask != 0 else { throw unsupported("property \\p{\(name)} (only general categories and Han)") }
            return .categories(mask, negated: negated)
        case UInt32(ascii: "n"): return .range(0x0A, 0x0A)
        case UInt32(ascii: "r"): return .range(0x0D, 0x0D)
        case UInt32(ascii: "t"): return .range(0x09, 0x09)
        case UInt32(ascii: "f"): return .range(0x0C, 0x0C)
        case UInt32(ascii: "v"): return .range(0x0B, 0x0B)
        case UInt32(ascii: "a"): return .range(0x07, 0x07)
        case UInt32(ascii: "e"): return .range(0x1B, 0x1B)
        case UInt32(ascii: "0"): return .range(0, 0)
        case UInt32(ascii: "x"):
            var digits = ""
            if isChar("{") {
                i += 1
                while let c = peek(), c != UInt32(ascii: "}") { digits.unicodeScalars.append(Unicode.Scalar(c)!); i += 1 }
                i += 1
            } else {
                for _ in 0..<2 where peek().map({ Unicode.Scalar($0)!.properties.isASCIIHexDigit }) == true {
                    digits.unicodeScalars.append(Unicode.Scalar(s[i])!); i += 1
                }
            }
            guard let v = UInt32(digits, radix: 16) else { throw fail("bad \\x escape") }
            return .range(v, v)
        case UInt32(ascii: "u"):
            guard i + 4 <= s.count, let v = UInt32(String(String.UnicodeScalarView(s[i..<i + 4].map { Unicode.Scalar($0)! })), radix: 16) else {
                throw fail("bad \\u escape")
            }
            i += 4
            return .range(v, v)
        default:
            let isAlnum = (0x30...0x39).contains(e) || (0x41...0x5A).contains(e) || (0x61...0x7A).contains(e)
            if isAlnum { throw unsupported("escape \\\(Character(Unicode.Scalar(e)!))") }
            return .range(e, e)  // escaped punctuation or any other literal
        }
    }

    private mutating func characterClass() throws -> CharacterClass {
        try enterNested()
        defer { depth -= 1 }
        var cls = CharacterClass()
        if isChar("^") { cls.negated = true; i += 1 }
        var first = true
        // Items go to the class itself until the first `&&`, then to one more intersected class per `&&`.
        var operands: [CharacterClass] = []
        func add(_ item: CharacterClass.Item) {
            if operands.isEmpty { cls.items.append(item) } else { operands[operands.count - 1].items.append(item) }
        }
        while true {
            guard let c = peek() else { throw fail("unterminated '['") }
            if c == UInt32(ascii: "]"), !first { i += 1; break }
            first = false
            if c == UInt32(ascii: "["), isChar(":", at: 1) { throw unsupported("POSIX bracket [:name:]") }
            if c == UInt32(ascii: "["), !isChar(":", at: 1) {
                i += 1
                add(.nested(try characterClass()))
                continue
            }
            if c == UInt32(ascii: "&"), isChar("&", at: 1) {
                i += 2
                operands.append(CharacterClass())
                continue
            }
            let lo = try classAtom()
            // Range a-b (a '-' before ']' is literal).
            if case let .range(a, a2) = lo, a == a2, isChar("-"), let next = peek(1), next != UInt32(ascii: "]") {
                i += 1
                let hi = try classAtom()
                guard case let .range(b, b2) = hi, b == b2 else { throw fail("class range to a non-character") }
                guard a <= b else { throw fail("reversed class range") }
                add(.range(a, b))
            } else {
                add(lo)
            }
        }
        // An empty side of `&&` is the universal set in Oniguruma (`[a-z&&]` is `[a-z]`).
        let sides = [cls.items] + operands.map(\.items)
        if !operands.isEmpty, sides.contains(where: \.isEmpty) {
            throw unsupported("class intersection with an empty side")
        }
        cls.intersections = operands
        return cls
    }

    private mutating func classAtom() throws -> CharacterClass.Item {
        let c = s[i]
        if c == UInt32(ascii: "\\") {
            i += 1
            guard peek() != nil else { throw fail("trailing backslash") }
            return try escape(inClass: true)
        }
        i += 1
        return .range(c, c)
    }
}

extension UInt32 {
    /// The scalar value of an ASCII character, for readable parser code.
    init(ascii: Unicode.Scalar) { self = ascii.value }
}
