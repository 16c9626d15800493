/// How one request picks its next tokens (vLLM / HF semantics): greedy at temperature 0, otherwise
/// temperature → top-k → top-p, then a draw from the renormalized distribution.
public struct SamplingParams: Sendable, Equatable, Codable {
    public var temperature: Float   // 0 = greedy (below 1e-5 counts as 0, as vLLM)
    public var topK: Int            // 0 = off; ≥ vocab acts as off
    public var topP: Float          // 1 = off
    public var seed: UInt64?        // nil = random seed from the system
    public var stopTokenIDs: [Int]
    public var maxNewTokens: Int

    public init(temperature: Float = 0, topK: Int = 0, topP: Float = 1, seed: UInt64? = nil,
                stopTokenIDs: [Int] = [], maxNewTokens: Int = 16) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.seed = seed
        self.stopTokenIDs = stopTokenIDs
        self.maxNewTokens = maxNewTokens
    }

    /// True when sampling reduces to argmax.
    public var isGreedy: Bool { temperature < SamplingParams.greedyTemperature }

    /// Temperatures below this are greedy (vLLM's `_SAMPLING_EPS`).
    public static let greedyTemperature: Float = 1e-5

    /// Throws SamplingError.invalid(field:, reason:) naming the field: temperature < 0 or non-finite, topK < 0,
    /// topP not in (0, 1], maxNewTokens < 1, stop id < 0 or ≥ vocab.
    public func validate(vocabSize: Int) throws {
        guard vocabSize >= 1 else {
            throw SamplingError.invalid(field: "vocabSize", reason: "must be ≥ 1, got \(vocabSize)")
        }
        guard temperature.isFinite && temperature >= 0 else {
            throw SamplingError.invalid(field: "temperature", reason: "must be finite and ≥ 0, got \(temperature)")
        }
        guard topK >= 0 else {
            throw SamplingError.invalid(field: "topK", reason: "must be ≥ 0 (0 = off), got \(topK)")
        }
        guard topP > 0 && topP <= 1 else {
            throw SamplingError.invalid(field: "topP", reason: "must be in (0, 1] (1 = off), got \(topP)")
        }
        guard maxNewTokens >= 1 else {
            throw SamplingError.invalid(field: "maxNewTokens", reason: "must be ≥ 1, got \(maxNewTokens)")
        }
        if let bad = stopTokenIDs.first(where: { $0 < 0 || $0 >= vocabSize }) {
            throw SamplingError.invalid(field: "stopTokenIDs",
                                        reason: "every id must be in 0..<\(vocabSize) (the vocab), got \(bad)")
        }
    }
}

/// A sampling parameter that cannot be used; `field` is the `SamplingParams` property name.
public enum SamplingError: Error, CustomStringConvertible, Equatable {
    case invalid(field: String, reason: String)

    public var description: String {
        switch self {
        case let .invalid(field, reason): return "invalid sampling parameter \(field): \(reason)"
        }
    }

    /// The offending field's name.
    public var field: String {
        switch self {
        case let .invalid(field, _): return field
        }
    }
}
