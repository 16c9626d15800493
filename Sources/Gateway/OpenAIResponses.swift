import ChatTemplate
import Foundation

/// OpenAI's response objects for completions and chat completions (whole and streamed chunks).
struct OpenAIResponses {
    let kind: GenerationRequest.Kind
    let id: String
    let created: Int
    let model: String

    init(kind: GenerationRequest.Kind, model: String) {
        self.kind = kind
        self.model = model
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

    static func usage(prompt: Int, completion: Int) -> Value {
        .obj([("prompt_tokens", .int(prompt)), ("total_tokens", .int(prompt + completion)), ("completion_tokens", .int(completion))])
    }

    /// The whole response: choices in index order.
    func complete(texts: [String], finishReasons: [String], usage: Value) -> Value {
        let choices: [Value] = texts.indices.map { i in
            switch kind {
            case .completion:
                return .obj([("index", .int(i)), ("text", .string(texts[i])), ("logprobs", .none),
                             ("finish_reason", .string(finishReasons[i])), ("stop_reason", .none)])
            case .chat:
                return .obj([("index", .int(i)),
                             ("message", .obj([("role", "assistant"), ("content", .string(texts[i])), ("tool_calls", .array([]))])),
                             ("logprobs", .none), ("finish_reason", .string(finishReasons[i])), ("stop_reason", .none)])
            }
        }
        return .obj(head + [("choices", .array(choices)), ("usage", usage)])
    }

    /// A streamed chunk for one choice: text and/or its finish reason (chat: `role` on the first).
    /// `usage`: the field's value when `withUsageField` (null but for continuous usage stats).
    func chunk(index: Int, text: String, finishReason: String?, first: Bool, withUsageField: Bool, usage: Value = .none) -> Value {
        let reason: Value = finishReason.map { .string($0) } ?? .none
        let choice: Value
        switch kind {
        case .completion:
            choice = .obj([("index", .int(index)), ("text", .string(text)), ("logprobs", .none), ("finish_reason", reason)])
        case .chat:
            var delta: [(String, Value)] = []
            if first { delta.append(("role", "assistant")) }
            if !text.isEmpty || first { delta.append(("content", .string(text))) }
            choice = .obj([("index", .int(index)), ("delta", .obj(delta)), ("logprobs", .none), ("finish_reason", reason)])
        }
        var fields = chunkHead + [("choices", .array([choice]))]
        if withUsageField { fields.append(("usage", usage)) }
        return .obj(fields)
    }

    /// The last chunk with `stream_options.include_usage`: no choices, the usage.
    func usageChunk(_ usage: Value) -> Value { .obj(chunkHead + [("choices", .array([])), ("usage", usage)]) }
}
