/// y[M, N] (= or +=) alpha · x[M, K] · W[N, K]ᵀ for a few rows (decode batches, 2 ≤ M ≤ maxRows).
///
/// Why not sgemm: OpenBLAS packs the whole weight before multiplying, so at M ≤ 8 it runs at a
/// quarter of memory bandwidth; the decode step is a pass over the weights and should cost one
/// read of them. Here each weight row is loaded once from memory and dotted with every x row
/// (groups of 4 x rows; the row is still in L1 for the second group), the N rows split over the
/// BLAS thread budget.
public enum SkinnyLinear {
    public static let maxRows = 8

    public static func run(
        _ x: UnsafePointer<Float>, rows m: Int, inFeatures k: Int, lda: Int,
        weight w: UnsafePointer<Float>, outFeatures n: Int, ldw: Int,
        into y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool, alpha: Float
    ) {
        precondition(m >= 1 && m <= maxRows, "SkinnyLinear: \(m) rows, expected 1...\(maxRows)")
        // Enough rows per worker to amortise the fan-out; ~1 MiB of weight at least.
        let workers = min(Parallel.workers(for: n), max(1, n * k / (1 << 18)))
        let perWorker = (n + workers - 1) / workers
        Parallel.run(workers: workers) { wk in
            let first = wk * perWorker, last = min(n, first + perWorker)
            var j = first
            while j < last {
                let wr = w + j * ldw
                var r0 = 0
                while r0 < m {
                    let g = min(4, m - r0)
                    let dots = dot4(wr, x + r0 * lda, lda: lda, rows: g, k: k)
                    for r in 0..<g {
                        let out = y + (r0 + r) * ldy + j
                        out.pointee = accumulate ? out.pointee + alpha * dots[r] : alpha * dots[r]
                    }
                    r0 += g
                }
                j += 1
            }
        }
    }

    /// Dots of one weight row with up to 4 x rows (the rest of the result is 0).
    @inline(__always)
    private static func dot4(_ wr: UnsafePointer<Float>, _ x: UnsafePointer<Float>, lda: Int, rows: Int, k: Int) -> SIMD4<Float> {
        typealias V = VectorMath.V
        var a0 = V(), a1 = V(), a2 = V(), a3 = V()
        let x0 = x, x1 = x + (rows > 1 ? lda : 0), x2 = x + (rows > 2 ? 2 * lda : 0), x3 = x + (rows > 3 ? 3 * lda : 0)
        var i = 0
        while i + 8 <= k {
            let wv = VectorMath.load(wr + i)
            a0 += wv * VectorMath.load(x0 + i)
            a1 += wv * VectorMath.load(x1 + i)
            a2 += wv * VectorMath.load(x2 + i)
            a3 += wv * VectorMath.load(x3 + i)
            i += 8
        }
        var d = SIMD4<Float>(a0.sum(), a1.sum(), a2.sum(), a3.sum())
        while i < k {
            let wv = wr[i]
            d += SIMD4(wv * x0[i], wv * x1[i], wv * x2[i], wv * x3[i])
            i += 1
        }
        return d
    }
}
