/// Where a text stands in a `JSONSchema`: a byte-at-a-time recognizer of the values the schema allows,
/// written as JSON with whitespace between tokens (at most `schema.whitespaceLimit` in a row),
/// the value starting at the first byte and nothing after it. Containers nest at most `maxDepth` deep
/// (a recursive schema is cut there). A small value: the open containers are packed words, so a token
/// mask keeps one per byte of a token prefix.
public struct JSONSchemaState: Sendable {
    public static let maxDepth = 12   // the frames' count below

    /// What the innermost open container expects next (a tagged union's object, before its tag has
    /// picked the object it is: afterOpen for the tag's key, colon, value for the tag).
    enum Phase: UInt8 {
        case afterOpen = 0      // object: a key or `}`; array: an item or `]`
        case afterComma         // object: a key; array: an item
        case colon              // object: `:` after its key
        case value              // object: the value of property `index − 1`
        case afterValue         // `,` or the closer
    }

    /// The value being lexed, if any (`freeKey`: a key where other keys than the listed ones may come).
    enum Lexer: UInt8 { case none, string, number, rangedNumber, literal, key, freeKey }

    /// [maxDepth] open containers, innermost last: node | index << 16 | phase << 32 (node < maxNodes, index
    /// ≤ maxItemsBound: 16 bits each). An object's index is the next property it may take (the ones before
    /// are written or skipped), an array's its items so far.
    var frames: InlineArray<12, UInt64> = .init(repeating: 0)
    var depth: UInt8 = 0
    var started = false, done = false
    var lexer = Lexer.none
    var whitespaceRun: UInt8 = 0
    var string = JSONStringLexer()
    var number = JSONNumberLexer(first: UInt8(ascii: "0"))!
    /// Literal or key matching: the candidates still possible (bits into the node's literals or the
    /// object's properties), the bytes matched, and the node whose list it is.
    var candidates: UInt64 = 0
    var offset: UInt16 = 0
    var listNode: UInt16 = 0
    /// A string with a rule (JSONSchema.StringRule) or a number with bounds being lexed: its node, the
    /// characters written, and where its pattern's automaton stands. Inside such a string, escapes are the
    /// two-byte ones (each one character, checked as it completes); `\uXXXX` is not taken, so every
    /// character is counted and matched as written.
    var ruledString = false
    var ruledNode: UInt16 = 0
    var characters: UInt16 = 0
    var patternState: RegexState?

    public init() {}

    /// The text is a whole value of the schema: EOS may end it.
    public func canEnd(in schema: JSONSchema) -> Bool {
        guard depth == 0 else { return false }
        switch lexer {
        case .none: return done
        case .number: return number.isWhole
        case .rangedNumber: return patternState!.canEnd(in: range(in: schema))
        case .literal: return completeCandidate(in: schema) != nil
        case .string, .key, .freeKey: return false
        }
    }

    /// More bytes can follow.
    public var canContinue: Bool { !done }

    /// Between characters (see `JSONStringLexer.isBetweenCharacters`): in a free string, its content; in a
    /// key outside the listed ones that no listed key matches any more, the content without escapes.
    public var stringContentTaken: StringContent? {
        guard string.isBetweenCharacters else { return nil }
        if lexer == .string && !ruledString { return .withEscapes }
        if lexer == .freeKey && candidates == 0 { return .escapeFree }
        return nil
    }

    /// Takes `byte` if the text so far followed by it can still become a value of `schema`; false
    /// leaves the state unchanged.
    public mutating func accept(_ byte: UInt8, in schema: JSONSchema) -> Bool {
        switch lexer {
        case .string:
            if ruledString { return acceptRuled(byte, in: schema) }
            switch string.accept(byte) {
            case .refused: return false
            case .inside: return true
            case .closed: endValue(in: schema); return true
            }
        case .number:
            switch number.accept(byte) {
            case .refused: return false
            case .inside: return true
            case .ended: return endThenFollow(byte, in: schema)
            }
        case .rangedNumber:
            let automaton = range(in: schema)
            if patternState!.accept(byte, in: automaton) { return true }
            guard patternState!.canEnd(in: automaton) else { return false }
            return endThenFollow(byte, in: schema)
        case .freeKey:
            return acceptFreeKey(byte, in: schema)
        case .literal, .key:
            let next = candidates(continuingWith: byte, in: schema)
            if next == 0 {
                // No candidate continues: a whole literal (a number's) ends before this byte.
                guard lexer == .literal, completeCandidate(in: schema) != nil else { return false }
                return endThenFollow(byte, in: schema)
            }
            candidates = next
            offset += 1
            finishMatchIfWhole(in: schema)
            return true
        case .none:
            return structural(byte, in: schema)
        }
    }

    /// Whether every byte is accepted in turn.
    public mutating func accept<S: Sequence>(_ bytes: S, in schema: JSONSchema) -> Bool where S.Element == UInt8 {
        for b in bytes where !accept(b, in: schema) { return false }
        return true
    }

    // MARK: Between values

    private mutating func structural(_ byte: UInt8, in schema: JSONSchema) -> Bool {
        guard !done else { return false }
        guard started else {
            started = true
            if startValue(schema.root, byte, in: schema) { return true }
            started = false
            return false
        }
        if JSONBytes.isWhitespace(byte) {
            guard whitespaceRun < schema.whitespaceLimit else { return false }
            whitespaceRun += 1
            return true
        }
        guard depth > 0 else { return false }
        let (node, index, phase) = top
        switch schema.nodes[node] {
        case let .tagged(_, values, _):
            // The tag's key, then its value (which picks the object the rest is: see `endValue`).
            switch phase {
            case .afterOpen:
                guard byte == UInt8(ascii: "\"") else { return false }
                (lexer, candidates, offset, listNode) = (.key, 1, 1, UInt16(node))
            case .colon:
                guard byte == UInt8(ascii: ":") else { return false }
                setTop(node, index, .value)
            case .value:
                return startValue(values, byte, in: schema)
            case .afterComma, .afterValue: return false
            }
        case let .object(properties, extra):
            let rest = properties[min(index, properties.count)...]   // index: properties.count + 1 after another key
            switch phase {
            case .afterOpen, .afterComma:
                if byte == UInt8(ascii: "}") && phase == .afterOpen {
                    guard !rest.contains(where: \.required) else { return false }
                    return close(in: schema)
                }
                guard byte == UInt8(ascii: "\"") else { return false }
                if extra != nil && !rest.contains(where: \.required) {
                    // A listed key still to come or any other: every listed key is followed, the quote decides.
                    candidates = properties.count == 64 ? ~0 : (1 << UInt64(properties.count)) - 1
                    (lexer, offset, listNode, string) = (.freeKey, 1, UInt16(node), JSONStringLexer())
                    break
                }
                // The keys it may write next: the next required one and the optional ones before it.
                let last = rest.firstIndex(where: \.required) ?? properties.count - 1
                guard index <= last else { return false }
                candidates = 0
                for k in index...last { candidates |= 1 << UInt64(k) }
                (lexer, offset, listNode) = (.key, 1, UInt16(node))
            case .colon:
                guard byte == UInt8(ascii: ":") else { return false }
                setTop(node, index, .value)
            case .value:
                return startValue(index > properties.count ? extra! : properties[index - 1].node, byte, in: schema)
            case .afterValue:
                if byte == UInt8(ascii: ",") {
                    guard index < properties.count || extra != nil else { return false }
                    setTop(node, index, .afterComma)
                } else if byte == UInt8(ascii: "}") {
                    guard !rest.contains(where: \.required) else { return false }
                    return close(in: schema)
                } else {
                    return false
                }
            }
        case let .array(prefix, items, minItems, maxItems):
            switch phase {
            case .afterOpen, .afterComma:
                if byte == UInt8(ascii: "]") && phase == .afterOpen {
                    guard minItems == 0 else { return false }
                    return close(in: schema)
                }
                guard index < maxItems else { return false }
                // The item is counted as it starts; past JSONSchema.maxItemsBound (no maxItems) the count stays there.
                setTop(node, min(index + 1, JSONSchema.maxItemsBound), .afterValue)
                if startValue(index < prefix.count ? prefix[index] : items!, byte, in: schema) { return true }
                setTop(node, index, phase)
                return false
            case .afterValue:
                if byte == UInt8(ascii: ",") {
                    guard index < maxItems else { return false }
                    setTop(node, index, .afterComma)
                } else if byte == UInt8(ascii: "]") {
                    guard index >= minItems else { return false }
                    return close(in: schema)
                } else {
                    return false
                }
            case .colon, .value: return false
            }
        default: return false
        }
        whitespaceRun = 0
        return true
    }

    /// Starts a value of `node` with `byte` (a union tries its alternatives: their first bytes differ).
    private mutating func startValue(_ node: Int, _ byte: UInt8, in schema: JSONSchema) -> Bool {
        switch schema.nodes[node] {
        case .string(let rule):
            guard byte == UInt8(ascii: "\"") else { return false }
            (lexer, string) = (.string, JSONStringLexer())
            ruledString = rule != nil
            if let rule { (ruledNode, characters, patternState) = (UInt16(node), 0, rule.pattern.map(RegexState.init)) }
        case let .number(_, range?):
            var state = RegexState(range)
            guard state.accept(byte, in: range) else { return false }
            (lexer, ruledNode, patternState) = (.rangedNumber, UInt16(node), state)
        case .number(let integerOnly, nil):
            guard let lexer = JSONNumberLexer(first: byte, integerOnly: integerOnly) else { return false }
            (self.lexer, number) = (.number, lexer)
        case .literals(let texts):
            var matching: UInt64 = 0
            for (i, text) in texts.enumerated() where text[0] == byte { matching |= 1 << UInt64(i) }
            guard matching != 0 else { return false }
            (lexer, candidates, offset, listNode) = (.literal, matching, 1, UInt16(node))
            finishMatchIfWhole(in: schema)
        case .object, .array, .tagged:
            let object: Bool
            if case .array = schema.nodes[node] { object = false } else { object = true }
            guard byte == UInt8(ascii: object ? "{" : "["), Int(depth) < Self.maxDepth else { return false }
            frames[Int(depth)] = UInt64(node)
            depth += 1
        case .union(let alternatives):
            for alternative in alternatives {
                var attempt = self
                if attempt.startValue(alternative, byte, in: schema) { self = attempt; return true }
            }
            return false
        }
        whitespaceRun = 0
        return true
    }

    /// The automaton of the bounded number being lexed.
    private func range(in schema: JSONSchema) -> RegexAutomaton {
        guard case let .number(_, range?) = schema.nodes[Int(ruledNode)] else { preconditionFailure("a ranged number's node has a range") }
        return range
    }

    // MARK: Strings with a rule

    /// The character each two-byte escape writes (after the backslash), nil for `u` and the rest.
    private static func escaped(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): return byte
        case UInt8(ascii: "b"): return 0x08
        case UInt8(ascii: "f"): return 0x0C
        case UInt8(ascii: "n"): return 0x0A
        case UInt8(ascii: "r"): return 0x0D
        case UInt8(ascii: "t"): return 0x09
        default: return nil
        }
    }

    private static let escapable: [UInt8] = Array("\"\\/bfnrt".utf8)

    /// `accept` inside a string with a rule: the JSON lexer's check, then the length and the pattern on
    /// the characters the bytes write (a character counts at its first byte; an escape at its second).
    private mutating func acceptRuled(_ byte: UInt8, in schema: JSONSchema) -> Bool {
        guard case let .string(rule?) = schema.nodes[Int(ruledNode)] else { return false }
        let saved = self
        let atCharacter = string.isBetweenCharacters, afterBackslash = string.isAfterBackslash
        switch string.accept(byte) {
        case .refused: return false
        case .closed:
            guard Int(characters) >= rule.minLength, rule.pattern.map({ patternState!.canEnd(in: $0) }) ?? true else { self = saved; return false }
            ruledString = false
            endValue(in: schema)
            return true
        case .inside: break
        }
        var written = byte
        if afterBackslash {
            guard let character = Self.escaped(byte) else { self = saved; return false }
            written = character
        } else if atCharacter && byte == UInt8(ascii: "\\") {
            // An escape is a character to come: there must be one the rule takes.
            guard Self.escapable.contains(where: { var s = self; return s.write(Self.escaped($0)!, startsCharacter: true, rule) }) else { self = saved; return false }
            return true
        }
        guard write(written, startsCharacter: afterBackslash || byte < 0x80 || byte >= 0xC0, rule) else { self = saved; return false }
        return true
    }

    /// One byte of a ruled string's decoded text: counted if it starts a character, walked in the pattern,
    /// and then the string must still be able to end within the rule's bounds.
    private mutating func write(_ byte: UInt8, startsCharacter: Bool, _ rule: JSONSchema.StringRule) -> Bool {
        if startsCharacter {
            guard Int(characters) < rule.maxLength else { return false }
            characters = characters == .max ? .max : characters + 1   // saturates only without a maxLength
        }
        if let pattern = rule.pattern, !patternState!.accept(byte, in: pattern) { return false }
        return rule.fits(patternState, characters: Int(characters))
    }

    // MARK: Literals and keys

    private func texts(in schema: JSONSchema) -> [[UInt8]] { schema.matchLists[Int(listNode)] }

    /// The candidates whose text has `byte` after the bytes matched so far.
    private func candidates(continuingWith byte: UInt8, in schema: JSONSchema) -> UInt64 {
        let list = texts(in: schema)
        var next: UInt64 = 0, rest = candidates
        while rest != 0 {
            let i = rest.trailingZeroBitCount
            rest &= rest - 1
            if list[i].count > Int(offset) && list[i][Int(offset)] == byte { next |= 1 << UInt64(i) }
        }
        return next
    }

    /// A candidate matched whole (at most one can be: keys end in a quote, literals differ).
    private func completeCandidate(in schema: JSONSchema) -> Int? {
        let list = texts(in: schema)
        var rest = candidates
        while rest != 0 {
            let i = rest.trailingZeroBitCount
            rest &= rest - 1
            if list[i].count == Int(offset) { return i }
        }
        return nil
    }

    /// A key ends with its quote; a literal as soon as no candidate is longer (a number literal that
    /// another extends waits for the byte after it).
    private mutating func finishMatchIfWhole(in schema: JSONSchema) {
        guard let whole = completeCandidate(in: schema) else { return }
        if lexer == .key {
            let (node, _, _) = top
            setTop(node, whole + 1, .colon)
            lexer = .none
            whitespaceRun = 0
            return
        }
        if candidates.nonzeroBitCount == 1 { endValue(in: schema) }
    }

    /// A key of an object with `additionalProperties`: a string written without escapes; at its quote, a
    /// listed key still to come is that property, a listed key already passed is refused, and any other
    /// key is one of the other properties (index `properties.count + 1`: only others follow).
    private mutating func acceptFreeKey(_ byte: UInt8, in schema: JSONSchema) -> Bool {
        guard byte != UInt8(ascii: "\\") else { return false }
        let next = candidates(continuingWith: byte, in: schema)
        switch string.accept(byte) {
        case .refused: return false
        case .inside:
            candidates = next
            offset = offset == .max ? .max : offset + 1
        case .closed:
            let (node, index, _) = top
            guard case let .object(properties, _) = schema.nodes[node] else { return false }
            if next != 0 {
                // A listed key matched whole (its text ends with this quote).
                let k = next.trailingZeroBitCount
                guard k >= index && k < properties.count else { return false }
                setTop(node, k + 1, .colon)
            } else {
                setTop(node, properties.count + 1, .colon)
            }
            (lexer, whitespaceRun) = (.none, 0)
        }
        return true
    }

    // MARK: Values ending

    /// A value without a closing byte (number, number literal) ends before `byte`, which must follow it.
    private mutating func endThenFollow(_ byte: UInt8, in schema: JSONSchema) -> Bool {
        let saved = self
        endValue(in: schema)
        if structural(byte, in: schema) { return true }
        self = saved
        return false
    }

    /// A value has ended: the container takes what follows it (a tagged object's tag picks the object
    /// whose second property comes next).
    private mutating func endValue(in schema: JSONSchema) {
        let tag = lexer == .literal ? completeCandidate(in: schema) : nil
        lexer = .none
        whitespaceRun = 0
        if depth == 0 {
            done = true
            return
        }
        let (node, index, _) = top
        if case let .tagged(_, _, objects) = schema.nodes[node], let tag {
            setTop(objects[tag], 1, .afterValue)
        } else {
            setTop(node, index, .afterValue)
        }
    }

    private mutating func close(in schema: JSONSchema) -> Bool {
        depth -= 1
        endValue(in: schema)
        return true
    }

    private var top: (node: Int, index: Int, phase: Phase) {
        let word = frames[Int(depth) - 1]
        return (Int(word & 0xFFFF), Int(word >> 16 & 0xFFFF), Phase(rawValue: UInt8(word >> 32 & 0xFF))!)
    }

    private mutating func setTop(_ node: Int, _ index: Int, _ phase: Phase) {
        frames[Int(depth) - 1] = UInt64(node) | UInt64(index) << 16 | UInt64(phase.rawValue) << 32
    }
}
