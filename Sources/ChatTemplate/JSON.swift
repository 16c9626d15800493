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
    /// Parses JSON text into a value; objects keep their key order, integers stay `.int`.
    public init(json: String) throws {
        var parser = JSONParser(bytes: Array(json.utf8))
        self = try parser.parseDocument()
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

/// A small JSON reader that keeps key order (Foundation's JSONSerialization does not).
struct JSONParser {
    let bytes: [UInt8]
    var pos = 0
    /// Arrays and objects open around the parser now.
    var depth = 0
    /// Parsing recurses once per level, and the gateway parses request bodies with this: a body of a
    /// million `[` must be a 400, not a stack overflow. (Python's json stops near 1000.)
    static let maxDepth = 512

    mutating func parseDocument() throws -> Value {
        let v = try parseValue()
        skipSpace()
        guard pos == bytes.count else { throw JSONError.invalid("trailing characters", offset: pos) }
        return v
    }

    mutating func skipSpace() {
        while pos < bytes.count, bytes[pos] == 0x20 || bytes[pos] == 0x09 || bytes[pos] == 0x0A || bytes[pos] == 0x0D { pos += 1 }
    }

    /// Compared in place: called for every ':', ',' and closing bracket, so it must not allocate.
    mutating func expect(_ literal: String) throws {
        var end = pos
        for byte in literal.utf8 {
            guard end < bytes.count, bytes[end] == byte else { throw JSONError.invalid("expected \(literal)", offset: pos) }
            end += 1
        }
        pos = end
    }

    mutating func enterNested() throws {
        depth += 1
        guard depth <= JSONParser.maxDepth else { throw JSONError.invalid("nested more than \(JSONParser.maxDepth) levels deep", offset: pos) }
    }

    mutating func parseValue() throws -> Value {
        skipSpace()
        guard pos < bytes.count else { throw JSONError.invalid("unexpected end", offset: pos) }
        switch bytes[pos] {
        case UInt8(ascii: "{"):
            try enterNested()
            defer { depth -= 1 }
            pos += 1
            var o = OrderedDictionary()
            skipSpace()
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object(o) }
            while true {
                skipSpace()
                let k = try parseString()
                skipSpace()
                try expect(":")
                o[k] = try parseValue()
                skipSpace()
                if pos < bytes.count, bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
                try expect("}")
                return .object(o)
            }
        case UInt8(ascii: "["):
            try enterNested()
            defer { depth -= 1 }
            pos += 1
            var a: [Value] = []
            skipSpace()
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(a) }
            while true {
                a.append(try parseValue())
                skipSpace()
                if pos < bytes.count, bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
                try expect("]")
                return .array(a)
            }
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expect("true"); return .bool(true)
        case UInt8(ascii: "f"): try expect("false"); return .bool(false)
        case UInt8(ascii: "n"): try expect("null"); return .none
        default: return try parseNumber()
        }
    }

    mutating func parseNumber() throws -> Value {
        let start = pos
        var isFloat = false
        while pos < bytes.count {
            let c = bytes[pos]
            if (c >= 0x30 && c <= 0x39) || c == UInt8(ascii: "-") || c == UInt8(ascii: "+") { pos += 1 }
            else if c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") { isFloat = true; pos += 1 }
            else { break }
        }
        let text = String(decoding: bytes[start..<pos], as: UTF8.self)
        if !isFloat, let i = Int(text) { return .int(i) }
        guard let d = Double(text) else { throw JSONError.invalid("bad number \(text)", offset: start) }
        return .double(d)
    }

    mutating func parseString() throws -> String {
        try expect("\"")
        var scalars = String.UnicodeScalarView()
        var run = pos
        func flush(_ end: Int) { scalars.append(contentsOf: String(decoding: bytes[run..<end], as: UTF8.self).unicodeScalars) }
        while pos < bytes.count {
            let c = bytes[pos]
            if c == UInt8(ascii: "\"") { flush(pos); pos += 1; return String(scalars) }
            if c != UInt8(ascii: "\\") { pos += 1; continue }
            flush(pos)
            pos += 1
            guard pos < bytes.count else { break }
            let e = bytes[pos]
            pos += 1
            switch e {
            case UInt8(ascii: "n"): scalars.append("\n")
            case UInt8(ascii: "t"): scalars.append("\t")
            case UInt8(ascii: "r"): scalars.append("\r")
            case UInt8(ascii: "b"): scalars.append("\u{08}")
            case UInt8(ascii: "f"): scalars.append("\u{0C}")
            case UInt8(ascii: "u"):
                var code = try hex4()
                if (0xD800..<0xDC00).contains(code), pos + 1 < bytes.count, bytes[pos] == UInt8(ascii: "\\"),
                   bytes[pos + 1] == UInt8(ascii: "u") {
                    // A high surrogate joins only a low one; otherwise both escapes stand alone
                    // (`"\udaaa\udaaa"`, found by scripts/fuzz: the join underflowed).
                    let save = pos
                    pos += 2
                    let low = try hex4()
                    if (0xDC00..<0xE000).contains(low) {
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    } else {
                        pos = save
                    }
                }
                scalars.append(Unicode.Scalar(code) ?? "\u{FFFD}")
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scalars.append(Unicode.Scalar(e))
            default: throw JSONError.invalid("invalid \\escape", offset: pos - 2)
            }
            run = pos
        }
        throw JSONError.invalid("unterminated string", offset: pos)
    }

    mutating func hex4() throws -> UInt32 {
        guard pos + 4 <= bytes.count, let v = UInt32(String(decoding: bytes[pos..<pos + 4], as: UTF8.self), radix: 16)
        else { throw JSONError.invalid("bad \\u escape", offset: pos) }
        pos += 4
        return v
    }
}
