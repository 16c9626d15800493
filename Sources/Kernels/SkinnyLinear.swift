/// y[M, N] (= or +=) alpha · x[M, K] · W[N, K]ᵀ for a few rows (decode batches, 2 ≤ M ≤ maxRows).
///
/// Why not sgemm: OpenBLAS packs the whole weight before multiplying, so at M ≤ 8 it runs at a
/// quarter of memory bandwidth, while a decode step should cost one read of the weights. Here a
/// pair of weight rows is streamed once from memory (software-prefetched ahead: one core's
/// hardware prefetch alone keeps too few lines in flight) and dotted with the x rows four at a
/// time (a second group of four re-reads the pair from L1/L2). The N rows are split over the
/// BLAS thread budget.
public enum SkinnyLinear {
    public static let maxRows = 8
    /// Prefetch distance in floats (4 KiB ahead of the weight row being read).
    static let prefetchAhead = 1024

    public static func run(
        _ x: UnsafePointer<Float>, rows m: Int, inFeatures k: Int, lda: Int,
        weight w: UnsafePointer<Float>, outFeatures n: Int, ldw: Int,
        into y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool, alpha: Float
    ) {
        precondition(m >= 1 && m <= maxRows, "SkinnyLinear: \(m) rows, expected 1...\(maxRows)")
        // At least ~1 MiB of weight per worker, so the fan-out pays for itself.
        let workers = min(Parallel.workers(for: n), max(1, n * k / (1 << 18)))
        let perWorker = ((n + workers - 1) / workers + 1) & ~1               // even: pairs of rows
        Parallel.run(workers: workers) { wk in
            let first = min(n, wk * perWorker), last = min(n, first + perWorker)
            var j = first
            while j < last {
                let pair = j + 1 < last
                let w0 = w + j * ldw, w1 = pair ? w0 + ldw : w0
                var r0 = 0
                while r0 < m {
                    let g = min(4, m - r0)
                    let (d0, d1) = dots(w0, w1, x + r0 * lda, lda: lda, rows: g, k: k)
                    for r in 0..<g {
                        let out = y + (r0 + r) * ldy + j
                        out[0] = accumulate ? out[0] + alpha * d0[r] : alpha * d0[r]
                        if pair { out[1] = accumulate ? out[1] + alpha * d1[r] : alpha * d1[r] }
                    }
                    r0 += g
                }
                j += pair ? 2 : 1
            }
        }
    }

    /// Dots of two weight rows with up to 4 x rows ([row] lanes; lanes ≥ rows are duplicates).
    @inline(__always)
    private static func dots(_ w0: UnsafePointer<Float>, _ w1: UnsafePointer<Float>, _ x: UnsafePointer<Float>,
                             lda: Int, rows: Int, k: Int) -> (SIMD4<Float>, SIMD4<Float>) {
        typealias V = VectorMath.V
        var a0 = V(), a1 = V(), a2 = V(), a3 = V(), b0 = V(), b1 = V(), b2 = V(), b3 = V()
        let x0 = x, x1 = x + (rows > 1 ? lda : 0), x2 = x + (rows > 2 ? 2 * lda : 0), x3 = x + (rows > 3 ? 3 * lda : 0)
        var i = 0
        while i + 8 <= k {
            prefetch(w0 + i + prefetchAhead)
            prefetch(w1 + i + prefetchAhead)
            let u = VectorMath.load(w0 + i), v = VectorMath.load(w1 + i)
            var t = VectorMath.load(x0 + i)
            a0.addProduct(u, t); b0.addProduct(v, t)
            t = VectorMath.load(x1 + i)
            a1.addProduct(u, t); b1.addProduct(v, t)
            t = VectorMath.load(x2 + i)
            a2.addProduct(u, t); b2.addProduct(v, t)
            t = VectorMath.load(x3 + i)
            a3.addProduct(u, t); b3.addProduct(v, t)
            i += 8
        }
        var d0 = SIMD4<Float>(a0.sum(), a1.sum(), a2.sum(), a3.sum())
        var d1 = SIMD4<Float>(b0.sum(), b1.sum(), b2.sum(), b3.sum())
        while i < k {
            let xs = SIMD4<Float>(x0[i], x1[i], x2[i], x3[i])
            d0 += w0[i] * xs
            d1 += w1[i] * xs
            i += 1
        }
        return (d0, d1)
    }
}

/// LLVM's prefetch intrinsic (read, keep in all cache levels, data). A hint: never faults, so
/// running past the end of a buffer is harmless.
@_silgen_name("llvm.prefetch.p0")
private func llvmPrefetch(_ address: UnsafeRawPointer, _ write: Int32, _ locality: Int32, _ dataCache: Int32)

@inline(__always)
func prefetch(_ p: UnsafePointer<Float>) { llvmPrefetch(UnsafeRawPointer(p), 0, 3, 1) }
