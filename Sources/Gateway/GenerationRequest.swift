import Basics
import ChatTemplate
import ModelText
import Wire

/// An OpenAI completions / chat completions request, checked and turned into prompt ids and the
/// decode daemon's sampling parameters. Every parameter is either honoured or refused with a 400
/// naming it.
struct GenerationRequest {
    enum Kind { case completion, chat }

    let kind: Kind
    let model: String
    /// The prompts (a completions request may list several), `n` choices each: choice i answers
    /// prompts[i / n] (vLLM's index = prompt index × n + sample index).
    let prompts: [[Int]]
    let n: Int
    var choiceCount: Int { prompts.count * n }
    /// `echo`: each choice's text starts with `echoTexts` of its prompt.
    let echo: Bool
    /// Completions' echo: the choices start with the prompt, their logprobs (if asked) with its tokens',
    /// and max_tokens may be 0 (chat's echo repeats a message, never the prompt).
    let echoesPrompt: Bool
    /// What each prompt's choices start with under `echo` (else empty): completions — the prompt (the
    /// string as sent; token ids decoded); chat — the last message's content when its role is the
    /// reply's (vLLM: a begun assistant reply, with continue_final_message, comes back whole).
    let echoTexts: [String]
    /// Chat: the reply's role — "assistant", or with add_generation_prompt false the last message's (vLLM).
    let replyRole: String
    /// Per prompt; 0 only with completions' echo (vLLM's echo with max_tokens 0: the prompt and its
    /// logprobs alone, as lm-evaluation-harness scores a text).
    let maxTokens: [Int]
    let sampling: SamplingParams
    let stop: [String]
    /// vLLM's `include_stop_str_in_output`: the matched stop string ends the text instead of being cut.
    let includeStopString: Bool
    /// vLLM's `skip_special_tokens` (default true): whether special tokens' text is left out.
    let skipSpecialTokens: Bool
    let stream: Bool
    let includeUsage: Bool
    /// stream_options.continuous_usage_stats: usage (so far) on every chunk.
    let continuousUsage: Bool
    /// nil: no logprobs; else how many most likely tokens each token lists (chat: `logprobs` true and
    /// `top_logprobs`; completions: `logprobs`).
    let topLogprobs: Int?
    /// vLLM's `prompt_logprobs` (k most likely tokens at each prompt position); not with stream.
    let promptLogprobs: Int?
    /// Whether the choices' logprobs start with the prompt's tokens (completions' echo with logprobs).
    var echoesLogprobs: Bool { echoesPrompt && topLogprobs != nil }
    /// Completions' echo with max_tokens 0: each choice is its prompt, nothing generated.
    var echoesOnly: Bool { echoesPrompt && maxTokens.allSatisfy { $0 == 0 } }
    /// Chat `tools` (rendered by the chat template) and whether the output is read for tool calls
    /// (tool_choice "auto" with `--tool-call-parser`); `parallel_tool_calls` false keeps the first.
    let tools: [Value]
    let parsesToolCalls: Bool
    /// A tool_choice that makes the reply tool calls (guided by the tools' parameters as JSON Schema).
    let forcedTools: ForcedToolCalls?
    let parallelToolCalls: Bool
    /// Stop strings are not looked for before this many tokens (vLLM's min_tokens; the daemons hold
    /// EOS and the stop ids off until then).
    let minTokens: Int
    /// vLLM's `cache_salt`: the prompt reuses prefill prefix-cache pages only of prompts with the same salt ("" without).
    let cacheSalt: String
    /// vLLM's `priority` (lower first), honoured by a decode started with `--scheduling-policy priority`
    /// (any other refuses a non-zero one with a 400 naming the flag); 0 without.
    let priority: Int32

    /// Fields read and honoured.
    private static let common: Set<String> = [
        "model", "max_tokens", "temperature", "top_p", "top_k", "min_p", "seed", "stop", "stop_token_ids", "ignore_eos",
        "stream", "stream_options", "user", "n", "best_of", "logprobs", "presence_penalty",
        "frequency_penalty", "repetition_penalty", "logit_bias", "tools", "tool_choice", "functions", "function_call",
        "suffix", "min_tokens", "response_format", "parallel_tool_calls", "prompt_logprobs", "include_stop_str_in_output",
        "skip_special_tokens", "echo", "add_special_tokens", "truncate_prompt_tokens", "allowed_token_ids", "bad_words",
        "structured_outputs", "guided_choice", "guided_json", "guided_regex", "guided_grammar", "grammar", "cache_salt", "priority",
    ]
    private static let completionOnly: Set<String> = ["prompt"]
    private static let chatOnly = Set(["messages", "max_completion_tokens", "add_generation_prompt", "top_logprobs",
                                       "chat_template_kwargs", "continue_final_message", "audio", "modalities", "web_search_options",
                                       "moderation"]).union(ignoredChat)
    /// OpenAI chat parameters that leave the reply as it is without them (storage, billing tiers, prompt
    /// caching hints, end-user ids, predicted outputs, effort hints for OpenAI's own models): read for their
    /// types, then ignored, as vLLM ignores them. The openai SDK sends each only when the caller sets it.
    private static let ignoredChat: Set<String> = ["store", "metadata", "service_tier", "prompt_cache_key", "prompt_cache_retention",
                                                  "prompt_cache_options", "safety_identifier", "reasoning_effort", "verbosity", "prediction"]

    init(body: String, kind: Kind, model served: ServedModel) throws {
        let f = try JSONFields(body: body)
        self.kind = kind
        let known = Self.common.union(kind == .completion ? Self.completionOnly : Self.chatOnly)
        if let unknown = f.object.keys.first(where: { !known.contains($0) }) {
            throw APIError.invalid(unknown, "Unrecognized request argument supplied: \(unknown)")
        }
        try Self.refuseUnsupported(f, kind: kind)

        guard let model = try f.string("model") else { throw APIError.invalid("model", "model is required") }
        guard model == served.name else {
            throw APIError(status: 404, message: "The model `\(model)` does not exist (this server serves `\(served.name)`)",
                           type: "NotFoundError", param: "model")
        }
        self.model = model

        let forced: (calls: ForcedToolCalls, schema: String)?
        (tools, parsesToolCalls, forced) = try Self.tools(f, kind: kind, served: served)
        forcedTools = forced?.calls
        parallelToolCalls = try f.bool("parallel_tool_calls") ?? true
        var prompts: [[Int]], promptTexts: [String?]   // the strings as sent (nil for token ids)
        var lastMessage: OrderedDictionary?              // chat: the last message (chat echo, the reply's role)
        switch kind {
        case .completion: (prompts, promptTexts) = try Self.completionPrompts(f, served)
        case .chat:
            let messages = try Self.chatMessages(f)
            if case let .object(message)? = messages.last { lastMessage = message }
            (prompts, promptTexts) = ([try Self.chatPrompt(f, served, messages: messages, tools: tools)], [nil])
        }
        // vLLM's truncate_prompt_tokens: only the last k prompt tokens (-1: the context length); a cut
        // prompt echoes as its kept tokens' text.
        if let keep = try f.int("truncate_prompt_tokens") {
            guard keep >= 1 || keep == -1 else {
                throw APIError.invalid("truncate_prompt_tokens", "truncate_prompt_tokens must be ≥ 1 (the last k prompt tokens) or -1 (the context length), got \(keep)")
            }
            guard keep <= served.contextLength else {
                throw APIError.invalid("truncate_prompt_tokens", "truncate_prompt_tokens (\(keep)) is greater than the model's context length (\(served.contextLength))")
            }
            let k = keep == -1 ? served.contextLength : keep
            for i in prompts.indices where prompts[i].count > k {
                prompts[i] = Array(prompts[i].suffix(k))
                promptTexts[i] = nil
            }
        }
        self.prompts = prompts
        n = try f.int("n") ?? 1
        guard n >= 1 && n <= Self.maxChoices else { throw APIError.invalid("n", "n must be in 1...\(Self.maxChoices), got \(n)") }
        if let bestOf = try f.int("best_of"), bestOf != n {
            throw APIError.unsupported("best_of", "only best_of = n (each choice is returned)")
        }
        let echo = try f.bool("echo") ?? false
        self.echo = echo
        echoesPrompt = kind == .completion && echo
        switch kind {
        case .completion:
            replyRole = "assistant"
            echoTexts = zip(prompts, promptTexts).map { echo ? $1 ?? served.text.decode($0) : "" }
        case .chat:
            let lastRole = lastMessage?["role"]?.stringValue ?? "assistant"   // chatMessages checked it is a string
            let lastContent = lastMessage?["content"]?.stringValue ?? ""
            replyRole = try f.bool("add_generation_prompt") ?? true ? "assistant" : lastRole
            echoTexts = [echo && lastRole == replyRole ? lastContent : ""]
        }
        for prompt in prompts where prompt.count >= served.contextLength {
            throw APIError.invalid(kind == .chat ? "messages" : "prompt",
                                   "This model's maximum context length is \(served.contextLength) tokens. However, your prompt has \(prompt.count) tokens (at least one token must be left to generate).")
        }

        // Length: max_tokens (legacy; completions default 16 as OpenAI) or max_completion_tokens;
        // chat defaults to the rest of the context.
        let maxField = f.has("max_completion_tokens") ? "max_completion_tokens" : "max_tokens"
        let requested = try f.int(maxField)
        if let requested, requested < (echoesPrompt ? 0 : 1) {
            throw APIError.invalid(maxField, "\(maxField) must be at least 1 (0 only with echo: the prompt alone), got \(requested)")
        }
        maxTokens = try prompts.map { prompt in
            let room = served.contextLength - prompt.count
            let value = requested ?? (kind == .completion ? min(16, room) : room)
            guard value <= room else {
                throw APIError.invalid(maxField, "This model's maximum context length is \(served.contextLength) tokens. However, you requested \(prompt.count + value) tokens (\(prompt.count) in the prompt, \(value) for the completion).")
            }
            return value
        }

        let temperature = try f.double("temperature") ?? 1
        guard temperature >= 0 && temperature.isFinite else { throw APIError.invalid("temperature", "temperature must be ≥ 0") }
        let topP = try f.double("top_p") ?? 1
        guard topP > 0 && topP <= 1 else { throw APIError.invalid("top_p", "top_p must be in (0, 1]") }
        let minP = try f.double("min_p") ?? 0
        guard minP >= 0 && minP <= 1 else { throw APIError.invalid("min_p", "min_p must be in [0, 1] (0 = off), got \(minP)") }
        var topK = try f.int("top_k") ?? 0
        if topK == -1 { topK = 0 }   // vLLM's "off"
        guard topK >= 0 else { throw APIError.invalid("top_k", "top_k must be ≥ 0 (or -1 / 0 for off)") }
        let seed = try f.int("seed")
        if let seed, seed < 0 { throw APIError.invalid("seed", "seed must be ≥ 0") }
        let stopIDs = try Self.tokenIDs(f["stop_token_ids"], field: "stop_token_ids", vocab: served.vocabSize, allowEmpty: true)
        var penalties: [String: Double] = [:]
        for field in ["presence_penalty", "frequency_penalty"] {
            let value = try f.double(field) ?? 0
            guard value >= -2 && value <= 2 else { throw APIError.invalid(field, "\(field) must be in [-2, 2], got \(value)") }
            penalties[field] = value
        }
        let repetition = try f.double("repetition_penalty") ?? 1
        guard Float(repetition) > 0 && Float(repetition).isFinite else {   // as the daemons receive it (a Float)
            throw APIError.invalid("repetition_penalty", "repetition_penalty must be > 0 (1 = off), got \(repetition)")
        }
        minTokens = try f.int("min_tokens") ?? 0
        // vLLM's check: a salt, when given, is a non-empty string; ours also bounds it to what the wire carries.
        cacheSalt = try f.string("cache_salt") ?? ""
        if f["cache_salt"] != nil && cacheSalt.isEmpty {
            throw APIError.invalid("cache_salt", "Parameter 'cache_salt' must be a non-empty string if provided.")
        }
        guard cacheSalt.utf8.count <= maxIdentifierBytes else {
            throw APIError.invalid("cache_salt", "cache_salt must be at most \(maxIdentifierBytes) bytes, got \(cacheSalt.utf8.count)")
        }
        let priority = try f.int("priority") ?? 0
        guard let wirePriority = Int32(exactly: priority) else {
            throw APIError.invalid("priority", "priority must be an integer in \(Int32.min)...\(Int32.max), got \(priority)")
        }
        self.priority = wirePriority
        guard minTokens >= 0 else { throw APIError.invalid("min_tokens", "min_tokens must be ≥ 0, got \(minTokens)") }
        if let shortest = maxTokens.min(), minTokens > shortest {
            throw APIError.invalid("min_tokens", "min_tokens (\(minTokens)) must be ≤ \(maxField) (\(shortest))")
        }
        topLogprobs = try Self.topLogprobs(f, kind: kind)
        promptLogprobs = try f.int("prompt_logprobs")
        if let k = promptLogprobs {
            guard k >= 0 && k <= 20 else { throw APIError.invalid("prompt_logprobs", "prompt_logprobs must be in 0...20, got \(k)") }
            if try f.bool("stream") == true { throw APIError.invalid("prompt_logprobs", "prompt_logprobs are not available when stream is true") }
        }
        // The prompt's logprobs, for prompt_logprobs and for echo with logprobs (the larger k of the two).
        let promptTop = [promptLogprobs, echoesPrompt ? topLogprobs : nil].compactMap { $0 }.max()
        var structured = try Self.structuredOutput(f, served)
        if let forced {
            guard structured.field == nil else {
                throw APIError.invalid("tool_choice", "a forced tool choice is itself a structured output: not with response_format or structured_outputs")
            }
            structured = Structured(field: "tool_choice", jsonSchema: forced.schema)
        }
        // Every structured output (a forced tool choice too) needs EOS free to end the reply.
        if let field = structured.field,
           try f.bool("ignore_eos") == true || (try f.int("min_tokens") ?? 0) > 0 || f["allowed_token_ids"] != nil {
            throw APIError.invalid(field, "a structured output ends with EOS: not with ignore_eos, min_tokens or allowed_token_ids")
        }
        // vLLM applies a structured output after the reasoning: a chat whose prompt leaves <think> open
        // (--reasoning-parser) is constrained from its </think> on.
        let reasoningEnd = structured.field != nil ? served.reasoning.flatMap {
            kind == .chat && $0.startsInReasoning(prompt: prompts[0]) ? [UInt32($0.close)] : nil
        } : nil
        sampling = SamplingParams(temperature: Float(temperature), topK: UInt32(topK), topP: Float(topP), minP: Float(minP),
                                  seed: UInt64(seed ?? 0),
                                  stopTokenIds: stopIDs.map { UInt32($0) }, ignoreEos: try f.bool("ignore_eos") ?? false,
                                  presencePenalty: Float(penalties["presence_penalty"]!), frequencyPenalty: Float(penalties["frequency_penalty"]!),
                                  repetitionPenalty: Float(repetition), minTokens: UInt32(minTokens),
                                  logitBias: try Self.logitBias(f, vocab: served.vocabSize), topLogprobs: UInt32(topLogprobs ?? 0),
                                  promptLogprobs: promptTop != nil, promptTopLogprobs: UInt32(promptTop ?? 0), seedGiven: seed != nil,
                                  allowedTokenIds: try Self.tokenIDs(f["allowed_token_ids"], field: "allowed_token_ids",
                                                                     vocab: served.vocabSize, allowEmpty: false).map { UInt32($0) },
                                  badWords: try Self.badWords(f, served), choice: structured.choice, jsonObject: structured.jsonObject,
                                  structuredAfter: reasoningEnd ?? [], jsonSchema: structured.jsonSchema ?? "",
                                  regex: structured.regex ?? "", grammar: structured.grammar ?? "",
                                  disableAnyWhitespace: structured.disableAnyWhitespace)

        switch f["stop"] {
        case nil: stop = []
        case let .string(s)?: stop = [s]
        case let .array(items)?:
            stop = try items.map {
                guard case let .string(s) = $0 else { throw APIError.invalid("stop", "stop must be a string or a list of strings") }
                return s
            }
        default: throw APIError.invalid("stop", "stop must be a string or a list of strings")
        }
        if stop.contains("") { throw APIError.invalid("stop", "stop strings must not be empty") }
        includeStopString = try f.bool("include_stop_str_in_output") ?? false
        skipSpecialTokens = try f.bool("skip_special_tokens") ?? true

        stream = try f.bool("stream") ?? false
        let options = try f.object("stream_options")
        if options != nil && !stream { throw APIError.invalid("stream_options", "stream_options is only allowed with stream: true") }
        if let options, let extra = options.object.keys.first(where: { $0 != "include_usage" && $0 != "continuous_usage_stats" }) {
            throw APIError.unsupported("stream_options.\(extra)")
        }
        includeUsage = try options?.bool("include_usage") ?? false
        // vLLM's extension: every chunk carries the usage so far (with include_usage, as vLLM has it).
        let continuous = try options?.bool("continuous_usage_stats") ?? false
        continuousUsage = includeUsage && continuous
    }

    /// Chat: `logprobs` (a boolean) and `top_logprobs` (0...20, only with logprobs true, as vLLM);
    /// completions: `logprobs`, the number of most likely tokens (0...20). nil when not asked for.
    private static func topLogprobs(_ f: JSONFields, kind: Kind) throws -> Int? {
        let limit = 20
        switch kind {
        case .chat:
            let wanted = try f.bool("logprobs") ?? false
            guard let top = try f.int("top_logprobs") else { return wanted ? 0 : nil }
            guard wanted else { throw APIError.invalid("top_logprobs", "when using top_logprobs, logprobs must be set to true") }
            guard top >= 0 && top <= limit else { throw APIError.invalid("top_logprobs", "top_logprobs must be in 0...\(limit), got \(top)") }
            return top
        case .completion:
            guard let top = try f.int("logprobs") else { return nil }
            guard top >= 0 && top <= limit else { throw APIError.invalid("logprobs", "logprobs must be in 0...\(limit), got \(top)") }
            return top
        }
    }

    /// `logit_bias`: {"token id": bias}, each bias clamped to [-100, 100] as OpenAI and vLLM do.
    private static func logitBias(_ f: JSONFields, vocab: Int) throws -> [LogitBias] {
        guard let bias = try f.object("logit_bias") else { return [] }
        var seen = Set<Int>()
        return try bias.object.keys.map { key in
            guard let id = Int(key), id >= 0 && id < vocab else {
                throw APIError.invalid("logit_bias", "logit_bias keys must be token ids in 0..<\(vocab), got \"\(key)\"")
            }
            guard seen.insert(id).inserted else { throw APIError.invalid("logit_bias", "token id \(id) is listed twice") }
            guard let value = try? bias.double(key), value.isFinite else {
                throw APIError.invalid("logit_bias", "logit_bias[\"\(key)\"] must be a number")
            }
            return LogitBias(tokenId: UInt32(id), bias: Float(min(100, max(-100, value))))
        }
    }

    /// vLLM's `bad_words` as token sequences, as vLLM tokenizes them: each word (leading whitespace dropped)
    /// alone, and with one leading space when that makes a different first token in as many tokens (the
    /// word in mid-text); no special tokens.
    private static func badWords(_ f: JSONFields, _ served: ServedModel) throws -> [[UInt32]] {
        guard let value = f["bad_words"] else { return [] }
        var sequences: [[Int]] = []
        for word in try strings(value, field: "bad_words") {
            let bare = String(word.drop(while: \.isWhitespace))
            let alone = served.text.tokenizer.encode(bare, addSpecialTokens: false)
            guard !alone.isEmpty else { throw APIError.invalid("bad_words", "bad word \(Value.string(word).compactJSON) has no tokens") }
            sequences.append(alone)
            let spaced = served.text.tokenizer.encode(" " + bare, addSpecialTokens: false)
            if spaced.first != alone.first && spaced.count == alone.count { sequences.append(spaced) }
        }
        return sequences.map { $0.map { UInt32($0) } }
    }

    /// A JSON list of strings, else a 400 naming `field`.
    static func strings(_ value: Value, field: String) throws -> [String] {
        guard case let .array(items) = value else { throw APIError.invalid(field, "\(field) must be a list of strings") }
        return try items.map {
            guard case let .string(s) = $0 else { throw APIError.invalid(field, "\(field) must be a list of strings") }
            return s
        }
    }

    /// Most choices one request may ask for (OpenAI's limit for n).
    static let maxChoices = 128

    /// Parameters accepted only at their neutral value.
    private static func refuseUnsupported(_ f: JSONFields, kind: Kind) throws {
        if try f.string("suffix") != nil { throw APIError.unsupported("suffix") }
        if let value = f["functions"] {
            if case let .array(items) = value, items.isEmpty {} else { throw APIError.unsupported("functions", "the deprecated functions: use tools") }
        }
        if let call = f["function_call"], call.stringValue != "none" {
            throw APIError.unsupported("function_call", "the deprecated function_call: use tool_choice")
        }
        guard kind == .chat else { return }
        // OpenAI's output options that would change the reply: only their neutral values.
        if f.has("audio") { throw APIError.unsupported("audio", "audio output") }
        if let value = f["modalities"] {
            guard case let .array(items) = value, items.allSatisfy({ $0.stringValue != nil }) else {
                throw APIError.invalid("modalities", "modalities must be a list of strings")
            }
            if items.contains(where: { $0.stringValue != "text" }) { throw APIError.unsupported("modalities", "only [\"text\"]") }
        }
        if f.has("web_search_options") { throw APIError.unsupported("web_search_options", "web search") }
        if f.has("moderation") { throw APIError.unsupported("moderation", "moderation of the input and output") }
        // The ignored ones still have to be what OpenAI takes.
        _ = try f.bool("store")
        for key in ["service_tier", "prompt_cache_key", "prompt_cache_retention", "safety_identifier", "reasoning_effort", "verbosity"] {
            _ = try f.string(key)
        }
        for key in ["prompt_cache_options", "prediction"] { _ = try f.object(key) }
        if let metadata = try f.object("metadata"), metadata.object.values.contains(where: { $0.stringValue == nil }) {
            throw APIError.invalid("metadata", "metadata must map keys to string values")
        }
    }

    /// `prompt`: a string, a list of strings, a list of token ids, or a list of such lists; the ids
    /// and (for strings) the text of each.
    private static func completionPrompts(_ f: JSONFields, _ served: ServedModel) throws -> ([[Int]], [String?]) {
        guard let prompt = f["prompt"] else { throw APIError.invalid("prompt", "prompt is required") }
        let addSpecialTokens = try f.bool("add_special_tokens") ?? true   // vLLM's completions default: the tokenizer's BOS
        func text(_ s: String) throws -> [Int] {
            guard !s.isEmpty else { throw APIError.invalid("prompt", "prompt must not be empty") }
            return served.text.encode(prompt: s, addSpecialTokens: addSpecialTokens)
        }
        switch prompt {
        case let .string(s): return ([try text(s)], [s])
        case let .array(items):
            guard let first = items.first else { throw APIError.invalid("prompt", "prompt must not be empty") }
            switch first {
            case .string:
                let strings = try items.map {
                    guard case let .string(s) = $0 else { throw APIError.invalid("prompt", "prompt lists must not mix strings and other values") }
                    return s
                }
                return (try strings.map(text), strings)
            case .int: return ([try tokenIDs(prompt, field: "prompt", vocab: served.vocabSize, allowEmpty: false)], [nil])
            case .array:
                return (try items.map { try tokenIDs($0, field: "prompt", vocab: served.vocabSize, allowEmpty: false) },
                        Array(repeating: nil, count: items.count))
            default: throw APIError.invalid("prompt", "prompt must be a string, a list of strings, or token ids")
            }
        default: throw APIError.invalid("prompt", "prompt must be a string, a list of strings, or token ids")
        }
    }

    /// `messages` (`chatMessages`: text parts of list contents joined) rendered by the checkpoint's chat
    /// template, with vLLM's `chat_template_kwargs` as extra template variables (e.g. {"thinking":
    /// true}), its `continue_final_message` (the last message left open for the model to continue: an
    /// assistant reply's start; with add_generation_prompt false) and `add_special_tokens` (default
    /// false: the template writes BOS); the one rendering of a chat, for generation and /tokenize alike.
    static func chatPrompt(_ f: JSONFields, _ served: ServedModel, messages: [Value], tools: [Value]) throws -> [Int] {
        let addGenerationPrompt = try f.bool("add_generation_prompt") ?? true
        let continueFinalMessage = try f.bool("continue_final_message") ?? false
        if continueFinalMessage && addGenerationPrompt {
            throw APIError.invalid("continue_final_message", "Cannot set both continue_final_message and add_generation_prompt to true (add_generation_prompt defaults to true)")
        }
        var extra: [String: Value] = [:]
        for (name, value) in try f.object("chat_template_kwargs")?.object.pairs ?? [] {
            guard !["messages", "tools", "add_generation_prompt", "continue_final_message"].contains(name) else {
                throw APIError.invalid("chat_template_kwargs", "chat_template_kwargs must not set \(name) (a request field of its own)")
            }
            extra[name] = value
        }
        do {
            return try served.text.encode(chat: messages, addGenerationPrompt: addGenerationPrompt,
                                          continueFinalMessage: continueFinalMessage, tools: tools.isEmpty ? nil : tools, extra: extra,
                                          addSpecialTokens: try f.bool("add_special_tokens") ?? false).ids
        } catch {
            throw APIError.invalid("messages", "the chat template could not render these messages: \(error)")
        }
    }

    static func chatMessages(_ f: JSONFields) throws -> [Value] {
        guard case let .array(items)? = f["messages"], !items.isEmpty else {
            throw APIError.invalid("messages", "messages must be a non-empty list of message objects")
        }
        return try items.enumerated().map { i, item in
            guard case var .object(message) = item, case .string? = message["role"] else {
                throw APIError.invalid("messages[\(i)]", "each message must be an object with a string \"role\"")
            }
            if case let .array(parts)? = message["content"] {
                let texts = try parts.map { part -> String in
                    guard case let .object(p) = part, case .string("text")? = p["type"], case let .string(text)? = p["text"] else {
                        throw APIError.unsupported("messages[\(i)].content", "only text parts ({\"type\": \"text\", \"text\": ...})")
                    }
                    return text
                }
                message["content"] = .string(texts.joined(separator: "\n"))
            }
            return .object(message)
        }
    }

    /// A list of token ids, each in the vocabulary.
    static func tokenIDs(_ value: Value?, field: String, vocab: Int, allowEmpty: Bool) throws -> [Int] {
        guard let value else { return [] }
        guard case let .array(items) = value else { throw APIError.invalid(field, "\(field) must be a list of token ids") }
        if items.isEmpty && !allowEmpty { throw APIError.invalid(field, "\(field) must not be empty") }
        return try items.map {
            guard case let .int(id) = $0 else { throw APIError.invalid(field, "\(field) must be a list of integers") }
            guard id >= 0 && id < vocab else { throw APIError.invalid(field, "token id \(id) is outside the vocabulary (0..<\(vocab))") }
            return id
        }
    }
}
