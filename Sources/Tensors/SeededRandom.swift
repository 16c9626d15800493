#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Deterministic randomness for synthetic weights: xoshiro256** seeded by SplitMix64; normals by
/// Box–Muller, one (cos, sin) pair per two uniforms, the second value kept for the next call.
/// `fillNormal` draws exactly the sequence repeated `nextNormal` calls would.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64
    private var spareNormal: Float = 0
    private var hasSpare = false

    public init(seed: UInt64) {
        var x = seed
        func splitMix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitMix(); s1 = splitMix(); s2 = splitMix(); s3 = splitMix()
    }

    /// Raw state (must not be all zero), for checking against the reference outputs.
    init(state: (UInt64, UInt64, UInt64, UInt64)) {
        (s0, s1, s2, s3) = state
    }

    /// xoshiro256**.
    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = rotateLeft(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = rotateLeft(s3, 45)
        return result
    }

    /// Uniform in [0, 1), 24 random bits.
    @inline(__always)
    public mutating func nextUniform() -> Float { Float(next() >> 40) * 0x1p-24 }

    /// Standard normal.
    @inline(__always)
    public mutating func nextNormal() -> Float {
        if hasSpare {
            hasSpare = false
            return spareNormal
        }
        let (a, b) = normalPair()
        spareNormal = b
        hasSpare = true
        return a
    }

    /// Fills `out` with mean + std · N(0, 1), the same values as that many `nextNormal()` calls.
    public mutating func fillNormal(_ out: UnsafeMutableBufferPointer<Float>, mean: Float = 0, std: Float = 1) {
        var i = 0
        let n = out.count
        if n > 0 && hasSpare {
            out[0] = mean + std * spareNormal
            hasSpare = false
            i = 1
        }
        while i + 1 < n {
            let (a, b) = normalPair()
            out[i] = mean + std * a
            out[i + 1] = mean + std * b
            i += 2
        }
        if i < n { out[i] = mean + std * nextNormal() }
    }

    /// Fills `out` with uniforms in [low, high), the same draws as that many `nextUniform()` calls.
    public mutating func fillUniform(_ out: UnsafeMutableBufferPointer<Float>, low: Float = 0, high: Float = 1) {
        let width = high - low
        for i in 0..<out.count { out[i] = low + width * nextUniform() }
    }

    /// Two independent N(0, 1) from one 64-bit draw split into two 32-bit uniforms:
    /// r = sqrt(-2 ln u1) with u1 in (0, 1], angle 2π u2.
    @inline(__always)
    private mutating func normalPair() -> (Float, Float) {
        let bits = next()
        let u1 = Float((bits >> 40) + 1) * 0x1p-24                 // (0, 1]: log stays finite
        let u2 = Float((bits >> 16) & 0xFF_FFFF) * 0x1p-24          // [0, 1)
        let radius = (-2 * logf(u1)).squareRoot()
        let angle = 2 * Float.pi * u2
        return (radius * cosf(angle), radius * sinf(angle))
    }

    @inline(__always)
    private func rotateLeft(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}
