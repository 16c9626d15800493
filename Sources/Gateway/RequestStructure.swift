import Basics
import ChatTemplate
import ModelText
import StructuredOutput
import Wire

/// What a request's output is held to: its structured output (choice, JSON object, JSON Schema, regex)
/// and its tools and tool_choice (a forced choice is a JSON Schema too), each checked here as the daemons
/// will compile it, so what they cannot serve is a 400 naming the field.
extension GenerationRequest {
    /// The structured output a request gave (at most one) as the wire carries it, and the field it came in.
    struct Structured {
        var field: String?
        var choice: TokenAutomaton?
        var jsonObject = false
        var jsonSchema: String?
        var regex: String?
        var grammar: String?
        /// vLLM's `structured_outputs.disable_any_whitespace`: a JSON output written without whitespace.
        var disableAnyWhitespace = false
    }

    /// The structured outputs a request can ask for.
    private enum StructuredKind {
        case choice([String])
        case jsonObject
        case jsonSchema(String)    // JSON text
        case regex(String)
        case grammar(String)      // GBNF text
    }

    /// vLLM's structured outputs, then EOS: `choice` (`structured_outputs: {"choice": [...]}`, or the older
    /// `guided_choice`) — the reply is one of the strings; one JSON object (`response_format: {"type":
    /// "json_object"}`, or `structured_outputs: {"json_object": true}`); one value of a JSON Schema
    /// (`response_format: {"type": "json_schema", "json_schema": {"schema": ...}}`, `structured_outputs:
    /// {"json": ...}` or the older `guided_json`; the subset JSONSchema serves, else a 400 naming the
    /// keyword); one whole match of a regular expression (`structured_outputs: {"regex": ...}` or the older
    /// `guided_regex`; Python `re` syntax as RegexAutomaton serves it); one whole match of a GBNF grammar
    /// (`structured_outputs: {"grammar": ...}`, the older `guided_grammar`, or llama.cpp's `grammar`;
    /// llama.cpp's format as GBNFGrammar serves it — what xgrammar, vLLM's default backend, reads too). One
    /// at a time.
    /// `structured_outputs: {"disable_any_whitespace": true}` writes a JSON output without whitespace.
    static func structuredOutput(_ f: JSONFields, _ served: ServedModel) throws -> Structured {
        var asked: [(field: String, kind: StructuredKind)] = []
        var compact = false
        func schema(_ value: Value, field: String) throws -> StructuredKind {
            let text: String
            switch value {
            case .string(let s): text = s   // vLLM takes the schema as JSON text too
            case .object: text = value.compactJSON
            default: throw APIError.invalid(field, "\(field) must be a JSON Schema (an object, or its JSON text)")
            }
            return .jsonSchema(try servedSchema(text, field: field, what: "the schema"))
        }
        if let format = try f.object("response_format") {
            switch try format.string("type") {
            case "text"?: break
            case "json_object"?: asked.append(("response_format", .jsonObject))
            case "json_schema"?:
                guard let spec = try format.object("json_schema"), let value = spec["schema"] else {
                    throw APIError.invalid("response_format", "a json_schema response_format needs json_schema.schema")
                }
                asked.append(("response_format", try schema(value, field: "response_format")))
            default: throw APIError.unsupported("response_format", "only text, json_object and json_schema")
            }
        }
        if let list = f["guided_choice"] { asked.append(("guided_choice", .choice(try strings(list, field: "guided_choice")))) }
        if let value = f["guided_json"] { asked.append(("guided_json", try schema(value, field: "guided_json"))) }
        if let value = f["guided_regex"] { asked.append(("guided_regex", .regex(try servedRegex(value, field: "guided_regex")))) }
        for field in ["guided_grammar", "grammar"] {
            if let value = f[field] { asked.append((field, .grammar(try servedGrammar(value, field: field)))) }
        }
        if let outputs = try f.object("structured_outputs") {
            for key in outputs.object.keys {
                let field = "structured_outputs.\(key)"
                switch key {
                case "choice": asked.append((field, .choice(try strings(outputs[key] ?? .none, field: field))))
                case "json_object": if try outputs.bool(key) == true { asked.append((field, .jsonObject)) }
                case "json": if let value = outputs[key] { asked.append((field, try schema(value, field: field))) }
                case "regex": if let value = outputs[key] { asked.append((field, .regex(try servedRegex(value, field: field)))) }
                case "grammar": if let value = outputs[key] { asked.append((field, .grammar(try servedGrammar(value, field: field)))) }
                case "disable_any_whitespace": compact = try outputs.bool(key) ?? false
                default: throw APIError.unsupported(field, "only choice, json (a JSON Schema), json_object, regex, grammar and disable_any_whitespace")
                }
            }
        }
        guard asked.count <= 1 else {
            throw APIError.invalid(asked[1].field, "one structured output at a time (response_format, guided_choice, guided_json, guided_regex, guided_grammar, grammar, structured_outputs)")
        }
        switch asked.first?.kind {
        case .jsonObject?, .jsonSchema?: break
        default:
            guard !compact else {
                throw APIError.invalid("structured_outputs.disable_any_whitespace", "only with a JSON output (json_object or a JSON Schema)")
            }
        }
        guard let (field, kind) = asked.first else { return Structured() }
        switch kind {
        case .jsonObject: return Structured(field: field, jsonObject: true, disableAnyWhitespace: compact)
        case .jsonSchema(let text): return Structured(field: field, jsonSchema: text, disableAnyWhitespace: compact)
        case .regex(let pattern): return Structured(field: field, regex: pattern)
        case .grammar(let text): return Structured(field: field, grammar: text)
        case .choice(let choices):
            do {
                return Structured(field: field, choice: try served.text.choiceAutomaton(choices, vocabSize: served.vocabSize))
            } catch let error as ChoiceError {
                throw APIError.invalid(field, "\(field): \(error)")
            }
        }
    }

    /// Chat `tools` (each {"type": "function", "function": {"name", ...}}) and `tool_choice`: "auto"
    /// (the default with tools) reads the output for tool calls, which needs `--tool-call-parser`;
    /// "none" only renders them; a named function (`{"type": "function", "function": {"name": N}}`)
    /// makes the reply N's arguments, sampled under its `parameters` as a JSON Schema, and "required"
    /// a JSON array of {"name", "parameters"} calls to any of them (one with parallel_tool_calls false)
    /// — vLLM's guided decoding of both, no parser needed.
    static func tools(_ f: JSONFields, kind: Kind, served: ServedModel) throws
        -> (tools: [Value], parse: Bool, forced: (calls: ForcedToolCalls, schema: String)?) {
        let tools = try toolList(f)
        if !tools.isEmpty && kind == .completion { throw APIError.invalid("tools", "tools are for chat completions") }
        let choice = f["tool_choice"] ?? .string(tools.isEmpty ? "none" : "auto")
        switch choice {
        case .string("none"): return (tools, false, nil)
        case .string("auto"):
            guard !tools.isEmpty else { return (tools, false, nil) }
            guard served.toolCalls != nil else {
                throw APIError.invalid("tool_choice", "\"auto\" tool choice requires pd-gateway --tool-call-parser")
            }
            return (tools, true, nil)
        case .object(let named) where named["type"]?.stringValue == "function":
            guard case let .object(chosen)? = named["function"], let name = chosen["name"]?.stringValue else {
                throw APIError.invalid("tool_choice", "a named tool choice is {\"type\": \"function\", \"function\": {\"name\": ...}}")
            }
            guard let parameters = try toolParameters(tools).first(where: { $0.name == name })?.parameters else {
                throw APIError.invalid("tool_choice", "tool_choice names \(Value.string(name).compactJSON), which is not in tools")
            }
            return (tools, false, (.named(name), try servedSchema(parameters.compactJSON, field: "tool_choice", what: "the parameters of \(name)")))
        case .string("required"):
            guard !tools.isEmpty else { throw APIError.invalid("tool_choice", "\"required\" tool choice needs tools") }
            // vLLM's schema for it, with each alternative an object of its own (JSONSchema's tagged union).
            let calls: [Value] = try toolParameters(tools).map { tool in
                .obj([("type", .string("object")),
                      ("properties", .obj([("name", .obj([("enum", .array([.string(tool.name)]))])), ("parameters", tool.parameters)])),
                      ("required", .array([.string("name"), .string("parameters")])), ("additionalProperties", .bool(false))])
            }
            let single = try f.bool("parallel_tool_calls") == false
            let array = Value.obj([("type", .string("array")), ("minItems", .int(1))] + (single ? [("maxItems", .int(1))] : [])
                                  + [("items", .obj([("anyOf", .array(calls))]))])
            return (tools, false, (.required, try servedSchema(array.compactJSON, field: "tool_choice", what: "the tools' parameters")))
        default:
            throw APIError.unsupported("tool_choice", "only \"auto\", \"none\", \"required\" and a named function")
        }
    }

    /// Each tool's name and parameters (a function without parameters takes none: `{}`).
    private static func toolParameters(_ tools: [Value]) throws -> [(name: String, parameters: Value)] {
        tools.compactMap { tool in
            guard case let .object(t) = tool, case let .object(function)? = t["function"], let name = function["name"]?.stringValue else { return nil }
            return (name, function["parameters"] ?? .obj([("type", .string("object")), ("properties", .obj([]))]))
        }
    }

    /// A JSON Schema's text (`what`, given in `field`: response_format, structured_outputs, a forced
    /// tool choice), when it fits the wire and JSONSchema serves it; else a 400 naming `field`.
    private static func servedSchema(_ text: String, field: String, what: String) throws -> String {
        guard text.utf8.count <= SamplingParams.maxJSONSchemaBytes else {
            throw APIError.invalid(field, "\(field): \(what) is over \(SamplingParams.maxJSONSchemaBytes) bytes as compact JSON")
        }
        do { _ = try JSONSchema(json: Array(text.utf8)) } catch {
            throw APIError.invalid(field, "\(field): \(what) cannot be served as a JSON Schema: \(error)")
        }
        return text
    }

    /// A regular expression (given in `field`) when it fits the wire and RegexAutomaton serves it; else a
    /// 400 naming `field`.
    private static func servedRegex(_ value: Value, field: String) throws -> String {
        try servedText(value, field: field, kind: "a regular expression", noun: "pattern", maxBytes: SamplingParams.maxRegexBytes) {
            _ = try RegexAutomaton(pattern: $0)
        }
    }

    /// A GBNF grammar (given in `field`) when it fits the wire and GBNFGrammar serves it; else a 400 naming
    /// `field` and where in the grammar.
    private static func servedGrammar(_ value: Value, field: String) throws -> String {
        try servedText(value, field: field, kind: "a GBNF grammar", noun: "grammar", maxBytes: SamplingParams.maxGrammarBytes) {
            _ = try GBNFGrammar($0)
        }
    }

    /// A structured output given as text (`kind`, called `noun` in the messages): a non-empty string within
    /// the wire's `maxBytes` that `compile` takes, as the daemons will compile it; else a 400 naming `field`.
    private static func servedText(_ value: Value, field: String, kind: String, noun: String, maxBytes: Int,
                                   compile: (String) throws -> Void) throws -> String {
        guard case let .string(text) = value else { throw APIError.invalid(field, "\(field) must be a string (\(kind))") }
        guard !text.isEmpty else { throw APIError.invalid(field, "\(field): the \(noun) is empty") }
        guard text.utf8.count <= maxBytes else { throw APIError.invalid(field, "\(field): the \(noun) is over \(maxBytes) bytes") }
        do { try compile(text) } catch {
            throw APIError.invalid(field, "\(field): the \(noun) cannot be served: \(error)")
        }
        return text
    }

    /// The request's `tools`, each {"type": "function", "function": {"name": ..., ...}}; [] without.
    static func toolList(_ f: JSONFields) throws -> [Value] {
        guard let value = f["tools"] else { return [] }
        guard case let .array(items) = value else { throw APIError.invalid("tools", "tools must be a list of tool objects") }
        for (i, item) in items.enumerated() {
            guard case let .object(tool) = item, tool["type"]?.stringValue == "function", case let .object(function)? = tool["function"],
                  case let .string(name)? = function["name"], !name.isEmpty else {
                throw APIError.invalid("tools", "tools[\(i)] must be {\"type\": \"function\", \"function\": {\"name\": ...}}")
            }
        }
        return items
    }
}
