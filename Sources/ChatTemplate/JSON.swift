import Basics
import Foundation

// JSON in and out with Python's conventions: parsing keeps object key order (like `json.loads` into a
// dict), and `PythonJSON.dumps` writes exactly what `json.dumps` writes (the `tojson` filter).

public enum JSONError: Error, CustomStringConvertible {
    case invalid(String, offset: Int)
    public var description: String {
        switch self { case .invalid(let what, let offset): return "invalid JSON at byte \(offset): \(what)" }
    }
}

extension Value {
    /// Parses JSON text into a value; objects keep their key order (a repeated key keeps its first
    /// place and its last value, as `json.loads`), integers stay `.int`. Nesting deeper than
    /// `maxJSONDepth` is an error (Python's json stops near 1000).
    public init(json: String) throws {
        do { self = try JSONReader.parse(Array(json.utf8), maxDepth: Value.maxJSONDepth, as: Value.JSONTree.self) }
        catch { throw JSONError.invalid(error.detail, offset: error.offset) }
    }

    static let maxJSONDepth = 512

    /// Value as JSONReader builds it.
    enum JSONTree: JSONTreeBuilder {
        static func null() -> Value { .none }
        static func bool(_ value: Bool) -> Value { .bool(value) }
        static func number(_ value: Double, integer: Int?) -> Value { integer.map(Value.int) ?? .double(value) }
        static func string(_ value: String) -> Value { .string(value) }
        static func array(_ items: [Value]) -> Value { .array(items) }
        static func object(_ pairs: [(key: String, value: Value)]) -> Value {
            var o = OrderedDictionary()
            for (key, value) in pairs { o[key] = value }
            return .object(o)
        }
    }

    /// `json.dumps(self, ...)`; throws for what Python cannot serialize (Undefined, macros, namespaces).
    public func jsonString(indent: String? = nil, separators: (String, String)? = nil,
                           ensureASCII: Bool = false, sortKeys: Bool = false) throws -> String {
        var out = ""
        let seps = separators ?? (indent == nil ? (", ", ": ") : (",", ": "))
        try PythonJSON.dump(self, into: &out, indent: indent, level: 0, separators: seps,
                            ensureASCII: ensureASCII, sortKeys: sortKeys)
        return out
    }
}

enum PythonJSON {
    static func dump(_ v: Value, into out: inout String, indent: String?, level: Int, separators: (String, String),
                     ensureASCII: Bool, sortKeys: Bool) throws {
        switch v {
        case .none: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d):
            if d.isNaN { out += "NaN" } else if d.isInfinite { out += d < 0 ? "-Infinity" : "Infinity" }
            else { out += PythonFloat.repr(d) }
        case .string(let s): quote(s, into: &out, ensureASCII: ensureASCII)
        case .array(let items), .tuple(let items):
            if items.isEmpty { out += "[]"; return }
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += separators.0 }
                try newline(&out, indent, level + 1)
                try dump(item, into: &out, indent: indent, level: level + 1, separators: separators,
                         ensureASCII: ensureASCII, sortKeys: sortKeys)
            }
            try newline(&out, indent, level)
            out += "]"
        case .object(let o):
            if o.count == 0 { out += "{}"; return }
            out += "{"
            var pairs = o.entries.map { (jsonKey($0.0), $0.1) }
            if sortKeys {
                pairs.sort { $0.0.unicodeScalars.lexicographicallyPrecedes($1.0.unicodeScalars) { $0.value < $1.value } }
            }
            for (i, (k, item)) in pairs.enumerated() {
                if i > 0 { out += separators.0 }
                try newline(&out, indent, level + 1)
                quote(k, into: &out, ensureASCII: ensureASCII)
                out += separators.1
                try dump(item, into: &out, indent: indent, level: level + 1, separators: separators,
                         ensureASCII: ensureASCII, sortKeys: sortKeys)
            }
            try newline(&out, indent, level)
            out += "}"
        case .namespace, .callable, .undefined, .iterator:
            let typeName = v.isUndefined ? "Undefined" : v.pythonTypeName
            throw ChatTemplateError.type("Object of type \(typeName) is not JSON serializable")
        }
    }

    /// json.dumps turns non-string keys into strings: 1 → "1", True → "true", None → "null".
    private static func jsonKey(_ k: Value) -> String {
        switch k {
        case .bool(let b): return b ? "true" : "false"
        case .none: return "null"
        default: return k.pythonStr
        }
    }

    private static func newline(_ out: inout String, _ indent: String?, _ level: Int) throws {
        guard let indent else { return }
        try RenderLimits.checkString(bytes: out.utf8.count + 1 + indent.utf8.count * level)
        out += "\n" + String(repeating: indent, count: level)
    }

    static func quote(_ s: String, into out: inout String, ensureASCII: Bool) {
        JSONString.append(s, to: &out, asciiOnly: ensureASCII)
    }
}
