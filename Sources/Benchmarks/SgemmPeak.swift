import Kernels

/// The compute yardstick: C[n, n] = A[n, n] · B[n, n]ᵀ (the layout of every projection) through
/// `BLAS.gemm` — the process's GEMM backend at the current thread count — best-of-`repeats`, in GFLOP/s.
func sgemmPeakGFLOPs(size n: Int = 2048, repeats: Int = 5) -> Double {
    let a = Scratch(capacity: n * n), b = Scratch(capacity: n * n), c = Scratch(capacity: n * n)
    for i in 0..<n * n { a.pointer[i] = Float(i % 7) * 0.1; b.pointer[i] = Float(i % 5) * 0.1 }
    let t = bestTime(repeats: repeats) {
        BLAS.gemm(transB: true, m: n, n: n, k: n, a: a.pointer, lda: n, b: b.pointer, ldb: n, c: c.pointer, ldc: n)
    }
    return 2 * Double(n * n * n) / t / 1e9
}
