// jinja2's tests (`x is defined`, `x is string`, `x is in y`, ...), with Python's type rules
// (a bool is a number but not an integer; Undefined is iterable and a sequence).

enum Tests {
    static let names: Set<String> = [
        "defined", "undefined", "none", "string", "number", "integer", "float", "mapping", "iterable", "sequence",
        "boolean", "true", "false", "in", "eq", "equalto", "==", "ne", "!=", "lt", "lessthan", "<", "le", "<=",
        "gt", "greaterthan", ">", "ge", ">=", "odd", "even", "divisibleby", "sameas", "callable", "lower", "upper",
    ]

    /// jinja2's built-in tests this engine leaves out (a template using one is rejected at load time).
    static let notImplemented: Set<String> = ["escaped", "filter", "test"]

    static func run(_ name: String, _ v: Value, _ args: [Value], _ kwargs: [(String, Value)], renderer: Renderer) throws -> Bool {
        func argument() throws -> Value {
            guard let a = args.first ?? kwargs.first?.1 else {
                throw ChatTemplateError.type("test '\(name)' takes an argument")
            }
            return a
        }
        switch name {
        case "defined": return !v.isUndefined
        case "undefined": return v.isUndefined
        case "none": return v.isNone
        case "string": return v.isString
        case "number":
            switch v { case .bool, .int, .double: return true; default: return false }
        case "integer": if case .int = v { return true } else { return false }
        case "float": if case .double = v { return true } else { return false }
        case "boolean": if case .bool = v { return true } else { return false }
        case "true": if case .bool(true) = v { return true } else { return false }
        case "false": if case .bool(false) = v { return true } else { return false }
        case "mapping": if case .object = v { return true } else { return false }
        case "iterable", "sequence":
            switch v {
            case .string, .array, .tuple, .object, .undefined: return true
            case .iterator: return name == "iterable"
            default: return false
            }
        case "callable": if case .callable = v { return true } else { return false }
        case "in": return try Operators.contains(try argument(), v)
        case "eq", "equalto", "==": return v.pythonEquals(try argument())
        case "ne", "!=": return !v.pythonEquals(try argument())
        case "lt", "lessthan", "<": return try Operators.compare(.lt, v, try argument())
        case "le", "<=": return try Operators.compare(.le, v, try argument())
        case "gt", "greaterthan", ">": return try Operators.compare(.gt, v, try argument())
        case "ge", ">=": return try Operators.compare(.ge, v, try argument())
        case "odd", "even", "divisibleby":
            let divisor = name == "divisibleby" ? try argument() : .int(2)
            let r = try Operators.binary(.modulo, v, divisor)
            return name == "odd" ? r.pythonEquals(.int(1)) : r.pythonEquals(.int(0))
        case "sameas":
            let other = try argument()
            switch (v, other) {
            case (.none, .none): return true
            case (.bool(let a), .bool(let b)): return a == b
            case (.namespace(let a), .namespace(let b)): return a === b
            default: return false
            }
        case "lower", "upper":
            // str(value).islower() / isupper(): at least one cased character, and none of the other case.
            let s = v.pythonStr
            let hasCased = s.unicodeScalars.contains(where: PyStr.isCased)
            return hasCased && (name == "lower" ? PyStr.lower(s) : PyStr.upper(s)) == s
        default:
            throw ChatTemplateError.runtime("No test named '\(name)' found.")
        }
    }
}
