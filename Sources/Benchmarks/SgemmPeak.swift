import COpenBLAS
import Kernels

/// The compute yardstick: cblas_sgemm C[n, n] = A[n, n] · B[n, n]ᵀ (the layout of every
/// projection) at the current BLAS thread count, best-of-`repeats`, in GFLOP/s.
func sgemmPeakGFLOPs(size n: Int = 2048, repeats: Int = 5) -> Double {
    let a = Scratch(capacity: n * n), b = Scratch(capacity: n * n), c = Scratch(capacity: n * n)
    for i in 0..<n * n { a.pointer[i] = Float(i % 7) * 0.1; b.pointer[i] = Float(i % 5) * 0.1 }
    let t = bestTime(repeats: repeats) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(n), Int32(n), 1,
                    a.pointer, Int32(n), b.pointer, Int32(n), 0, c.pointer, Int32(n))
    }
    return 2 * Double(n * n * n) / t / 1e9
}
