/// The inside of a JSON string, after its opening quote: RFC 8259 escapes (`\uXXXX` unpaired surrogates
/// too, as Python's `json` takes them), valid UTF-8 (no overlong forms, no surrogate code points,
/// nothing above U+10FFFF), no control byte below 0x20. Shared by the JSON grammars.
struct JSONStringLexer: Equatable, Sendable {
    enum Step { case refused, inside, closed }

    private enum Phase: UInt8 { case content, escape, unicodeEscape, utf8Continuation }
    private var phase = Phase.content
    private var left: UInt8 = 0                     // hex digits or continuation bytes to go
    private var low: UInt8 = 0x80, high: UInt8 = 0xBF // the next continuation byte's range

    init() {}

    /// Between characters: a token of whole UTF-8 text without a quote, backslash or control byte
    /// leaves the lexer as it is (the masks' shortcut).
    var isBetweenCharacters: Bool { phase == .content }
    /// Right after a backslash: the next byte names the escape.
    var isAfterBackslash: Bool { phase == .escape }

    mutating func accept(_ byte: UInt8) -> Step {
        switch phase {
        case .content:
            switch byte {
            case UInt8(ascii: "\""): return .closed
            case UInt8(ascii: "\\"): phase = .escape
            case 0x20..<0x80: break
            case 0xC2...0xDF: continuation(1, 0x80, 0xBF)
            case 0xE0: continuation(2, 0xA0, 0xBF)         // no overlong 3-byte form
            case 0xED: continuation(2, 0x80, 0x9F)         // no surrogate code points
            case 0xE1...0xEF: continuation(2, 0x80, 0xBF)
            case 0xF0: continuation(3, 0x90, 0xBF)         // no overlong 4-byte form
            case 0xF1...0xF3: continuation(3, 0x80, 0xBF)
            case 0xF4: continuation(3, 0x80, 0x8F)         // nothing above U+10FFFF
            default: return .refused                       // control bytes, stray continuations, C0 C1 F5–FF
            }
        case .escape:
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                 UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                phase = .content
            case UInt8(ascii: "u"): phase = .unicodeEscape; left = 4
            default: return .refused
            }
        case .unicodeEscape:
            guard JSONBytes.isHexDigit(byte) else { return .refused }
            left -= 1
            if left == 0 { phase = .content }
        case .utf8Continuation:
            guard byte >= low && byte <= high else { return .refused }
            left -= 1
            low = 0x80; high = 0xBF
            if left == 0 { phase = .content }
        }
        return .inside
    }

    private mutating func continuation(_ count: UInt8, _ low: UInt8, _ high: UInt8) {
        phase = .utf8Continuation
        left = count
        self.low = low
        self.high = high
    }
}

/// A JSON number, `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, or with `integerOnly` its integer
/// part alone. A number has no closing byte: `accept` answers `.ended` for the first byte that cannot
/// continue it when what came before is whole (the caller then reads that byte as what follows the value).
struct JSONNumberLexer: Equatable, Sendable {
    enum Step { case refused, inside, ended }

    private enum Phase: UInt8 { case minus, zero, integer, dot, fraction, exponentMark, exponentSign, exponent }
    private var phase: Phase
    private let integerOnly: Bool

    /// The lexer after a number's first byte, or nil when `byte` cannot start one.
    init?(first byte: UInt8, integerOnly: Bool = false) {
        switch byte {
        case UInt8(ascii: "-"): phase = .minus
        case UInt8(ascii: "0"): phase = .zero
        case UInt8(ascii: "1")...UInt8(ascii: "9"): phase = .integer
        default: return nil
        }
        self.integerOnly = integerOnly
    }

    /// What came so far is a whole number.
    var isWhole: Bool { phase == .zero || phase == .integer || phase == .fraction || phase == .exponent }

    mutating func accept(_ byte: UInt8) -> Step {
        let digit = JSONBytes.isDigit(byte)
        switch phase {
        case .minus:
            guard digit else { return .refused }
            phase = byte == UInt8(ascii: "0") ? .zero : .integer
        case .zero, .integer:
            if digit { return phase == .integer ? .inside : .ended }
            if !integerOnly && byte == UInt8(ascii: ".") { phase = .dot; return .inside }
            if !integerOnly && (byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E")) { phase = .exponentMark; return .inside }
            return .ended
        case .fraction:
            if digit { return .inside }
            if byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") { phase = .exponentMark; return .inside }
            return .ended
        case .exponent:
            return digit ? .inside : .ended
        case .dot, .exponentSign:
            guard digit else { return .refused }
            phase = phase == .dot ? .fraction : .exponent
        case .exponentMark:
            if byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-") { phase = .exponentSign; return .inside }
            guard digit else { return .refused }
            phase = .exponent
        }
        return .inside
    }
}

/// Byte classes of JSON's grammar.
enum JSONBytes {
    @inline(__always) static func isDigit(_ b: UInt8) -> Bool { b &- UInt8(ascii: "0") < 10 }
    @inline(__always) static func isHexDigit(_ b: UInt8) -> Bool { isDigit(b) || (b | 0x20) &- UInt8(ascii: "a") < 6 }
    @inline(__always) static func isWhitespace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x09 || b == 0x0D }
}
