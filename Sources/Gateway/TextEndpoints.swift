import ChatTemplate
import Hummingbird

/// vLLM's POST /tokenize and /detokenize.
struct TextEndpoints: Sendable {
    let served: ServedModel

    /// {"prompt": "..."} or {"messages": [...], "add_generation_prompt", "continue_final_message", "tools",
    /// "chat_template_kwargs"}, optional "model", "add_special_tokens" → {"count", "max_model_len", "tokens",
    /// "token_strs"}.
    func tokenize(body: String) throws -> Value {
        let f = try JSONFields(body: body)
        try checkModel(f)
        let ids: [Int]
        if f.has("messages") {
            ids = try GenerationRequest.chatPrompt(f, served, messages: try GenerationRequest.chatMessages(f),
                                                   tools: try GenerationRequest.toolList(f))
        } else if let prompt = try f.string("prompt") {
            // A plain prompt gets the tokenizer's specials (BOS) unless add_special_tokens is false.
            ids = served.text.encode(prompt: prompt, addSpecialTokens: try f.bool("add_special_tokens") ?? true)
        } else {
            throw APIError.invalid("prompt", "prompt (a string) or messages is required")
        }
        let tokenStrings: Value
        if try f.bool("return_token_strs") == true {
            tokenStrings = .array(ids.map { .string(served.text.tokenizer.token(for: $0) ?? "") })
        } else {
            tokenStrings = .none
        }
        return .obj([("count", .int(ids.count)), ("max_model_len", .int(served.contextLength)),
                     ("tokens", .array(ids.map { .int($0) })), ("token_strs", tokenStrings)])
    }

    /// {"tokens": [...]} → {"prompt": text}.
    func detokenize(body: String) throws -> Value {
        let f = try JSONFields(body: body)
        try checkModel(f)
        guard f.has("tokens") else { throw APIError.invalid("tokens", "tokens (a list of token ids) is required") }
        let ids = try GenerationRequest.tokenIDs(f["tokens"], field: "tokens", vocab: served.vocabSize, allowEmpty: true)
        return .obj([("prompt", .string(served.text.decode(ids, skipSpecialTokens: false)))])
    }

    private func checkModel(_ f: JSONFields) throws {
        if let model = try f.string("model"), model != served.name {
            throw APIError(status: 404, message: "The model `\(model)` does not exist (this server serves `\(served.name)`)",
                           type: "NotFoundError", param: "model")
        }
    }
}
