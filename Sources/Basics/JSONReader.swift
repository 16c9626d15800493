/// The one JSON reader: request bodies and chat-template values (ChatTemplate's `Value(json:)`) and
/// tokenizer files (Tokenizer's `JSONValue`) are read with it, each building its own tree through a
/// `JSONTreeBuilder`. Own parser rather than JSONSerialization: objects keep their key order (as
/// Python's `json.loads` and serde_json's preserve_order), strings keep their exact scalars (no
/// NSString bridging), and nesting is bounded by the caller, so a body of a million `[` is an error,
/// not a stack overflow (parsing recurses once per level).
public struct JSONSyntaxError: Error, Equatable, Sendable {
    public let detail: String
    /// Byte offset in the input where the problem was found.
    public let offset: Int

    public init(detail: String, offset: Int) {
        self.detail = detail
        self.offset = offset
    }
}

/// How a caller's tree is built from what the reader finds.
public protocol JSONTreeBuilder {
    associatedtype Node
    static func null() -> Node
    static func bool(_ value: Bool) -> Node
    /// A number: its value, and as an Int when written without '.', 'e' or 'E' and in Int's range.
    static func number(_ value: Double, integer: Int?) -> Node
    static func string(_ value: String) -> Node
    static func array(_ items: [Node]) -> Node
    /// Pairs in document order, duplicates included (the builder decides which one wins).
    static func object(_ pairs: [(key: String, value: Node)]) -> Node
}

public enum JSONReader {
    /// The document in `bytes` as one value of B's tree; throws the first syntax error.
    @inlinable
    public static func parse<B: JSONTreeBuilder>(_ bytes: [UInt8], maxDepth: Int, as _: B.Type) throws(JSONSyntaxError) -> B.Node {
        var scanner = JSONScanner(bytes: bytes, maxDepth: maxDepth)
        scanner.skipSpace()
        let value: B.Node = try scanner.value(B.self)
        scanner.skipSpace()
        guard scanner.index == bytes.count else { throw scanner.error("trailing characters") }
        return value
    }
}

@usableFromInline
struct JSONScanner {
    @usableFromInline let bytes: [UInt8]
    @usableFromInline let maxDepth: Int
    @usableFromInline var index = 0
    /// Arrays and objects open around the scanner now.
    @usableFromInline var depth = 0

    @usableFromInline
    init(bytes: [UInt8], maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    @usableFromInline
    func error(_ detail: String) -> JSONSyntaxError { JSONSyntaxError(detail: detail, offset: index) }

    @inlinable
    mutating func skipSpace() {
        while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x0A || bytes[index] == 0x0D || bytes[index] == 0x09 {
            index += 1
        }
    }

    @inlinable
    mutating func value<B: JSONTreeBuilder>(_ b: B.Type) throws(JSONSyntaxError) -> B.Node {
        guard index < bytes.count else { throw error("unexpected end") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try object(b)
        case UInt8(ascii: "["): return try array(b)
        case UInt8(ascii: "\""): return B.string(try string())
        case UInt8(ascii: "t"): try literal("true"); return B.bool(true)
        case UInt8(ascii: "f"): try literal("false"); return B.bool(false)
        case UInt8(ascii: "n"): try literal("null"); return B.null()
        default: return try number(b)
        }
    }

    @inlinable
    mutating func literal(_ word: StaticString) throws(JSONSyntaxError) {
        let start = index
        for i in 0..<word.utf8CodeUnitCount {
            guard index < bytes.count, bytes[index] == word.utf8Start[i] else {
                index = start
                throw error("expected \(word)")
            }
            index += 1
        }
    }

    @inlinable
    mutating func enterNested() throws(JSONSyntaxError) {
        depth += 1
        guard depth <= maxDepth else { throw error("nested more than \(maxDepth) levels deep") }
    }

    @inlinable
    mutating func object<B: JSONTreeBuilder>(_ b: B.Type) throws(JSONSyntaxError) -> B.Node {
        try enterNested()
        defer { depth -= 1 }
        index += 1
        var pairs: [(key: String, value: B.Node)] = []
        skipSpace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; return B.object(pairs) }
        while true {
            skipSpace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw error("expected a key") }
            let key = try string()
            skipSpace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':'") }
            index += 1
            skipSpace()
            pairs.append((key, try value(b)))
            skipSpace()
            guard index < bytes.count else { throw error("unterminated object") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "}") { index += 1; return B.object(pairs) }
            throw error("expected ',' or '}'")
        }
    }

    @inlinable
    mutating func array<B: JSONTreeBuilder>(_ b: B.Type) throws(JSONSyntaxError) -> B.Node {
        try enterNested()
        defer { depth -= 1 }
        index += 1
        var items: [B.Node] = []
        skipSpace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1; return B.array(items) }
        while true {
            skipSpace()
            items.append(try value(b))
            skipSpace()
            guard index < bytes.count else { throw error("unterminated array") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "]") { index += 1; return B.array(items) }
            throw error("expected ',' or ']'")
        }
    }

    @inlinable
    mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw error("short \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[index]
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: throw error("bad \\u escape")
            }
            v = v << 4 | d
            index += 1
        }
        return v
    }

    /// The string at `index` (its opening quote), escapes decoded; a lone surrogate becomes U+FFFD.
    @inlinable
    mutating func string() throws(JSONSyntaxError) -> String {
        index += 1
        let start = index
        // Fast path: no escapes.
        while index < bytes.count, bytes[index] != UInt8(ascii: "\""), bytes[index] != UInt8(ascii: "\\") { index += 1 }
        guard index < bytes.count else { throw error("unterminated string") }
        if bytes[index] == UInt8(ascii: "\"") {
            let s = String(decoding: bytes[start..<index], as: UTF8.self)
            index += 1
            return s
        }
        var out = Array(bytes[start..<index])
        while index < bytes.count {
            let c = bytes[index]
            if c == UInt8(ascii: "\"") { index += 1; return String(decoding: out, as: UTF8.self) }
            if c != UInt8(ascii: "\\") { out.append(c); index += 1; continue }
            index += 1
            guard index < bytes.count else { break }
            let e = bytes[index]
            index += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var code = try hex4()
                if (0xD800..<0xDC00).contains(code), index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"),
                   bytes[index + 1] == UInt8(ascii: "u") {
                    // A high surrogate joins only a low one; otherwise both escapes stand alone
                    // (`"\udaaa\udaaa"`, found by scripts/fuzz: the join underflowed).
                    let save = index
                    index += 2
                    let low = try hex4()
                    if (0xDC00..<0xE000).contains(low) {
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    } else {
                        index = save
                    }
                }
                let scalar = Unicode.Scalar(code) ?? "\u{FFFD}"
                out.append(contentsOf: Array(String(scalar).utf8))
            default:
                index -= 2
                throw error("invalid \\escape")
            }
        }
        throw error("unterminated string")
    }

    @inlinable
    mutating func number<B: JSONTreeBuilder>(_ b: B.Type) throws(JSONSyntaxError) -> B.Node {
        let start = index
        var integral = true
        while index < bytes.count {
            let c = bytes[index]
            if (c >= 0x30 && c <= 0x39) || c == UInt8(ascii: "-") || c == UInt8(ascii: "+") { index += 1 }
            else if c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") { integral = false; index += 1 }
            else { break }
        }
        // Short integers (vocabulary ids, most of a tokenizer file) without building a String.
        if integral, index - start <= 18, let i = Self.smallInteger(bytes[start..<index]) { return B.number(Double(i), integer: i) }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        guard index > start, let value = Double(text) else {
            let detail = index == start ? "unexpected character" : "bad number \(text)"
            index = start
            throw error(detail)
        }
        return B.number(value, integer: integral ? Int(text) : nil)
    }

    /// An optional sign and at most 18 digits as an Int (as Int(String) reads them), else nil.
    @inlinable
    static func smallInteger(_ digits: ArraySlice<UInt8>) -> Int? {
        var i = digits.startIndex, negative = false
        if i < digits.endIndex, digits[i] == UInt8(ascii: "-") || digits[i] == UInt8(ascii: "+") {
            negative = digits[i] == UInt8(ascii: "-")
            i += 1
        }
        guard i < digits.endIndex else { return nil }
        var v = 0
        while i < digits.endIndex {
            let d = digits[i]
            guard d >= 0x30 && d <= 0x39 else { return nil }
            v = v * 10 + Int(d - 0x30)
            i += 1
        }
        return negative ? -v : v
    }
}
