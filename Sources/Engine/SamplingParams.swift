import Basics
import StructuredOutput

extension TokenAutomaton {
    /// Largest automaton a request may carry (edges, and nodes).
    public static let maxEdges = 1 << 20

    /// The choice constraint's part of `SamplingParams.validate`: edges well formed and deterministic,
    /// tokens in the vocab, and an accepting node.
    func validate(vocabSize: Int) throws {
        func invalid(_ reason: String) -> AdmissionError { AdmissionError(field: "sampling.choice", reason: reason) }
        guard from.count == token.count && token.count == to.count else { throw invalid("from, token and to must have one entry per edge") }
        guard from.count <= Self.maxEdges && !accepting.isEmpty else { throw invalid("needs 1...\(Self.maxEdges) edges and an accepting node") }
        guard (from + to + accepting).allSatisfy({ $0 >= 0 && $0 <= Self.maxEdges }) else { throw invalid("a node index is out of range") }
        if let bad = token.first(where: { $0 < 0 || $0 >= vocabSize }) { throw invalid("every token must be in 0..<\(vocabSize), got \(bad)") }
        var seen = Set<Int>()
        for i in from.indices where !seen.insert(from[i] &* vocabSize &+ token[i]).inserted {
            throw invalid("node \(from[i]) has two edges on token \(token[i])")
        }
    }
}

/// One token's additive logit bias (OpenAI's `logit_bias`).
public struct TokenBias: Sendable, Equatable, Codable {
    public var token: Int
    public var bias: Float
    public init(token: Int, bias: Float) { self.token = token; self.bias = bias }
}

/// How one request picks its next tokens (vLLM / HF semantics): the logits processors (allowed_token_ids,
/// bad words, min_tokens, logit_bias, then the repetition / frequency / presence penalties), then greedy
/// at temperature 0, otherwise temperature → min-p → top-k → top-p (vLLM's order) and a draw from the
/// renormalized distribution.
public struct SamplingParams: Sendable, Equatable, Codable {
    public var temperature: Float   // 0 = greedy (below 1e-5 counts as 0, as vLLM)
    public var topK: Int            // 0 = off; ≥ vocab acts as off
    public var topP: Float          // 1 = off
    /// vLLM's min_p: tokens whose tempered probability is below minP × the top token's are dropped; 0 = off.
    public var minP: Float
    public var seed: UInt64?        // nil = random seed from the system
    public var stopTokenIDs: [Int]
    public var maxNewTokens: Int
    /// Generate past the model's EOS ids (they end a sequence otherwise, with reason eos).
    public var ignoreEOS: Bool
    /// vLLM's penalties: presence and frequency over the generated tokens (subtracted once / per
    /// occurrence), repetition over prompt and generated tokens (HF's: logit / p when positive, × p otherwise).
    public var presencePenalty: Float   // 0 = off
    public var frequencyPenalty: Float  // 0 = off
    public var repetitionPenalty: Float // 1 = off
    /// EOS (unless ignoreEOS) and the stop ids cannot be sampled before this many tokens.
    public var minTokens: Int
    public var logitBias: [TokenBias]
    /// The k most likely tokens (raw logits) reported beside each sampled one; 0 = none.
    public var topLogprobs: Int
    /// vLLM's prompt_logprobs: each prompt token's logprob (after the first) with the k most likely
    /// tokens at its position; nil = none.
    public var promptLogprobs: Int?
    /// vLLM's allowed_token_ids: every other token's logit is −inf before the other processors; empty = all.
    public var allowedTokenIDs: [Int]
    /// vLLM's bad words as token sequences: the last token of each is −inf when the generated tokens end
    /// with the rest of it (a one-token word always).
    public var badWords: [[Int]]
    /// A choice constraint (structured output; nil = none): only token paths through the automaton, then
    /// the model's EOS at an accepting node.
    public var choice: TokenAutomaton?
    /// Structured output as one JSON object (`response_format` json_object): only tokens that keep the
    /// text a JSON object's beginning, then EOS once it has closed (needs the model's vocabulary).
    public var jsonObject: Bool
    /// Structured output as one value of this JSON Schema (JSON text; `response_format` json_schema):
    /// only tokens that keep the text such a value's beginning, then EOS (needs the model's vocabulary).
    public var jsonSchema: String?
    /// Structured output as one whole match of this regular expression (Python `re` syntax; vLLM's
    /// `structured_outputs.regex`): only tokens that keep the text a match's beginning, then EOS.
    public var regex: String?
    /// Structured output as one whole match of this GBNF grammar (llama.cpp's grammar format; vLLM's
    /// `structured_outputs.grammar`): only tokens that keep the text a match's beginning, then EOS.
    public var grammar: String?
    /// With jsonObject / jsonSchema: no whitespace between the JSON's tokens (vLLM's
    /// `disable_any_whitespace`); else up to `JSONGrammar.maxWhitespaceRun` bytes of it in a row.
    public var disableAnyWhitespace: Bool
    /// The structured output applies after one of these tokens is generated (vLLM starts it where a
    /// reasoning parser's block ends: `</think>`); empty: from the first token.
    public var structuredAfter: [Int]

    public init(temperature: Float = 0, topK: Int = 0, topP: Float = 1, seed: UInt64? = nil,
                stopTokenIDs: [Int] = [], maxNewTokens: Int = 16, ignoreEOS: Bool = false,
                presencePenalty: Float = 0, frequencyPenalty: Float = 0, repetitionPenalty: Float = 1,
                minTokens: Int = 0, logitBias: [TokenBias] = [], topLogprobs: Int = 0, promptLogprobs: Int? = nil,
                minP: Float = 0, allowedTokenIDs: [Int] = [], badWords: [[Int]] = [], choice: TokenAutomaton? = nil,
                jsonObject: Bool = false, jsonSchema: String? = nil, regex: String? = nil, grammar: String? = nil,
                structuredAfter: [Int] = [], disableAnyWhitespace: Bool = false) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.seed = seed
        self.stopTokenIDs = stopTokenIDs
        self.maxNewTokens = maxNewTokens
        self.ignoreEOS = ignoreEOS
        self.presencePenalty = presencePenalty
        self.frequencyPenalty = frequencyPenalty
        self.repetitionPenalty = repetitionPenalty
        self.minTokens = minTokens
        self.logitBias = logitBias
        self.topLogprobs = topLogprobs
        self.promptLogprobs = promptLogprobs
        self.allowedTokenIDs = allowedTokenIDs
        self.badWords = badWords
        self.choice = choice
        self.jsonObject = jsonObject
        self.jsonSchema = jsonSchema
        self.regex = regex
        self.grammar = grammar
        self.structuredAfter = structuredAfter
        self.disableAnyWhitespace = disableAnyWhitespace
    }

    /// True when sampling reduces to argmax.
    public var isGreedy: Bool { temperature < SamplingParams.greedyTemperature }

    /// Temperatures below this are greedy (vLLM's `_SAMPLING_EPS`).
    public static let greedyTemperature: Float = 1e-5

    /// Most top logprobs a token may carry (vLLM's default `max_logprobs`, OpenAI's `top_logprobs` limit).
    public static let maxTopLogprobs = 20

    /// A structured output constrains the tokens: they must end with EOS where the structure ends.
    public var isStructured: Bool { choice != nil || usesByteGrammar }

    /// A structured output masked by a byte grammar over the vocabulary (json_object, json_schema, regex,
    /// grammar): the sampler needs what `Admission.grammar` builds.
    public var usesByteGrammar: Bool { jsonObject || jsonSchema != nil || regex != nil || grammar != nil }

    /// The structured outputs given, by their field as the proto spells it (`validate` allows one).
    private var structuredFields: [String] {
        [("sampling.choice", choice != nil), ("sampling.json_object", jsonObject), ("sampling.json_schema", jsonSchema != nil),
         ("sampling.regex", regex != nil), ("sampling.grammar", grammar != nil)].filter(\.1).map(\.0)
    }

    /// The structured output's field (nil: none); errors about it name this.
    public var structuredField: String? { structuredFields.first }

    /// True when a logits processor changes the logits before sampling.
    public var hasPenalties: Bool { presencePenalty != 0 || frequencyPenalty != 0 || repetitionPenalty != 1 }

    /// The sampling half of `Admission.validate`: throws AdmissionError naming the field (as the proto
    /// spells it) when temperature < 0 or non-finite, topK < 0, topP not in (0, 1], minP not in [0, 1],
    /// maxNewTokens < 1, a stop id is < 0 or ≥ vocab, a penalty is out of vLLM's range (presence / frequency in [−2, 2],
    /// repetition > 0), minTokens < 0, a biased token is out of the vocab, listed twice or its bias not
    /// finite, an allowed token id or a bad word's is out of the vocab, a bad word is empty, or topLogprobs
    /// or promptLogprobs is not in 0...20.
    public func validate(vocabSize: Int) throws {
        func invalid(_ field: String, _ reason: String) -> AdmissionError { AdmissionError(field: field, reason: reason) }
        guard temperature.isFinite && temperature >= 0 else {
            throw invalid("sampling.temperature", "must be finite and ≥ 0, got \(temperature)")
        }
        guard topK >= 0 else { throw invalid("sampling.top_k", "must be ≥ 0 (0 = off), got \(topK)") }
        guard topP > 0 && topP <= 1 else { throw invalid("sampling.top_p", "must be in (0, 1] (1 = off), got \(topP)") }
        guard minP >= 0 && minP <= 1 else { throw invalid("sampling.min_p", "must be in [0, 1] (0 = off), got \(minP)") }
        guard maxNewTokens >= 1 else { throw invalid("max_new_tokens", "must be ≥ 1, got \(maxNewTokens)") }
        if let bad = stopTokenIDs.first(where: { $0 < 0 || $0 >= vocabSize }) {
            throw invalid("sampling.stop_token_ids", "every id must be in 0..<\(vocabSize) (the vocab), got \(bad)")
        }
        for (field, value) in [("sampling.presence_penalty", presencePenalty), ("sampling.frequency_penalty", frequencyPenalty)] {
            guard value.isFinite && abs(value) <= 2 else { throw invalid(field, "must be in [-2, 2] (0 = off), got \(value)") }
        }
        guard repetitionPenalty.isFinite && repetitionPenalty > 0 else {
            throw invalid("sampling.repetition_penalty", "must be finite and > 0 (1 = off), got \(repetitionPenalty)")
        }
        guard minTokens >= 0 else { throw invalid("sampling.min_tokens", "must be ≥ 0, got \(minTokens)") }
        if let bad = allowedTokenIDs.first(where: { $0 < 0 || $0 >= vocabSize }) {
            throw invalid("sampling.allowed_token_ids", "every id must be in 0..<\(vocabSize) (the vocab), got \(bad)")
        }
        if let choice { try choice.validate(vocabSize: vocabSize) }
        // A schema or pattern is compiled once, by Admission.grammar, which names the field when it cannot be.
        if let regex, regex.isEmpty { throw invalid("sampling.regex", "the pattern is empty") }
        if let grammar, grammar.isEmpty { throw invalid("sampling.grammar", "the grammar is empty") }
        if let field = structuredField {
            guard structuredFields.count == 1 else {
                throw invalid(field, "one structured output at a time (choice, json_object, json_schema, regex, grammar)")
            }
            guard !ignoreEOS && minTokens == 0 && allowedTokenIDs.isEmpty else {
                throw invalid(field, "a structured output ends with EOS: not with ignore_eos, min_tokens or allowed_token_ids")
            }
        }
        guard !disableAnyWhitespace || jsonObject || jsonSchema != nil else {
            throw invalid("sampling.disable_any_whitespace", "only with a JSON structured output (json_object or json_schema)")
        }
        if let bad = structuredAfter.first(where: { $0 < 0 || $0 >= vocabSize }) {
            throw invalid("sampling.structured_after", "every id must be in 0..<\(vocabSize) (the vocab), got \(bad)")
        }
        guard structuredAfter.isEmpty || isStructured else {
            throw invalid("sampling.structured_after", "only with a structured output (choice, json_object, json_schema, regex or grammar)")
        }
        for word in badWords {
            guard !word.isEmpty else { throw invalid("sampling.bad_words", "a bad word has no tokens") }
            if let bad = word.first(where: { $0 < 0 || $0 >= vocabSize }) {
                throw invalid("sampling.bad_words", "every id must be in 0..<\(vocabSize) (the vocab), got \(bad)")
            }
        }
        var biased = Set<Int>()
        for entry in logitBias {
            guard entry.token >= 0 && entry.token < vocabSize else {
                throw invalid("sampling.logit_bias", "every token id must be in 0..<\(vocabSize) (the vocab), got \(entry.token)")
            }
            guard entry.bias.isFinite else { throw invalid("sampling.logit_bias", "token \(entry.token)'s bias must be finite, got \(entry.bias)") }
            guard biased.insert(entry.token).inserted else { throw invalid("sampling.logit_bias", "token \(entry.token) is listed twice") }
        }
        guard (0...Self.maxTopLogprobs).contains(topLogprobs) else {
            throw invalid("sampling.top_logprobs", "must be in 0...\(Self.maxTopLogprobs), got \(topLogprobs)")
        }
        if let promptLogprobs, !(0...Self.maxTopLogprobs).contains(promptLogprobs) {
            throw invalid("sampling.prompt_top_logprobs", "must be in 0...\(Self.maxTopLogprobs), got \(promptLogprobs)")
        }
    }
}
