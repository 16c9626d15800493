import Basics

/// A JSON value of a tokenizer file, read by Basics' JSONReader: strings keep their exact scalars,
/// objects their key order (and duplicate keys: a lookup finds the first).
public enum JSONValue: Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([(key: String, value: JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.number(x), .number(y)): return x == y
        case let (.string(x), .string(y)): return Array(x.unicodeScalars) == Array(y.unicodeScalars)
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: return false
        }
    }

    public subscript(key: String) -> JSONValue? {
        guard case let .object(pairs) = self else { return nil }
        for pair in pairs where pair.key.utf8.elementsEqual(key.utf8) { return pair.value }
        return nil
    }

    public var string: String? { if case let .string(s) = self { return s }; return nil }
    public var bool: Bool? { if case let .bool(b) = self { return b }; return nil }
    public var int: Int? {
        if case let .number(d) = self, let i = Int(exactly: d) { return i }
        return nil
    }
    public var array: [JSONValue]? { if case let .array(a) = self { return a }; return nil }
    public var objectPairs: [(key: String, value: JSONValue)]? {
        if case let .object(o) = self { return o }
        return nil
    }
    public var isNull: Bool { if case .null = self { return true }; return false }

    /// The document in `bytes` (JSONReader, nesting limited to serde_json's 128 levels so HF tokenizers
    /// and we refuse the same files); errors name the file.
    public static func parse(_ bytes: [UInt8], file: String) throws -> JSONValue {
        do { return try JSONReader.parse(bytes, maxDepth: 128, as: JSONValue.Tree.self) }
        catch { throw TokenizerError.malformed(file: file, detail: "\(error.detail) at byte \(error.offset)") }
    }

    /// Any JSON document (a command-line option's value, say): syntax errors as JSONReader reports them.
    public static func parse(document bytes: [UInt8], maxDepth: Int = 32) throws(JSONSyntaxError) -> JSONValue {
        try JSONReader.parse(bytes, maxDepth: maxDepth, as: JSONValue.Tree.self)
    }

    /// JSONValue as JSONReader builds it: numbers as Double, objects as their pairs.
    enum Tree: JSONTreeBuilder {
        static func null() -> JSONValue { .null }
        static func bool(_ value: Bool) -> JSONValue { .bool(value) }
        static func number(_ value: Double, integer: Int?) -> JSONValue { .number(value) }
        static func string(_ value: String) -> JSONValue { .string(value) }
        static func array(_ items: [JSONValue]) -> JSONValue { .array(items) }
        static func object(_ pairs: [(key: String, value: JSONValue)]) -> JSONValue { .object(pairs) }
    }
}
