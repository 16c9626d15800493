/// How one request picks its next tokens (vLLM / HF semantics): greedy at temperature 0, otherwise
/// temperature → top-k → top-p, then a draw from the renormalized distribution.
public struct SamplingParams: Sendable, Equatable, Codable {
    public var temperature: Float   // 0 = greedy (below 1e-5 counts as 0, as vLLM)
    public var topK: Int            // 0 = off; ≥ vocab acts as off
    public var topP: Float          // 1 = off
    public var seed: UInt64?        // nil = random seed from the system
    public var stopTokenIDs: [Int]
    public var maxNewTokens: Int
    /// Generate past the model's EOS ids (they end a sequence otherwise, with reason eos).
    public var ignoreEOS: Bool

    public init(temperature: Float = 0, topK: Int = 0, topP: Float = 1, seed: UInt64? = nil,
                stopTokenIDs: [Int] = [], maxNewTokens: Int = 16, ignoreEOS: Bool = false) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.seed = seed
        self.stopTokenIDs = stopTokenIDs
        self.maxNewTokens = maxNewTokens
        self.ignoreEOS = ignoreEOS
    }

    /// True when sampling reduces to argmax.
    public var isGreedy: Bool { temperature < SamplingParams.greedyTemperature }

    /// Temperatures below this are greedy (vLLM's `_SAMPLING_EPS`).
    public static let greedyTemperature: Float = 1e-5

    /// The sampling half of `Admission.validate`: throws AdmissionError naming the field (as the proto
    /// spells it) when temperature < 0 or non-finite, topK < 0, topP not in (0, 1], maxNewTokens < 1,
    /// or a stop id is < 0 or ≥ vocab.
    public func validate(vocabSize: Int) throws {
        func invalid(_ field: String, _ reason: String) -> AdmissionError { AdmissionError(field: field, reason: reason) }
        guard temperature.isFinite && temperature >= 0 else {
            throw invalid("sampling.temperature", "must be finite and ≥ 0, got \(temperature)")
        }
        guard topK >= 0 else { throw invalid("sampling.top_k", "must be ≥ 0 (0 = off), got \(topK)") }
        guard topP > 0 && topP <= 1 else { throw invalid("sampling.top_p", "must be in (0, 1] (1 = off), got \(topP)") }
        guard maxNewTokens >= 1 else { throw invalid("max_new_tokens", "must be ≥ 1, got \(maxNewTokens)") }
        if let bad = stopTokenIDs.first(where: { $0 < 0 || $0 >= vocabSize }) {
            throw invalid("sampling.stop_token_ids", "every id must be in 0..<\(vocabSize) (the vocab), got \(bad)")
        }
    }
}
