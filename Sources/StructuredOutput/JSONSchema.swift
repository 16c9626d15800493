import Basics
import Tokenizer

/// Why a JSON Schema cannot be served: the keyword (as a path from the root) and the reason.
public struct JSONSchemaError: Error, CustomStringConvertible, Equatable, Sendable {
    public let path: String
    public let reason: String

    public var description: String { path.isEmpty ? reason : "\(path): \(reason)" }
}

/// A JSON Schema (`response_format` json_schema, vLLM's `structured_outputs.json`) compiled to the nodes
/// `JSONSchemaState` walks byte by byte. The subset OpenAI's structured outputs take, and xgrammar's
/// reading of it: `type` (one or a list), `enum`, `const`, `anyOf` / `oneOf` (alternatives told apart by
/// their first byte), `allOf` of one schema, `$ref` into `$defs` / `definitions` (recursion included);
/// objects with `properties` written in schema order, every `required` one present, no others
/// (`additionalProperties` false or absent) or other keys after them with `additionalProperties`' values
/// (pydantic's dicts; written without escapes); arrays of `prefixItems` (tuples) and `items` with
/// `minItems` / `maxItems`; `{}` / `true` is any value (nested at most `JSONSchemaState.maxDepth`).
/// Annotations (title, description, default, examples, …) are ignored; strings take `pattern` (unanchored,
/// as ECMA-262 reads it: `RegexAutomaton(search:)`) or a `format` (`StringFormat`), and `minLength` /
/// `maxLength` (`StringRule`); numbers take bounds (`NumberRange`); every other keyword — `multipleOf`,
/// `uniqueItems`, formats not listed — is refused by name, so a served schema is always enforced whole.
/// An enum's values are written as compact JSON (numbers in shortest form).
public final class JSONSchema: Sendable {
    enum Node: Sendable {
        case string(StringRule?)                         // nil: any string
        case number(integerOnly: Bool, range: RegexAutomaton?)   // range: NumberRange's pattern when bounded
        case literals([[UInt8]])                         // enum / const / boolean / null: their JSON texts
        case object([Property], extra: Int?)             // in schema order; extra: additionalProperties' values (nil: none)
        case array(prefix: [Int], items: Int?, minItems: Int, maxItems: Int)   // item i: prefix[i], then items (nil: none past the prefix)
        case union([Int])                                // alternatives with disjoint first bytes
        /// A union of objects told apart by their first property, the same required key in each with
        /// string values of its own (vLLM's `tool_choice: "required"` schema: {"name": ..., "parameters": ...}):
        /// the key, the node of every alternative's values, and the object each value (in that node's
        /// order) continues as, from its second property.
        case tagged(key: [UInt8], values: Int, objects: [Int])
    }

    struct Property: Sendable {
        let key: [UInt8]                                 // `"name"` as JSON writes it, quotes included
        let node: Int
        let required: Bool
    }

    let nodes: [Node]
    let root: Int
    /// [nodes] the texts a literal or key is matched against: a literal set's texts, an object's keys.
    let matchLists: [[[UInt8]]]

    public static let maxProperties = 64, maxLiterals = 64, maxNodes = 4096, maxItemsBound = 65_535

    /// Whitespace bytes in a row between tokens: `JSONGrammar.maxWhitespaceRun`, or 0 (vLLM's
    /// `disable_any_whitespace`).
    let whitespaceLimit: UInt8

    /// Compiles the schema in `json` (JSON text); without `anyWhitespace`, the value is written with no
    /// whitespace between its tokens.
    public convenience init(json: [UInt8], anyWhitespace: Bool = true) throws(JSONSchemaError) {
        let document: JSONValue
        do { document = try JSONValue.parse(json, file: "json_schema") } catch {
            throw JSONSchemaError(path: "", reason: "not JSON: \(error)")
        }
        try self.init(document: document, anyWhitespace: anyWhitespace)
    }

    init(document: JSONValue, anyWhitespace: Bool = true) throws(JSONSchemaError) {
        whitespaceLimit = anyWhitespace ? UInt8(JSONGrammar.maxWhitespaceRun) : 0
        var compiler = Compiler(document: document)
        root = try compiler.node(document, path: "")
        try compiler.checkUnions()
        nodes = compiler.nodes.map { $0! }
        matchLists = nodes.map { node in
            switch node {
            case .literals(let texts): return texts
            case .object(let properties, _): return properties.map(\.key)
            case .tagged(let key, _, _): return [key]
            default: return []
            }
        }
    }

    private struct Compiler {
        let document: JSONValue
        var nodes: [Node?] = []
        var refs: [String: Int] = [:]
        var any: Int?

        init(document: JSONValue) { self.document = document }

        static let annotations: Set<String> = ["title", "description", "default", "examples", "$schema", "$id", "$comment",
                                               "deprecated", "readOnly", "writeOnly", "$defs", "definitions"]

        mutating func add(_ node: Node?) throws(JSONSchemaError) -> Int {
            guard nodes.count < JSONSchema.maxNodes else { throw JSONSchemaError(path: "", reason: "more than \(JSONSchema.maxNodes) schema nodes") }
            nodes.append(node)
            return nodes.count - 1
        }

        mutating func node(_ schema: JSONValue, path: String) throws(JSONSchemaError) -> Int {
            func fail(_ reason: String, at key: String? = nil) -> JSONSchemaError {
                JSONSchemaError(path: key.map { path.isEmpty ? $0 : "\(path).\($0)" } ?? path, reason: reason)
            }
            if schema.bool == true { return try anyValue() }
            guard let pairs = schema.objectPairs else {
                throw fail("a schema must be an object with a type, enum, const, anyOf or $ref (not \(schema.isNull ? "null" : "false / a value"))")
            }
            let keys = Set(pairs.map(\.key))
            if let ref = schema["$ref"] {
                if let other = keys.subtracting(Self.annotations).subtracting(["$ref"]).sorted().first {
                    throw fail("not supported beside $ref", at: other)
                }
                return try reference(ref, path: path)
            }
            if let all = schema["allOf"] {
                guard let list = all.array, list.count == 1 else { throw fail("only an allOf of one schema", at: "allOf") }
                if let other = keys.subtracting(Self.annotations).subtracting(["allOf"]).sorted().first { throw fail("not supported beside allOf", at: other) }
                return try node(list[0], path: path.isEmpty ? "allOf.0" : "\(path).allOf.0")
            }
            for word in ["anyOf", "oneOf"] {
                guard let any = schema[word] else { continue }
                guard let list = any.array, !list.isEmpty else { throw fail("must be a non-empty list of schemas", at: word) }
                if let other = keys.subtracting(Self.annotations).subtracting([word]).sorted().first { throw fail("not supported beside \(word)", at: other) }
                let index = try add(nil)
                var alternatives: [Int] = []
                for (i, alternative) in list.enumerated() { alternatives.append(try node(alternative, path: "\(path.isEmpty ? "" : path + ".")\(word).\(i)")) }
                nodes[index] = .union(alternatives)
                return index
            }
            var types: [String]
            switch schema["type"] {
            case nil: types = []
            case .string(let t)?: types = [t]
            case .array(let list)?:
                types = []
                for t in list {
                    guard let name = t.string else { throw fail("must be a type name or a list of them", at: "type") }
                    types.append(name)
                }
                guard !types.isEmpty, Set(types).count == types.count else { throw fail("must list each type once", at: "type") }
            default: throw fail("must be a type name or a list of them", at: "type")
            }
            var literals: [JSONValue]?
            if let values = schema["enum"] {
                guard let list = values.array, !list.isEmpty else { throw fail("must be a non-empty list", at: "enum") }
                literals = list
            }
            if let value = schema["const"] {
                guard literals == nil else { throw fail("give enum or const, not both", at: "const") }
                literals = [value]
            }
            if let literals {
                if let other = keys.subtracting(Self.annotations).subtracting(["enum", "const", "type"]).sorted().first {
                    throw fail("not supported beside enum / const", at: other)
                }
                let kept = types.isEmpty ? literals : literals.filter { value in types.contains { Self.matches(value, type: $0) } }
                guard !kept.isEmpty else { throw fail("no value of the enum has the schema's type", at: "enum") }
                guard kept.count <= JSONSchema.maxLiterals else { throw fail("more than \(JSONSchema.maxLiterals) values", at: "enum") }
                var texts: [[UInt8]] = []
                for value in kept { texts.append(Array(Self.compactJSON(value).utf8)) }
                return try add(.literals(Array(Set(texts)).sorted { $0.lexicographicallyPrecedes($1) }))
            }
            guard !types.isEmpty else {
                // `{}` (annotations at most): any JSON value.
                guard let other = keys.subtracting(Self.annotations).sorted().first else { return try anyValue() }
                throw fail("not supported without a type, enum, const, anyOf or $ref", at: other)
            }
            if types.count > 1 {
                let index = try add(nil)
                var alternatives: [Int] = []
                for t in types { alternatives.append(try typed(t, schema, keys: keys, path: path)) }
                nodes[index] = .union(alternatives)
                return index
            }
            return try typed(types[0], schema, keys: keys, path: path)
        }

        /// One type's node; the schema's keywords must all belong to a type it lists.
        mutating func typed(_ type: String, _ schema: JSONValue, keys: Set<String>, path: String) throws(JSONSchemaError) -> Int {
            func fail(_ reason: String, at key: String) -> JSONSchemaError {
                JSONSchemaError(path: path.isEmpty ? key : "\(path).\(key)", reason: reason)
            }
            let own: [String: Set<String>] = [
                "object": ["properties", "required", "additionalProperties"], "array": ["items", "prefixItems", "minItems", "maxItems"],
                "string": ["pattern", "format", "minLength", "maxLength"], "number": Self.numberBounds, "integer": Self.numberBounds,
                "boolean": [], "null": []]
            guard own[type] != nil else { throw fail("unknown type \"\(type)\"", at: "type") }
            let typesListed = Set((schema["type"]?.array?.compactMap(\.string)) ?? [schema["type"]?.string].compactMap { $0 })
            let everyTypes = typesListed.reduce(into: Set<String>()) { $0.formUnion(own[$1] ?? []) }
            if let other = keys.subtracting(Self.annotations).subtracting(["type"]).subtracting(everyTypes).sorted().first {
                throw fail("not supported (served schemas are enforced whole)", at: other)
            }
            switch type {
            case "string":
                let minLength = try bound(schema["minLength"], default: 0, at: "minLength", path: path)
                let maxLength = try bound(schema["maxLength"], default: Int.max, at: "maxLength", path: path)
                guard minLength <= maxLength else { throw fail("minLength is above maxLength", at: "minLength") }
                var pattern: RegexAutomaton?, formatMax = Int.max
                if let value = schema["pattern"] {
                    guard let text = value.string else { throw fail("must be a string (a regular expression)", at: "pattern") }
                    do { pattern = try RegexAutomaton(search: text) } catch { throw fail("\(error)", at: "pattern") }
                }
                if let value = schema["format"] {
                    guard let name = value.string, let format = StringFormat(rawValue: name) else {
                        throw fail("not supported: \(Self.compactJSON(value)) (served formats: \(StringFormat.names))", at: "format")
                    }
                    guard pattern == nil else { throw fail("not supported beside pattern", at: "format") }
                    pattern = StringFormat.automata[format]
                    formatMax = format.maxLength
                }
                if pattern == nil && minLength == 0 && maxLength == Int.max { return try add(.string(nil)) }
                let source = schema["format"] != nil ? "format" : "pattern"
                let rule: StringRule
                do { rule = try StringRule(pattern: pattern, minLength: minLength, maxLength: Swift.min(maxLength, formatMax)) } catch {
                    switch error {
                    case .bothBounds: throw fail("with maxLength beside this \(source), too many lengths to tabulate (give one bound, or write the lengths into the pattern)", at: "minLength")
                    case .nothingFits: throw fail("no string the \(source) matches has a length within minLength / maxLength", at: minLength > 0 ? "minLength" : "maxLength")
                    }
                }
                return try add(.string(rule))
            case "number", "integer": return try add(.number(integerOnly: type == "integer", range: numberRange(schema, integerOnly: type == "integer", path: path)))
            case "boolean": return try add(.literals([Array("false".utf8), Array("true".utf8)]))
            case "null": return try add(.literals([Array("null".utf8)]))
            case "array":
                let prefix = schema["prefixItems"]
                if let prefix, prefix.array == nil { throw fail("must be a list of schemas", at: "prefixItems") }
                let prefixCount = prefix?.array?.count ?? 0
                // Past the prefix: `items`, or none (`items` false, or absent beside prefixItems: fewer items
                // than the schema allows are still an instance, so absent serves as false); absent without
                // prefixItems, any values.
                let extra = schema["items"].map { $0.bool == false ? nil : $0 } ?? (prefix == nil ? .bool(true) : nil)
                let minItems = try bound(schema["minItems"], default: 0, at: "minItems", path: path)
                var maxItems = try bound(schema["maxItems"], default: Int.max, at: "maxItems", path: path)
                guard minItems <= maxItems else { throw fail("minItems is above maxItems", at: "minItems") }
                if extra == nil {
                    guard minItems <= prefixCount else { throw fail("asks for more items than prefixItems gives, and items gives none", at: "minItems") }
                    maxItems = Swift.min(maxItems, prefixCount)
                }
                let index = try add(nil)
                var prefixNodes: [Int] = []
                for (i, item) in (prefix?.array ?? []).enumerated() {
                    prefixNodes.append(try node(item, path: path.isEmpty ? "prefixItems.\(i)" : "\(path).prefixItems.\(i)"))
                }
                let item = try extra.map { value throws(JSONSchemaError) in try node(value, path: path.isEmpty ? "items" : "\(path).items") }
                nodes[index] = .array(prefix: prefixNodes, items: item, minItems: minItems, maxItems: maxItems)
                return index
            default:   // object
                // additionalProperties: false or absent (its listed properties only, as OpenAI's strict mode
                // reads absent), or a schema (true: any) for the values of other keys, written after the
                // listed ones.
                let extraSchema = schema["additionalProperties"].flatMap { $0.bool == false ? nil : $0 }
                let properties = schema["properties"]?.objectPairs ?? []
                if schema["properties"] != nil && schema["properties"]?.objectPairs == nil { throw fail("must be an object of schemas", at: "properties") }
                guard properties.count <= JSONSchema.maxProperties else { throw fail("more than \(JSONSchema.maxProperties) properties", at: "properties") }
                guard Set(properties.map(\.key)).count == properties.count else { throw fail("a property is listed twice", at: "properties") }
                var required = Set<String>()
                if let list = schema["required"] {
                    guard let names = list.array else { throw fail("must be a list of property names", at: "required") }
                    for name in names {
                        guard let s = name.string, properties.contains(where: { $0.key == s }) else {
                            throw fail("names a property the schema does not list: \(Self.compactJSON(name))", at: "required")
                        }
                        required.insert(s)
                    }
                }
                let index = try add(nil)
                var built: [Property] = []
                for (name, value) in properties {
                    let child = try node(value, path: "\(path.isEmpty ? "" : path + ".")properties.\(name)")
                    built.append(Property(key: Array(JSONString.quoted(name, asciiOnly: false).utf8), node: child, required: required.contains(name)))
                }
                let extra = try extraSchema.map { value throws(JSONSchemaError) in
                    try node(value, path: path.isEmpty ? "additionalProperties" : "\(path).additionalProperties")
                }
                nodes[index] = .object(built, extra: extra)
                return index
            }
        }

        static let numberBounds: Set<String> = ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"]

        /// The automaton of a number's bounds (`NumberRange`), nil without any.
        func numberRange(_ schema: JSONValue, integerOnly: Bool, path: String) throws(JSONSchemaError) -> RegexAutomaton? {
            var lower: NumberRange.Bound?, upper: NumberRange.Bound?, last = ""
            for key in ["minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"] {
                guard let value = schema[key] else { continue }
                let at = path.isEmpty ? key : "\(path).\(key)"
                guard case let .number(d) = value else { throw JSONSchemaError(path: at, reason: "must be a number") }
                let isLower = key == "minimum" || key == "exclusiveMinimum"
                guard let bound = NumberRange.bound(d, exclusive: key.hasPrefix("exclusive"), lower: isLower, integerOnly: integerOnly) else {
                    throw JSONSchemaError(path: at, reason: integerOnly ? "must be within ±10^15" : "must be a whole number within ±10^15 (a number's bounds are served whole)")
                }
                if isLower { lower = NumberRange.tighter(lower, bound, lower: true) } else { upper = NumberRange.tighter(upper, bound, lower: false) }
                last = at
            }
            guard lower != nil || upper != nil else { return nil }
            guard let pattern = NumberRange.pattern(lower: lower, upper: upper, integerOnly: integerOnly) else {
                throw JSONSchemaError(path: last, reason: "no \(integerOnly ? "integer" : "number") is within the bounds")
            }
            do { return try RegexAutomaton(pattern: pattern) } catch { throw JSONSchemaError(path: last, reason: "\(error)") }
        }

        /// Any JSON value (`{}`, `true`): a union of every kind, containers of it inside; built once.
        mutating func anyValue() throws(JSONSchemaError) -> Int {
            if let any { return any }
            let index = try add(nil)
            any = index
            let literals = ["false", "null", "true"].map { Array($0.utf8) }
            nodes[index] = .union([try add(.string(nil)), try add(.number(integerOnly: false, range: nil)), try add(.literals(literals)),
                                   try add(.object([], extra: index)), try add(.array(prefix: [], items: index, minItems: 0, maxItems: Int.max))])
            return index
        }

        func bound(_ value: JSONValue?, default fallback: Int, at key: String, path: String) throws(JSONSchemaError) -> Int {
            guard let value else { return fallback }
            guard let n = value.int, n >= 0, n <= JSONSchema.maxItemsBound else {
                throw JSONSchemaError(path: path.isEmpty ? key : "\(path).\(key)", reason: "must be an integer in 0...\(JSONSchema.maxItemsBound)")
            }
            return n
        }

        /// `#`, `#/$defs/NAME` or `#/definitions/NAME` (JSON-pointer escapes ~0 ~1), each compiled once.
        mutating func reference(_ ref: JSONValue, path: String) throws(JSONSchemaError) -> Int {
            let at = path.isEmpty ? "$ref" : "\(path).$ref"
            guard let target = ref.string else { throw JSONSchemaError(path: at, reason: "must be a string") }
            if let known = refs[target] { return known }
            var schema = document
            if target != "#" {
                let parts = target.split(separator: "/", omittingEmptySubsequences: false).map {
                    $0.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
                }
                guard parts.count == 3, parts[0] == "#", parts[1] == "$defs" || parts[1] == "definitions", let found = document[parts[1]]?[parts[2]] else {
                    throw JSONSchemaError(path: at, reason: "only #, #/$defs/NAME and #/definitions/NAME of this schema, not \(target)")
                }
                schema = found
            }
            // A placeholder first, so a recursive reference finds this node.
            let index = try add(nil)
            refs[target] = index
            let inner = try node(schema, path: target)
            nodes[index] = .union([inner])
            return index
        }

        /// A union's alternatives must start with different bytes (one byte chooses the alternative) or be
        /// objects tagged by their first property (`tagged`), and no union may reach itself without a byte
        /// in between (`{"$ref": "#"}` at the root).
        mutating func checkUnions() throws(JSONSchemaError) {
            for node in nodes.indices {
                guard case var .union(alternatives)? = nodes[node] else { continue }
                // Numbers of both kinds (pydantic's int | float, type [integer, number]): one number node,
                // the wider, takes them all.
                func unranged(_ n: Int) -> Bool? { if case let .number(integerOnly, nil)? = nodes[resolved(n)] { integerOnly } else { nil } }
                let numbers = alternatives.filter { unranged($0) != nil }
                if numbers.count > 1 {
                    let merged = try add(.number(integerOnly: numbers.allSatisfy { unranged($0) == true }, range: nil))
                    alternatives = alternatives.filter { unranged($0) == nil } + [merged]
                    nodes[node] = .union(alternatives)
                }
                var cycle = Set<Int>()
                _ = try firstBytes(node, visiting: &cycle)
                var seen = Set<UInt8>()
                for alternative in alternatives {
                    var visiting = Set<Int>()
                    let first = try firstBytes(alternative, visiting: &visiting)
                    guard seen.isDisjoint(with: first) else {
                        if let tagged = try tagged(alternatives) { nodes[node] = tagged; break }
                        throw JSONSchemaError(path: "anyOf", reason: "alternatives must differ in their first byte (one string, one number, one object, one array type each) or be objects whose first property, required in each, has string values of its own")
                    }
                    seen.formUnion(first)
                }
            }
        }

        /// The node behind references (single-alternative unions).
        func resolved(_ node: Int) -> Int {
            var node = node, steps = 0
            while case let .union(only)? = nodes[node], only.count == 1, steps < nodes.count { node = only[0]; steps += 1 }
            return node
        }

        /// `alternatives` as a `tagged` node when each is an object whose first property has the same
        /// key, is required, and takes string values no other alternative takes; else nil.
        mutating func tagged(_ alternatives: [Int]) throws(JSONSchemaError) -> Node? {
            var key: [UInt8]?
            var cases: [(value: [UInt8], object: Int)] = []
            for alternative in alternatives {
                let object = resolved(alternative)
                guard case let .object(properties, nil)? = nodes[object], let first = properties.first, first.required,
                      key == nil || key == first.key, case let .literals(values)? = nodes[resolved(first.node)],
                      values.allSatisfy({ $0.first == UInt8(ascii: "\"") }) else { return nil }
                key = first.key
                cases += values.map { ($0, object) }
            }
            guard let key, Set(cases.map(\.value)).count == cases.count, cases.count <= JSONSchema.maxLiterals else { return nil }
            cases.sort { $0.value.lexicographicallyPrecedes($1.value) }
            let values = try add(.literals(cases.map(\.value)))
            return .tagged(key: key, values: values, objects: cases.map(\.object))
        }

        func firstBytes(_ node: Int, visiting: inout Set<Int>) throws(JSONSchemaError) -> Set<UInt8> {
            switch nodes[node]! {
            case .string: return [UInt8(ascii: "\"")]
            case .number: return Set(Array("-0123456789".utf8))
            case .literals(let texts): return Set(texts.map { $0[0] })
            case .object, .tagged: return [UInt8(ascii: "{")]
            case .array: return [UInt8(ascii: "[")]
            case .union(let alternatives):
                guard visiting.insert(node).inserted else { throw JSONSchemaError(path: "$ref", reason: "a reference that is its own alternative") }
                var all = Set<UInt8>()
                for a in alternatives { all.formUnion(try firstBytes(a, visiting: &visiting)) }
                return all
            }
        }

        static func matches(_ value: JSONValue, type: String) -> Bool {
            switch (value, type) {
            case (.string, "string"), (.number, "number"), (.bool, "boolean"), (.null, "null"), (.array, "array"), (.object, "object"): return true
            case let (.number(d), "integer"): return d == d.rounded()
            default: return false
            }
        }

        /// Compact JSON, numbers in shortest form (integers without a fraction).
        static func compactJSON(_ value: JSONValue) -> String {
            switch value {
            case .null: return "null"
            case .bool(let b): return b ? "true" : "false"
            case .number(let d): return d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : "\(d)"
            case .string(let s): return JSONString.quoted(s, asciiOnly: false)
            case .array(let items): return "[" + items.map(compactJSON).joined(separator: ",") + "]"
            case .object(let pairs): return "{" + pairs.map { JSONString.quoted($0.key, asciiOnly: false) + ":" + compactJSON($0.value) }.joined(separator: ",") + "}"
            }
        }
    }
}
