import CKernels

/// 8-wide float loops for the passes BLAS does not cover (softmax, SiLU, norms). The exp-based
/// passes are CKernels' per-ISA code (Cephes expf: max relative error ≈ 1e-7 over [−87, 88],
/// KernelsTests checks it against Foundation.exp); the rest is plain SIMD8 arithmetic, which
/// compiles to the same results on any x86-64 (two SSE halves on baseline).
public enum VectorMath {
    public typealias V = SIMD8<Float>

    @inline(__always)
    public static func load(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }

    @inline(__always)
    public static func store(_ v: V, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self) }

    /// Scalar e^x: the same formula as every variant's vector exp (CKernels' ck_exp).
    @inline(__always)
    public static func exp(_ x: Float) -> Float { ck_exp(x) }

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

    /// Indices of the `k` largest of x[0..<n] into out[0..<k], largest first, the lower index first on
    /// ties, NaN never; returns how many were found (fewer than k when n is, or NaNs leave fewer).
    /// An insertion into a sorted list: once it is full most values fail the first comparison.
    public static func largest(_ x: UnsafePointer<Float>, count n: Int, k: Int, into out: UnsafeMutablePointer<Int32>) -> Int {
        guard k > 0 else { return 0 }
        @inline(__always) func above(_ i: Int, _ j: Int) -> Bool { x[i] > x[j] || (x[i] == x[j] && i < j) }
        var found = 0
        for i in 0..<n where !x[i].isNaN {
            if found == k && !above(i, Int(out[k - 1])) { continue }
            var slot = found < k ? found : k - 1
            if found < k { found += 1 }
            while slot > 0 && above(i, Int(out[slot - 1])) {
                out[slot] = out[slot - 1]
                slot -= 1
            }
            out[slot] = Int32(i)
        }
        return found
    }

    /// x[i] = e^(x[i] − shift) for i < n; returns Σ x[i] (this CPU's variant).
    @inline(__always)
    public static func expShifted(_ x: UnsafeMutablePointer<Float>, count n: Int, shift: Float) -> Float {
        KernelTable.active.expShifted(x, n, shift)
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
