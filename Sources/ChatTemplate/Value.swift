// A Jinja value, modelled on the Python objects jinja2 sees when transformers renders a chat template:
// JSON-shaped data (None, bool, int, float, str, list, dict with insertion order) plus the template's own
// objects (namespace, macros and bound methods, Undefined).
public enum Value: Sendable {
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([Value])
    /// A Python tuple: `(a, b)` literals and the pairs of `items()`; like a list but printed `(a, b)`.
    case tuple([Value])
    case object(OrderedDictionary)
    /// `namespace(...)`: the one mutable object templates use (`{% set ns.x = ... %}`).
    case namespace(Namespace)
    /// A macro, a global function (`range`, `raise_exception`, ...) or a bound method (`s.split`).
    case callable(Callable)
    /// jinja2's default `Undefined`: prints as "", is falsy and iterates as empty; most other uses raise.
    /// The payload is the message jinja2 gives when such a use raises.
    case undefined(String)
    /// A one-shot iterator jinja2 filters return (`map`, `select*`, `reject*`, `unique`, `items` give a
    /// "generator", `reverse` a "list_reverseiterator"): always truthy, no len(), not JSON; `|list` makes a list.
    case iterator(String, [Value])
}

/// A dict with Python's insertion order. Keys are usually strings (JSON objects); dict literals in templates
/// may also use numbers, None or booleans as keys (1, 1.0 and True are the same key, as in Python).
public struct OrderedDictionary: Sendable {
    public private(set) var keyValues: [Value] = []
    private var storage: [Key: Value] = [:]

    enum Key: Hashable, Sendable {
        case string(String), int(Int), double(Double), none

        init?(_ v: Value) {
            switch v {
            case .string(let s): self = .string(s)
            case .int(let i): self = .int(i)
            case .bool(let b): self = .int(b ? 1 : 0)
            case .double(let d): self = d == d.rounded() && abs(d) < 9e18 ? .int(Int(d)) : .double(d)
            case .none: self = .none
            default: return nil
            }
        }
    }

    public init() {}
    public init(_ pairs: [(String, Value)]) { for (k, v) in pairs { self[k] = v } }

    public subscript(key: String) -> Value? {
        get { storage[.string(key)] }
        set { self[value: .string(key)] = newValue }
    }

    /// Lookup by any hashable value; nil for a missing or unhashable key.
    subscript(value key: Value) -> Value? {
        get { Key(key).flatMap { storage[$0] } }
        set {
            guard let k = Key(key) else { return }
            if let newValue {
                if storage.updateValue(newValue, forKey: k) == nil { keyValues.append(key) }
            } else if storage.removeValue(forKey: k) != nil {
                keyValues.removeAll { Key($0) == k }
            }
        }
    }

    public var count: Int { keyValues.count }
    /// Keys as strings (what JSON objects have).
    public var keys: [String] { keyValues.map(\.pythonStr) }
    public var pairs: [(String, Value)] { keyValues.map { ($0.pythonStr, storage[Key($0)!]!) } }
    var entries: [(Value, Value)] { keyValues.map { ($0, storage[Key($0)!]!) } }
    public var values: [Value] { keyValues.map { storage[Key($0)!]! } }
}

/// `namespace()`: a reference type, so a `set ns.attr` inside a loop or macro is seen after it.
public final class Namespace: @unchecked Sendable {
    var attributes: OrderedDictionary
    /// Being printed now: a namespace that holds itself prints as Python's dict repr does, `{...}` inside.
    var printing = false
    init(_ attributes: OrderedDictionary) { self.attributes = attributes }
}

/// Something a template can call. Arguments arrive positional + keyword, as in Python.
public struct Callable: Sendable {
    let name: String
    let call: @Sendable (_ args: [Value], _ kwargs: [(String, Value)], _ renderer: Renderer) throws -> Value
}

extension Value: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByFloatLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(arrayLiteral elements: Value...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, Value)...) { self = .object(OrderedDictionary(elements)) }
}

extension Value {
    var isUndefined: Bool { if case .undefined = self { return true } else { return false } }
    var isNone: Bool { if case .none = self { return true } else { return false } }

    /// Python truthiness.
    var truthy: Bool {
        switch self {
        case .none, .undefined: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .double(let d): return d != 0
        case .string(let s): return !s.isEmpty
        case .array(let a), .tuple(let a): return !a.isEmpty
        case .object(let o): return o.count > 0
        case .namespace, .callable, .iterator: return true
        }
    }

    /// The Python type name jinja2 puts into its error messages ("'dict object' has no attribute 'x'").
    var pythonTypeName: String {
        switch self {
        case .none: return "NoneType"
        case .bool: return "bool"
        case .int: return "int"
        case .double: return "float"
        case .string: return "str"
        case .array: return "list"
        case .tuple: return "tuple"
        case .object: return "dict"
        case .namespace: return "Namespace"
        case .callable: return "function"
        case .undefined: return "Undefined"
        case .iterator(let name, _): return name
        }
    }
}

// MARK: - Equality and ordering with Python's rules (1 == 1.0 == True, str compared by code point).

extension Value {
    func pythonEquals(_ other: Value) -> Bool {
        switch (self, other) {
        case (.none, .none): return true
        case (.undefined, .undefined): return true
        case (.string(let a), .string(let b)): return a.unicodeScalars.elementsEqual(b.unicodeScalars)
        case (.array(let a), .array(let b)), (.tuple(let a), .tuple(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.pythonEquals($1) }
        case (.object(let a), .object(let b)):
            guard a.count == b.count else { return false }
            return a.entries.allSatisfy { k, v in b[value: k].map { v.pythonEquals($0) } ?? false }
        case (.namespace(let a), .namespace(let b)): return a === b
        default:
            if let x = numeric, let y = other.numeric { return x == y }
            return false
        }
    }

    /// bool/int/float as one number, for arithmetic and comparison.
    var numeric: Number? {
        switch self {
        case .bool(let b): return .int(b ? 1 : 0)
        case .int(let i): return .int(i)
        case .double(let d): return .double(d)
        default: return nil
        }
    }

    enum Number: Equatable {
        case int(Int), double(Double)
        var asDouble: Double { switch self { case .int(let i): return Double(i); case .double(let d): return d } }
        static func == (a: Number, b: Number) -> Bool {
            if case .int(let x) = a, case .int(let y) = b { return x == y }
            return a.asDouble == b.asDouble
        }
    }

    /// Python `<`: numbers with numbers, strings by code point, lists lexicographically; nil when Python raises.
    func pythonLess(_ other: Value) -> Bool? {
        switch (self, other) {
        case (.string(let a), .string(let b)):
            return a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars) { $0.value < $1.value }
        case (.array(let a), .array(let b)), (.tuple(let a), .tuple(let b)):
            for (x, y) in zip(a, b) where !x.pythonEquals(y) { return x.pythonLess(y) }
            return a.count < b.count
        default:
            guard let x = numeric, let y = other.numeric else { return nil }
            if case .int(let i) = x, case .int(let j) = y { return i < j }
            return x.asDouble < y.asDouble
        }
    }
}
