import Kernels

/// The compute yardstick: C[n, n] = A[n, n] · B[n, n]ᵀ (the layout of every projection) through
/// `BLAS.gemm` — the process's GEMM backend at the current thread count. The operands are made once
/// and timed as often as the benchmark asks.
final class SgemmPeak {
    private let n: Int
    private let a: Scratch, b: Scratch, c: Scratch

    init(size n: Int = 2048) {
        self.n = n
        a = Scratch(capacity: n * n); b = Scratch(capacity: n * n); c = Scratch(capacity: n * n)
        for i in 0..<n * n { a.pointer[i] = Float(i % 7) * 0.1; b.pointer[i] = Float(i % 5) * 0.1 }
    }

    /// Best-of-`repeats` GFLOP/s.
    func gflops(repeats: Int) -> Double {
        let t = bestTime(repeats: repeats) {
            BLAS.gemm(transB: true, m: n, n: n, k: n, a: a.pointer, lda: n, b: b.pointer, ldb: n, c: c.pointer, ldc: n)
        }
        return 2 * Double(n * n * n) / t / 1e9
    }
}
