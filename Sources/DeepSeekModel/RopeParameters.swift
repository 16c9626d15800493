import Kernels

/// `rope_scaling` (Hub) or `rope_parameters` (transformers ≥ 5): the same keys either way, except
/// that the Hub spells the kind `type` and keeps `rope_theta` beside it.
public struct RopeParameters: Codable, Equatable, Sendable {
    public var ropeType: String?
    public var ropeTheta: Double?
    public var factor: Double?
    public var originalMaxPositionEmbeddings: Int?
    public var betaFast: Double?
    public var betaSlow: Double?
    public var mscale: Double?
    public var mscaleAllDim: Double?
    public var attentionFactor: Double?
    public var truncate: Bool?

    enum CodingKeys: String, CodingKey {
        case ropeType = "rope_type", type, ropeTheta = "rope_theta", factor
        case originalMaxPositionEmbeddings = "original_max_position_embeddings"
        case betaFast = "beta_fast", betaSlow = "beta_slow", mscale, mscaleAllDim = "mscale_all_dim"
        case attentionFactor = "attention_factor", truncate
    }

    public init() {}

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        ropeType = try c.decodeIfPresent(String.self, forKey: .ropeType) ?? c.decodeIfPresent(String.self, forKey: .type)
        ropeTheta = try c.decodeIfPresent(Double.self, forKey: .ropeTheta)
        factor = try c.decodeIfPresent(Double.self, forKey: .factor)
        originalMaxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .originalMaxPositionEmbeddings)
        betaFast = try c.decodeIfPresent(Double.self, forKey: .betaFast)
        betaSlow = try c.decodeIfPresent(Double.self, forKey: .betaSlow)
        mscale = try c.decodeIfPresent(Double.self, forKey: .mscale)
        mscaleAllDim = try c.decodeIfPresent(Double.self, forKey: .mscaleAllDim)
        attentionFactor = try c.decodeIfPresent(Double.self, forKey: .attentionFactor)
        truncate = try c.decodeIfPresent(Bool.self, forKey: .truncate)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(ropeType, forKey: .ropeType)
        try c.encodeIfPresent(ropeTheta, forKey: .ropeTheta)
        try c.encodeIfPresent(factor, forKey: .factor)
        try c.encodeIfPresent(originalMaxPositionEmbeddings, forKey: .originalMaxPositionEmbeddings)
        try c.encodeIfPresent(betaFast, forKey: .betaFast)
        try c.encodeIfPresent(betaSlow, forKey: .betaSlow)
        try c.encodeIfPresent(mscale, forKey: .mscale)
        try c.encodeIfPresent(mscaleAllDim, forKey: .mscaleAllDim)
        try c.encodeIfPresent(attentionFactor, forKey: .attentionFactor)
        try c.encodeIfPresent(truncate, forKey: .truncate)
    }

    /// The rotary embedding and the softmax-scale multiplier (mscale² under YaRN) of the attention.
    public func settings(headDim: Int, maxPositions: Int, interleaved: Bool = true) throws -> (rope: RotaryEmbedding, scaleMultiplier: Float) {
        let base = ropeTheta ?? 10000
        switch ropeType ?? "default" {
        case "default":
            return (RotaryEmbedding.standard(dim: headDim, base: base, interleaved: interleaved), 1)
        case "yarn":
            // transformers: factor defaults to max_position_embeddings / original_max_position_embeddings.
            let configFactor = factor ?? originalMaxPositionEmbeddings.map { Double(maxPositions) / Double($0) } ?? 0
            guard configFactor > 0 else {
                throw ModelError.configInvalid(field: "rope_scaling.factor", reason: "YaRN needs a positive factor")
            }
            let original = originalMaxPositionEmbeddings ?? maxPositions
            let factor = configFactor
            let attention: Double
            if let given = attentionFactor {
                attention = given
            } else if let m = mscale, let mAll = mscaleAllDim, m != 0, mAll != 0 {
                attention = RotaryEmbedding.yarnMscale(factor, m) / RotaryEmbedding.yarnMscale(factor, mAll)
            } else {
                attention = RotaryEmbedding.yarnMscale(factor)
            }
            let rope = RotaryEmbedding.yarn(
                dim: headDim, base: base, factor: factor, originalMaxPositions: original,
                betaFast: betaFast ?? 32, betaSlow: betaSlow ?? 1, attentionFactor: attention,
                truncate: truncate ?? true, interleaved: interleaved)
            // Softmax scale: × mscale(factor, mscale_all_dim)² when mscale_all_dim is set.
            var multiplier: Float = 1
            if let mAll = mscaleAllDim, mAll != 0 {
                let m = RotaryEmbedding.yarnMscale(configFactor, mAll)
                multiplier = Float(m * m)
            }
            return (rope, multiplier)
        case let other:
            throw ModelError.unsupported(feature: "rope type '\(other)' (supported: default, yarn)")
        }
    }
}
