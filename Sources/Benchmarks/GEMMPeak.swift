import Kernels

/// The compute yardstick of a GEMM path: y[n, n] = x[n, n] · Wᵀ through `BLAS.linear` with W [n, n]
/// stored as `dtype` — the path a model's projections take on the process's GEMM backend at the
/// current thread count: f32 straight into sgemm, bf16 / f16 / FP8 one converted panel at a time
/// into sgemm. The operands are made once and timed as often as the benchmark asks.
final class GEMMPeak {
    let dtype: StoredWeightCopies.DType
    private let n: Int
    private let x: Scratch, y: Scratch
    private let weight: StoredWeightCopies

    init(dtype: StoredWeightCopies.DType, size n: Int = 2048) {
        self.dtype = dtype; self.n = n
        x = Scratch(capacity: n * n); y = Scratch(capacity: n * n)
        for i in 0..<n * n { x.pointer[i] = Float(i % 7) * 0.1 }
        weight = StoredWeightCopies(dtype, rows: n, cols: n, sweepBytes: 0)
    }

    /// Best-of-`repeats` GFLOP/s.
    func gflops(repeats: Int) -> Double {
        let t = bestTime(repeats: repeats) { BLAS.linear(x.pointer, rows: n, weight: weight.matrices[0], into: y.pointer) }
        return 2 * Double(n * n * n) / t / 1e9
    }

    /// "bf16 panels + sgemm on oneDNN 2.6.3", "sgemm on OpenBLAS Zen".
    var pathName: String { (dtype == .f32 ? "" : "\(dtype.rawValue) panels + ") + "sgemm on \(GEMMBackend.active.name)" }
}

extension StoredWeightCopies.DType {
    /// The dtype a model's projections are stored in (its first layer's output projection: a
    /// checkpoint stores its linear weights alike).
    init(of storage: WeightMatrix.Storage) {
        switch storage {
        case .f32: self = .f32
        case .bf16: self = .bf16
        case .f16: self = .f16
        case .fp8E4M3: self = .fp8
        }
    }
}
