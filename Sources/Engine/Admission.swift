import DeepSeekModel
import StructuredOutput

/// A request the engine cannot serve; `field` is the request field's name as the public API
/// (Protos/latentserve.proto) spells it, e.g. "prompt_token_ids" or "sampling.top_p".
public struct AdmissionError: Error, Equatable, CustomStringConvertible {
    public let field: String
    public let reason: String

    public init(field: String, reason: String) {
        self.field = field
        self.reason = reason
    }

    public var description: String { "\(field): \(reason)" }
}

/// The one admission check for a generation request, used by pd-run's `Generator`, the prefill
/// daemon and the decode daemon: a non-empty prompt of ids in the vocab, prompt + max_new_tokens
/// within max_position_embeddings, and valid sampling parameters.
public enum Admission {
    /// Throws `AdmissionError` naming the first field `config`'s model cannot serve.
    public static func validate<T: BinaryInteger>(prompt: [T], params: SamplingParams, config: DeepSeekConfig) throws {
        guard !prompt.isEmpty else { throw AdmissionError(field: "prompt_token_ids", reason: "empty prompt: at least one token is required") }
        if let bad = prompt.first(where: { $0 < 0 || $0 >= config.vocabSize }) {
            throw AdmissionError(field: "prompt_token_ids", reason: "token id \(bad) out of range (vocab size \(config.vocabSize))")
        }
        try params.validate(vocabSize: config.vocabSize)
        let total = prompt.count + params.maxNewTokens
        guard total <= config.maxPositionEmbeddings else {
            throw AdmissionError(field: "max_new_tokens", reason: "prompt \(prompt.count) + max_new_tokens \(params.maxNewTokens) exceeds the context limit \(config.maxPositionEmbeddings)")
        }
    }
}

extension Admission {
    /// What `params`' json_object / json_schema / regex / grammar samples under: the schema, pattern or grammar compiled, and
    /// the token bytes from the tokenizer in `model`'s folder (loaded once per process); nil for every other
    /// request. Throws AdmissionError when the folder has no tokenizer. `params` passed `validate`.
    public static func grammar(for params: SamplingParams, model: DeepSeekTransformer) throws -> StructuredGrammar? {
        guard params.usesByteGrammar, let field = params.structuredField else { return nil }
        guard let folder = model.directory else {
            throw AdmissionError(field: field, reason: "the model was not loaded from a folder, so there is no vocabulary to constrain")
        }
        let vocabulary: TokenVocabulary
        do { vocabulary = try TokenVocabulary.load(folder: folder, vocabSize: model.config.vocabSize) } catch {
            throw AdmissionError(field: field, reason: "\(error)")
        }
        do {
            if let text = params.jsonSchema {
                return .jsonSchema(try JSONSchema(json: Array(text.utf8), anyWhitespace: !params.disableAnyWhitespace), vocabulary)
            }
            if let pattern = params.regex { return .regex(try RegexAutomaton(pattern: pattern), vocabulary) }
            if let text = params.grammar { return .grammar(try GBNFGrammar(text), vocabulary) }
        } catch {
            throw AdmissionError(field: field, reason: "\(error)")
        }
        return .jsonObject(vocabulary, anyWhitespace: !params.disableAnyWhitespace)
    }
}
