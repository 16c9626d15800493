/// 8-wide float loops for the passes BLAS does not cover (softmax, SiLU, norms). `exp` is a
/// Cody–Waite range reduction + degree-6 polynomial (Cephes expf): max relative error ≈ 1e-7 over
/// [−87, 88] (KernelsTests checks it against Foundation.exp). Written without rounding or
/// int↔float conversion calls so it compiles to straight SIMD code on baseline x86-64.
public enum VectorMath {
    public typealias V = SIMD8<Float>

    @inline(__always)
    public static func load(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }

    @inline(__always)
    public static func store(_ v: V, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self) }

    /// e^x per lane; x below −87.3 gives ≈ 1e−38 (not 0), x above 88.7 saturates near Float.max.
    @inline(__always)
    public static func exp(_ x: V) -> V {
        let lo = V(repeating: -87.3), hi = V(repeating: 88.7)
        let xc = x.replacing(with: lo, where: x .< lo).replacing(with: hi, where: x .> hi)
        // n = round(x / ln 2) via the 1.5·2²³ trick; its low mantissa bits are n as an integer.
        let magic = V(repeating: 12_582_912)
        let t = xc * 1.442_695_04 + magic
        let n = t - magic
        let r = (xc - n * 0.693_359_375) - n * (-2.121_944_40e-4)      // x − n·ln 2 in two parts
        var p = V(repeating: 1.987_569_150_0e-4)
        p = p * r + 1.398_199_950_7e-3
        p = p * r + 8.333_451_907_3e-3
        p = p * r + 4.166_579_589_4e-2
        p = p * r + 1.666_666_545_9e-1
        p = p * r + 5.000_000_120_1e-1
        let y = p * r * r + r + 1
        let bits = ((unsafeBitCast(t, to: SIMD8<Int32>.self) &- 0x4B40_0000) &+ 127) &<< 23   // 2^n
        return y * unsafeBitCast(bits, to: V.self)
    }

    /// Scalar e^x with the same formula (tails of 8-wide loops), so results do not depend on alignment.
    @inline(__always)
    public static func exp(_ x: Float) -> Float { exp(V(repeating: x))[0] }

    /// max of x[0..<n] (−inf when n == 0).
    @inline(__always)
    public static func max(_ x: UnsafePointer<Float>, count n: Int) -> Float {
        var m = V(repeating: -.infinity)
        var i = 0
        while i + 8 <= n { let v = load(x + i); m = m.replacing(with: v, where: v .> m); i += 8 }
        var s = -Float.infinity
        for j in 0..<8 where m[j] > s { s = m[j] }
        while i < n { if x[i] > s { s = x[i] }; i += 1 }
        return s
    }

    /// x[i] = e^(x[i] − shift) for i < n; returns Σ x[i].
    @inline(__always)
    public static func expShifted(_ x: UnsafeMutablePointer<Float>, count n: Int, shift: Float) -> Float {
        let s = V(repeating: shift)
        var acc = V()
        var i = 0
        while i + 8 <= n {
            let e = exp(load(x + i) - s)
            store(e, x + i)
            acc += e
            i += 8
        }
        var total = acc.sum()
        while i < n { let e = exp(x[i] - shift); x[i] = e; total += e; i += 1 }
        return total
    }

    /// x[i] *= a for i < n.
    @inline(__always)
    public static func scale(_ x: UnsafeMutablePointer<Float>, count n: Int, by a: Float) {
        let av = V(repeating: a)
        var i = 0
        while i + 8 <= n { store(load(x + i) * av, x + i); i += 8 }
        while i < n { x[i] *= a; i += 1 }
    }

    /// y[i] = a · x[i] for i < n.
    @inline(__always)
    public static func scaled(_ x: UnsafePointer<Float>, count n: Int, by a: Float, into y: UnsafeMutablePointer<Float>) {
        let av = V(repeating: a)
        var i = 0
        while i + 8 <= n { store(load(x + i) * av, y + i); i += 8 }
        while i < n { y[i] = x[i] * a; i += 1 }
    }

    /// Σ x[i]² for i < n.
    @inline(__always)
    public static func sumOfSquares(_ x: UnsafePointer<Float>, count n: Int) -> Float {
        var acc = V()
        var i = 0
        while i + 8 <= n { let v = load(x + i); acc += v * v; i += 8 }
        var s = acc.sum()
        while i < n { s += x[i] * x[i]; i += 1 }
        return s
    }
}
