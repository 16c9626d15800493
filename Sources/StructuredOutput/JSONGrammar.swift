/// A byte-at-a-time recognizer of one JSON object (RFC 8259), the grammar of `response_format:
/// {"type": "json_object"}`: `accept` takes the next byte and says whether the text so far is still
/// the start of a JSON object; `isComplete` once the root object has closed (then nothing more is
/// accepted — the sampler allows only EOS there — and nothing comes before the `{`). Strings and
/// numbers as `JSONStringLexer` and `JSONNumberLexer` read them.
///
/// Two bounds keep a constrained model from running away where JSON itself has none: at most
/// `maxDepth` nested containers, and at most `maxWhitespaceRun` whitespace bytes in a row (pretty
/// printing fits, a newline and 4 spaces of indent per level to depth 7; a model stuck emitting
/// newlines does not). Every accepted text is JSON.
///
/// A value type of a few words (the nesting stack is a bit set), so a token mask can keep one per
/// byte of a token prefix and copy freely.
public struct JSONGrammar: Sendable, Equatable {
    public static let maxDepth = 128
    public static let maxWhitespaceRun = 32

    /// What the next byte may be.
    enum Phase: UInt8 {
        case rootStart          // `{` (the reply starts with it, as llama.cpp's json.gbnf root)
        case objectFirst        // after `{`: a key's `"` or `}`
        case objectKey          // after `,` in an object: a key's `"`
        case colon              // after a key: `:`
        case value              // after `:` or `,` in an array: any value
        case arrayFirst         // after `[`: any value or `]`
        case afterValue         // `,` or the innermost container's closer
        case done               // the root object closed
        case string             // inside a string (`isKey` says which kind)
        case number
        case literal            // inside true / false / null: `literalNext` indexes `literalBytes`
    }

    var phase: Phase = .rootStart
    var isKey = false
    var depth: UInt8 = 0
    var whitespaceRun: UInt8 = 0
    var literalNext: UInt8 = 0
    var literalEnd: UInt8 = 0
    var string = JSONStringLexer()
    var number = JSONNumberLexer(first: UInt8(ascii: "0"))!
    /// Bit i set: container i (0 = the root) is an object, else an array.
    var objects: (UInt64, UInt64) = (0, 0)

    /// "true" "false" "null" back to back: a literal is a range of it.
    static let literalBytes: [UInt8] = Array("truefalsenull".utf8)

    /// Whitespace bytes in a row allowed between tokens: `maxWhitespaceRun`, or 0 without any whitespace.
    var whitespaceLimit = UInt8(JSONGrammar.maxWhitespaceRun)

    public init(anyWhitespace: Bool = true) {
        if !anyWhitespace { whitespaceLimit = 0 }
    }

    public static func == (a: JSONGrammar, b: JSONGrammar) -> Bool {
        a.phase == b.phase && a.isKey == b.isKey && a.depth == b.depth && a.whitespaceRun == b.whitespaceRun && a.whitespaceLimit == b.whitespaceLimit
            && a.literalNext == b.literalNext && a.literalEnd == b.literalEnd && a.string == b.string && a.number == b.number
            && a.objects == b.objects
    }

    /// The root object has closed: the text is one JSON object and nothing may follow.
    public var isComplete: Bool { phase == .done }

    /// Inside a string between characters (see `JSONStringLexer.isBetweenCharacters`).
    public var stringContentTaken: StringContent? { phase == .string && string.isBetweenCharacters ? .withEscapes : nil }

    /// Whether every byte of `bytes` is accepted in turn (the state is left where the first refusal was).
    public mutating func accept<S: Sequence>(_ bytes: S) -> Bool where S.Element == UInt8 {
        for b in bytes where !accept(b) { return false }
        return true
    }

    /// Takes `byte` if the text so far followed by it can still begin a JSON object; false leaves
    /// the state unchanged.
    public mutating func accept(_ byte: UInt8) -> Bool {
        switch phase {
        case .string:
            switch string.accept(byte) {
            case .refused: return false
            case .inside: return true
            case .closed:
                if isKey { phase = .colon; whitespaceRun = 0 } else { endValue() }
                return true
            }
        case .literal:
            guard byte == Self.literalBytes[Int(literalNext)] else { return false }
            literalNext += 1
            if literalNext == literalEnd { endValue() }
            return true
        case .number:
            switch number.accept(byte) {
            case .refused: return false
            case .inside: return true
            case .ended:
                // The byte must follow the value.
                let saved = self
                endValue()
                if structural(byte) { return true }
                self = saved
                return false
            }
        case .done: return false
        default: return structural(byte)
        }
    }

    /// The phases between tokens: whitespace, punctuation, the start of a value.
    private mutating func structural(_ byte: UInt8) -> Bool {
        if JSONBytes.isWhitespace(byte) {
            guard phase != .rootStart && whitespaceRun < whitespaceLimit else { return false }
            whitespaceRun += 1
            return true
        }
        switch phase {
        case .rootStart:
            guard byte == UInt8(ascii: "{") else { return false }
            return open(object: true)
        case .objectFirst, .objectKey:
            if byte == UInt8(ascii: "\"") { startString(key: true); return true }
            if byte == UInt8(ascii: "}") && phase == .objectFirst { return close() }
            return false
        case .colon:
            guard byte == UInt8(ascii: ":") else { return false }
            phase = .value
        case .value, .arrayFirst:
            if byte == UInt8(ascii: "]") && phase == .arrayFirst { return close() }
            return startValue(byte)
        case .afterValue:
            let inObject = isObject(Int(depth) - 1)
            if byte == UInt8(ascii: ",") { phase = inObject ? .objectKey : .value }
            else if byte == UInt8(ascii: inObject ? "}" : "]") { return close() }
            else { return false }
        default: return false
        }
        whitespaceRun = 0
        return true
    }

    private mutating func startValue(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "{"): return open(object: true)
        case UInt8(ascii: "["): return open(object: false)
        case UInt8(ascii: "\""): startString(key: false)
        case UInt8(ascii: "t"): startLiteral(at: 0, count: 4)
        case UInt8(ascii: "f"): startLiteral(at: 4, count: 5)
        case UInt8(ascii: "n"): startLiteral(at: 9, count: 4)
        default:
            guard let lexer = JSONNumberLexer(first: byte) else { return false }
            number = lexer
            phase = .number
        }
        whitespaceRun = 0
        return true
    }

    private mutating func startLiteral(at start: UInt8, count: UInt8) {
        phase = .literal
        literalNext = start + 1
        literalEnd = start + count
    }

    private mutating func startString(key: Bool) {
        phase = .string
        string = JSONStringLexer()
        isKey = key
        whitespaceRun = 0
    }

    /// A value (string, number, literal, container) has ended.
    private mutating func endValue() {
        phase = depth == 0 ? .done : .afterValue
        whitespaceRun = 0
    }

    private mutating func open(object: Bool) -> Bool {
        guard Int(depth) < Self.maxDepth else { return false }
        let bit = Int(depth)
        if bit < 64 {
            objects.0 = object ? objects.0 | (1 << UInt64(bit)) : objects.0 & ~(1 << UInt64(bit))
        } else {
            objects.1 = object ? objects.1 | (1 << UInt64(bit - 64)) : objects.1 & ~(1 << UInt64(bit - 64))
        }
        depth += 1
        phase = object ? .objectFirst : .arrayFirst
        whitespaceRun = 0
        return true
    }

    private mutating func close() -> Bool {
        depth -= 1
        endValue()
        return true
    }

    private func isObject(_ level: Int) -> Bool {
        level < 64 ? objects.0 >> UInt64(level) & 1 == 1 : objects.1 >> UInt64(level - 64) & 1 == 1
    }

}
