import Basics
import ChatTemplate
import Foundation

/// OpenAI's response objects for completions and chat completions (whole and streamed chunks).
struct OpenAIResponses {
    let kind: GenerationRequest.Kind
    let id: String
    let created: Int
    let model: String
    /// Chat: the reply's role (GenerationRequest.replyRole).
    let role: String

    init(kind: GenerationRequest.Kind, model: String, role: String = "assistant") {
        self.kind = kind
        self.model = model
        self.role = role
        created = Int(Date().timeIntervalSince1970)
        let hex = UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        id = (kind == .chat ? "chatcmpl-" : "cmpl-") + hex
    }

    private var head: [(String, Value)] {
        [("id", .string(id)), ("object", .string(kind == .chat ? "chat.completion" : "text_completion")),
         ("created", .int(created)), ("model", .string(model))]
    }

    private var chunkHead: [(String, Value)] {
        [("id", .string(id)), ("object", .string(kind == .chat ? "chat.completion.chunk" : "text_completion")),
         ("created", .int(created)), ("model", .string(model))]
    }

    /// `cached`: with `--enable-prompt-tokens-details`, the prompt tokens taken from the prefix cache
    /// (OpenAI's and vLLM's `prompt_tokens_details.cached_tokens`).
    static func usage(prompt: Int, completion: Int, cached: Int? = nil) -> Value {
        var fields: [(String, Value)] = [("prompt_tokens", .int(prompt)), ("total_tokens", .int(prompt + completion)),
                                         ("completion_tokens", .int(completion))]
        if let cached { fields.append(("prompt_tokens_details", .obj([("cached_tokens", .int(cached))]))) }
        return .obj(fields)
    }

    /// vLLM's `stop_reason`: the stop token id or stop string that ended a "stop"; null for EOS and
    /// every other reason.
    static func stopReason(_ reason: StopReason?) -> Value {
        switch reason {
        case .token(let id)?: return .int(id)
        case .text(let s)?: return .string(s)
        case nil: return .none
        }
    }

    /// The whole response: choices in index order; `logprobs[i]` the choice's logprobs object (null
    /// when not asked for); `promptLogprobs[i]` vLLM's prompt_logprobs of choice i (completions: on each
    /// choice; chat: the first's, on the response), when asked for.
    func complete(texts: [String], finishReasons: [String], stopReasons: [StopReason?], logprobs: [Value],
                  promptLogprobs: [Value]? = nil, toolCalls: [[ToolCall]]? = nil, reasoning: [String]? = nil, usage: Value) -> Value {
        let choices: [Value] = texts.indices.map { i in
            let stop = Self.stopReason(stopReasons[i])
            switch kind {
            case .completion:
                return .obj([("index", .int(i)), ("text", .string(texts[i])), ("logprobs", logprobs[i]),
                             ("finish_reason", .string(finishReasons[i])), ("stop_reason", stop)]
                            + (promptLogprobs.map { [("prompt_logprobs", $0[i])] } ?? []))
            case .chat:
                let calls = toolCalls?[i] ?? []
                // As vLLM: content null when the model wrote only tool calls.
                let content: Value = calls.isEmpty || !texts[i].isEmpty ? .string(texts[i]) : .none
                // vLLM's reasoning_content (with a reasoning parser): null when the model did not reason.
                let thought: [(String, Value)] = reasoning.map { [("reasoning_content", $0[i].isEmpty ? .none : .string($0[i]))] } ?? []
                return .obj([("index", .int(i)),
                             ("message", .obj([("role", .string(role)), ("content", content)] + thought
                                              + [("tool_calls", .array(calls.map { Self.toolCall($0, index: nil) }))])),
                             ("logprobs", logprobs[i]), ("finish_reason", .string(finishReasons[i])), ("stop_reason", stop)])
            }
        }
        let chatPromptLogprobs: [(String, Value)] = kind == .chat ? (promptLogprobs?.first.map { [("prompt_logprobs", $0)] } ?? []) : []
        return .obj(head + [("choices", .array(choices)), ("usage", usage)] + chatPromptLogprobs)
    }

    /// A streamed chunk for one choice: text and/or its finish reason (chat: `role` on the first).
    /// `stop_reason` as vLLM streams it: on every completion chunk (null until the end), on the
    /// finishing chat chunk only. `usage`: the field's value when `withUsageField` (null but for
    /// continuous usage stats).
    /// `toolCalls`: the pieces of the choice's tool calls this chunk carries.
    func chunk(index: Int, text: String, finishReason: String?, stopReason: StopReason? = nil, first: Bool, withUsageField: Bool,
               usage: Value = .none, logprobs: Value = .none, toolCalls: [ToolCallDelta] = [],
               reasoning: String = "") -> Value {
        let reason: Value = finishReason.map { .string($0) } ?? .none
        let choice: Value
        switch kind {
        case .completion:
            choice = .obj([("index", .int(index)), ("text", .string(text)), ("logprobs", logprobs), ("finish_reason", reason),
                           ("stop_reason", Self.stopReason(stopReason))])
        case .chat:
            var delta: [(String, Value)] = []
            if first { delta.append(("role", .string(role))) }
            if !reasoning.isEmpty { delta.append(("reasoning_content", .string(reasoning))) }
            if !text.isEmpty || first { delta.append(("content", .string(text))) }
            if !toolCalls.isEmpty {
                delta.append(("tool_calls", .array(toolCalls.map(Self.toolCallDelta))))
            }
            var fields: [(String, Value)] = [("index", .int(index)), ("delta", .obj(delta)), ("logprobs", logprobs), ("finish_reason", reason)]
            if finishReason != nil { fields.append(("stop_reason", Self.stopReason(stopReason))) }
            choice = .obj(fields)
        }
        var fields = chunkHead + [("choices", .array([choice]))]
        if withUsageField { fields.append(("usage", usage)) }
        return .obj(fields)
    }

    /// A tool call as OpenAI sends it in a message.
    static func toolCall(_ call: ToolCall, index: Int?) -> Value {
        .obj((index.map { [("index", Value.int($0))] } ?? []) + [
            ("id", .string(call.id)), ("type", .string("function")),
            ("function", .obj([("name", .string(call.name)), ("arguments", .string(call.arguments))])),
        ])
    }

    /// A piece of a tool call in a streamed delta, as vLLM sends it: the first with the call's id,
    /// type and name, every one with its `index` and arguments.
    static func toolCallDelta(_ d: ToolCallDelta) -> Value {
        guard let id = d.id, let name = d.name else {
            return .obj([("index", .int(d.call)), ("function", .obj([("arguments", .string(d.arguments))]))])
        }
        return toolCall(ToolCall(id: id, name: name, arguments: d.arguments), index: d.call)
    }

    /// The last chunk with `stream_options.include_usage`: no choices, the usage.
    func usageChunk(_ usage: Value) -> Value { .obj(chunkHead + [("choices", .array([])), ("usage", usage)]) }
}
