import Foundation

// jinja2's built-in filters (the ones chat templates use), with jinja2 3.1's argument order and defaults,
// and transformers' `tojson` override: json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False).

enum Filters {
    static let names: Set<String> = [
        "abs", "attr", "capitalize", "count", "d", "default", "dictsort", "e", "escape", "first", "float", "format",
        "indent", "int", "items", "join", "last", "length", "list", "lower", "map", "max", "min", "reject",
        "rejectattr", "replace", "reverse", "round", "safe", "select", "selectattr", "sort", "string", "sum",
        "title", "tojson", "trim", "unique", "upper", "wordcount",
    ]

    /// jinja2's built-in filters this engine leaves out (a template using one is rejected at load time).
    static let notImplemented: Set<String> = [
        "batch", "center", "filesizeformat", "forceescape", "groupby", "pprint", "random", "slice", "striptags",
        "truncate", "urlencode", "urlize", "wordwrap", "xmlattr",
    ]

    static func apply(_ name: String, to value: Value, _ args: Arguments, scope: Scope, renderer: Renderer) throws -> Value {
        let (positional, keyword) = try renderer.evaluateArguments(args, scope)
        return try call(name, value, positional, keyword, renderer: renderer)
    }

    /// Parameters by position or keyword, in the filter's signature order (after the value).
    struct Parameters {
        let args: [Value]
        let kwargs: [(String, Value)]
        let names: [String]
        func value(_ name: String) -> Value? {
            if let i = names.firstIndex(of: name), i < args.count { return args[i] }
            return kwargs.first { $0.0 == name }?.1
        }
        func string(_ name: String, _ fallback: String) -> String {
            guard let v = value(name) else { return fallback }
            return v.pythonStr
        }
        func bool(_ name: String, _ fallback: Bool) -> Bool { value(name)?.truthy ?? fallback }
    }

    static func call(_ name: String, _ value: Value, _ args: [Value], _ kwargs: [(String, Value)], renderer: Renderer)
        throws -> Value
    {
        func p(_ names: String...) -> Parameters { Parameters(args: args, kwargs: kwargs, names: names) }
        switch name {
        case "abs":
            switch value.numeric {
            case .int(let i)?: return .int(abs(i))
            case .double(let d)?: return .double(abs(d))
            case nil: throw Operators.unsupported("abs()", value)
            }
        case "attr":
            return try Access.attribute(value, p("name").string("name", ""))
        case "capitalize": return .string(PyStr.capitalize(value.pythonStr))
        case "lower": return .string(PyStr.lower(value.pythonStr))
        case "upper": return .string(PyStr.upper(value.pythonStr))
        case "title": return .string(title(value.pythonStr))
        case "trim":
            let chars = p("chars").value("chars")
            return .string(PyStr.strip(value.pythonStr, chars.flatMap { $0.isNone ? nil : $0.pythonStr }))
        case "string", "safe": return .string(value.pythonStr)
        case "e", "escape": return .string(escapeHTML(value.pythonStr))
        case "length", "count": return .int(try length(value))
        case "wordcount":
            return .int(value.pythonStr.unicodeScalars.split { !isWordCharacter($0) }.count)
        case "d", "default":
            let q = p("default_value", "boolean")
            if value.isUndefined || (q.bool("boolean", false) && !value.truthy) { return q.value("default_value") ?? .string("") }
            return value
        case "first", "last":
            if name == "last", case .iterator(let kind, _) = value {
                throw ChatTemplateError.type("'\(kind)' object is not reversible")
            }
            var items = try renderer.iterate(value, line: 0)
            if name == "last" { items.reverse() }
            return items.first ?? .undefined("No \(name) item, sequence was empty.")
        case "list": return .array(try renderer.iterate(value, line: 0))
        case "items":
            switch value {
            case .undefined: return .array([])
            case .object(let o): return .iterator("generator", o.entries.map { .tuple([$0.0, $0.1]) })
            default: throw ChatTemplateError.type("can only get item pairs from a mapping.")
            }
        case "join":
            let q = p("d", "attribute")
            var items = try renderer.iterate(value, line: 0)
            if let attribute = q.value("attribute") { items = try items.map { try attributePath($0, attribute) } }
            return .string(items.map(\.pythonStr).joined(separator: q.string("d", "")))
        case "replace":
            let q = p("old", "new", "count")
            let count = try Methods.intArgument(q.value("count").flatMap { $0.isNone ? nil : $0 }, "replace") ?? -1
            return .string(PyStr.replace(value.pythonStr, q.string("old", ""), q.string("new", ""), count: count))
        case "reverse":
            switch value {
            case .string(let s): return .string(PyStr.string(s.unicodeScalars.reversed()))
            case .array(let a): return .iterator("list_reverseiterator", a.reversed())
            case .tuple(let a): return .iterator("reversed", a.reversed())
            case .object(let o): return .iterator("dict_reversekeyiterator", o.keyValues.reversed())
            case .undefined: return .array([])
            default: throw ChatTemplateError.python("FilterArgumentError", "argument must be iterable")
            }
        case "int", "float":
            // int(Undefined) / float(Undefined) raise instead of falling back to the default.
            if case .undefined(let m) = value { throw Renderer.undefinedError(m) }
            if name == "int" { return try toInt(value, p("default", "base")) }
            return try toFloat(value, p("default").value("default") ?? .double(0))
        case "round": return try round(value, p("precision", "method"))
        case "indent":
            // do_indent starts with `s += "\n"`, a TypeError for anything but a string.
            switch value {
            case .string(let s): return .string(try indent(s, p("width", "first", "blank")))
            case .undefined(let m): throw Renderer.undefinedError(m)
            case .array: throw ChatTemplateError.python("AttributeError", "'list' object has no attribute 'splitlines'")
            case .tuple: throw ChatTemplateError.type("can only concatenate tuple (not \"str\") to tuple")
            default: throw ChatTemplateError.type("unsupported operand type(s) for +=: '\(value.pythonTypeName)' and 'str'")
            }
        case "tojson":
            let q = p("ensure_ascii", "indent", "separators", "sort_keys")
            return .string(try tojson(value, q))
        case "format":
            return .string(try PrintfFormat.format(value.pythonStr, .tuple(args)))
        case "sort", "unique", "min", "max", "dictsort", "sum", "map", "select", "reject", "selectattr", "rejectattr":
            return try Sequences.call(name, value, args, kwargs, renderer: renderer)
        default:
            throw ChatTemplateError.runtime("No filter named '\(name)' found.")
        }
    }

    static func length(_ value: Value) throws -> Int {
        switch value {
        case .string(let s): return s.unicodeScalars.count
        case .array(let a), .tuple(let a): return a.count
        case .object(let o): return o.count
        case .undefined: return 0
        default: throw ChatTemplateError.type("object of type '\(value.pythonTypeName)' has no len()")
        }
    }

    /// `attribute="a.b"` or an integer index, as jinja2's `make_attrgetter` resolves it.
    static func attributePath(_ value: Value, _ attribute: Value) throws -> Value {
        if case .int = attribute { return try Access.item(value, attribute) }
        var v = value
        for part in attribute.pythonStr.split(separator: ".", omittingEmptySubsequences: false) {
            v = try Access.item(v, Int(part).map { .int($0) } ?? .string(String(part)))
        }
        return v
    }

    /// jinja2 `do_title`: first letter of each run after `-`, whitespace, `(`, `{`, `[`, `<` upper-cased, the rest lower.
    private static func title(_ s: String) -> String {
        var out = ""
        var atStart = true
        for c in s.unicodeScalars {
            let delimiter = PythonString.isSpace(c) || "-({[<".unicodeScalars.contains(c)
            out += atStart || delimiter ? c.properties.uppercaseMapping : c.properties.lowercaseMapping
            atStart = delimiter
        }
        return out
    }

    private static func isWordCharacter(_ c: Unicode.Scalar) -> Bool {
        c == "_" || c.properties.isAlphabetic || c.properties.numericType != nil
    }

    /// markupsafe.escape.
    static func escapeHTML(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&#34;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    private static func toInt(_ value: Value, _ q: Parameters) throws -> Value {
        let fallback = q.value("default") ?? .int(0)
        let base = try Methods.intArgument(q.value("base"), "int") ?? 10
        switch value {
        case .int: return value
        case .bool(let b): return .int(b ? 1 : 0)
        case .double(let d): return d.isFinite ? .int(Int(d)) : fallback
        case .string(let s):
            let t = PyStr.strip(s, nil).replacingOccurrences(of: "_", with: "")
            if let i = Int(t, radix: base) { return .int(i) }
            if let d = Double(t), d.isFinite, !t.lowercased().contains("n") { return .int(Int(d)) }
            return fallback
        default: return fallback
        }
    }

    private static func toFloat(_ value: Value, _ fallback: Value) throws -> Value {
        switch value {
        case .int(let i): return .double(Double(i))
        case .bool(let b): return .double(b ? 1 : 0)
        case .double: return value
        case .string(let s):
            let t = PyStr.strip(s, nil).lowercased()
            switch t {
            case "inf", "+inf", "infinity", "+infinity": return .double(.infinity)
            case "-inf", "-infinity": return .double(-.infinity)
            case "nan", "+nan", "-nan": return .double(.nan)
            default: return Double(t.replacingOccurrences(of: "_", with: "")).map { .double($0) } ?? fallback
            }
        default: return fallback
        }
    }

    private static func round(_ value: Value, _ q: Parameters) throws -> Value {
        let precision = try Methods.intArgument(q.value("precision"), "round") ?? 0
        let method = q.string("method", "common")
        guard let n = value.numeric else {
            throw ChatTemplateError.type("type \(value.isUndefined ? "Undefined" : value.pythonTypeName) doesn't define __round__ method")
        }
        let scale = Foundation.pow(10.0, Double(precision))
        switch method {
        case "common":
            if case .int(let i) = n { return .int(i) }
            return .double((n.asDouble * scale).rounded(.toNearestOrEven) / scale)
        case "ceil": return .double((n.asDouble * scale).rounded(.up) / scale)
        case "floor": return .double((n.asDouble * scale).rounded(.down) / scale)
        default: throw ChatTemplateError.value("method must be common, ceil or floor")
        }
    }

    /// jinja2 3.1 `do_indent`.
    private static func indent(_ s: String, _ q: Parameters) throws -> String {
        let width = q.value("width") ?? .int(4)
        let indention: String
        if case .string(let w) = width { indention = w } else {
            let count = try Methods.intArgument(width, "indent") ?? 4
            try RenderLimits.checkString(bytes: count)
            indention = String(repeating: " ", count: max(0, count))
        }
        let text = s + "\n"
        var lines = PyStr.splitlines(text)
        // Every line may get the indention.
        try RenderLimits.checkRepetition(indention.utf8.count, times: lines.count + 1,
                                         limit: RenderLimits.maxStringBytes - text.utf8.count)
        var rv: String
        if q.bool("blank", false) {
            rv = lines.joined(separator: "\n" + indention)
        } else {
            rv = lines.removeFirst()
            if !lines.isEmpty { rv += "\n" + lines.map { $0.isEmpty ? $0 : indention + $0 }.joined(separator: "\n") }
        }
        if q.bool("first", false) { rv = indention + rv }
        return rv
    }

    private static func tojson(_ value: Value, _ q: Parameters) throws -> String {
        var indent: String? = nil
        switch q.value("indent") {
        case nil, .none?: indent = nil
        case .string(let s)?: indent = s
        case let v?:
            let count = try Methods.intArgument(v, "tojson") ?? 0
            try RenderLimits.checkString(bytes: count)
            indent = String(repeating: " ", count: max(0, count))
        }
        var separators: (String, String)? = nil
        if let sep = q.value("separators"), !sep.isNone {
            guard let pair = sep.sequenceItems, pair.count == 2, case .string(let a) = pair[0], case .string(let b) = pair[1]
            else { throw ChatTemplateError.value("separators must be a pair of strings") }
            separators = (a, b)
        }
        return try value.jsonString(indent: indent, separators: separators,
                                    ensureASCII: q.bool("ensure_ascii", false), sortKeys: q.bool("sort_keys", false))
    }
}
