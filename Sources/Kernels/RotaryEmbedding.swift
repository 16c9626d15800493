import Foundation

/// Rotary position embedding with precomputed inverse frequencies (default RoPE or YaRN, see
/// `RotaryEmbedding.yarn`), applied as HF transformers does for DeepSeek:
/// with `interleaved` weights the pair (x[2i], x[2i+1]) rotates by pos·invFreq[i]; without it,
/// (x[i], x[i + d/2]). The output is always written de-interleaved (rotated evens, then odds),
/// HF's layout; q·k is the same either way.
public struct RotaryEmbedding: Sendable, Equatable {
    public let dim: Int
    public let invFreq: [Float]          // [dim / 2]
    public let attentionFactor: Float     // multiplies cos and sin (YaRN's mscale ratio, else 1)
    public let interleaved: Bool

    public init(dim: Int, invFreq: [Float], attentionFactor: Float = 1, interleaved: Bool) {
        precondition(dim % 2 == 0 && invFreq.count == dim / 2, "rope dim must be even with dim/2 frequencies")
        self.dim = dim
        self.invFreq = invFreq
        self.attentionFactor = attentionFactor
        self.interleaved = interleaved
    }

    /// Plain RoPE: invFreq[i] = base^(-2i/dim), computed in f32 as torch does.
    public static func standard(dim: Int, base: Double, interleaved: Bool) -> RotaryEmbedding {
        RotaryEmbedding(dim: dim, invFreq: baseFrequencies(dim: dim, base: base).map { 1 / $0 }, interleaved: interleaved)
    }

    /// YaRN, following transformers' `_compute_yarn_parameters`: blend interpolated and extrapolated
    /// frequencies with a linear ramp over the correction range of [betaSlow, betaFast] rotations.
    public static func yarn(
        dim: Int, base: Double, factor: Double, originalMaxPositions: Int,
        betaFast: Double, betaSlow: Double, attentionFactor: Double, truncate: Bool, interleaved: Bool
    ) -> RotaryEmbedding {
        func correctionDim(_ rotations: Double) -> Double {
            Double(dim) * log(Double(originalMaxPositions) / (rotations * 2 * Double.pi)) / (2 * log(base))
        }
        var low = correctionDim(betaFast), high = correctionDim(betaSlow)
        if truncate { low = floor(low); high = ceil(high) }
        low = max(low, 0)
        high = min(high, Double(dim - 1))
        if low == high { high += 0.001 }
        let posFreqs = baseFrequencies(dim: dim, base: base)
        var inv = [Float](repeating: 0, count: dim / 2)
        for i in 0..<dim / 2 {
            // torch evaluates the ramp in f32.
            let ramp = min(max((Float(i) - Float(low)) / (Float(high) - Float(low)), 0), 1)
            let extrapolationWeight = 1 - ramp
            let extrapolated = 1 / posFreqs[i]
            let interpolated = 1 / (Float(factor) * posFreqs[i])
            inv[i] = interpolated * (1 - extrapolationWeight) + extrapolated * extrapolationWeight
        }
        return RotaryEmbedding(dim: dim, invFreq: inv, attentionFactor: Float(attentionFactor), interleaved: interleaved)
    }

    /// YaRN's magnitude correction: 0.1 · mscale · ln(scale) + 1 for scale > 1.
    public static func yarnMscale(_ scale: Double, _ mscale: Double = 1) -> Double {
        scale <= 1 ? 1 : 0.1 * mscale * log(scale) + 1
    }

    // base^(2i/dim) in f32, as torch's `base ** (arange(0, dim, 2).float() / dim)`.
    private static func baseFrequencies(dim: Int, base: Double) -> [Float] {
        (0..<dim / 2).map { i in powf(Float(base), Float(2 * i) / Float(dim)) }
    }

    /// Fills cos/sin tables [rows, dim/2] for the given positions (scaled by attentionFactor).
    public func tables(positions: UnsafePointer<Int32>, rows: Int, cos: UnsafeMutablePointer<Float>, sin: UnsafeMutablePointer<Float>) {
        let half = dim / 2
        for r in 0..<rows {
            let p = Float(positions[r])
            for i in 0..<half {
                let angle = p * invFreq[i]
                cos[r * half + i] = Foundation.cos(angle) * attentionFactor
                sin[r * half + i] = Foundation.sin(angle) * attentionFactor
            }
        }
    }

    /// Rotates `heads` vectors of `dim` floats per row in place. Row r's vectors start at
    /// x + r·rowStride + h·headStride. cos/sin: [rows, dim/2] from `tables`.
    public func apply(
        _ x: UnsafeMutablePointer<Float>, rows: Int, heads: Int, rowStride: Int, headStride: Int,
        cos: UnsafePointer<Float>, sin: UnsafePointer<Float>
    ) {
        let half = dim / 2
        withUnsafeTemporaryAllocation(of: Float.self, capacity: dim) { tmp in
            let t = tmp.baseAddress!
            for r in 0..<rows {
                let c = cos + r * half, s = sin + r * half
                for h in 0..<heads {
                    let v = x + r * rowStride + h * headStride
                    t.update(from: v, count: dim)
                    for i in 0..<half {
                        let a = interleaved ? t[2 * i] : t[i]
                        let b = interleaved ? t[2 * i + 1] : t[i + half]
                        v[i] = a * c[i] - b * s[i]
                        v[i + half] = b * c[i] + a * s[i]
                    }
                }
            }
        }
    }
}
