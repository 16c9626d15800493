#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// y[M, N] (= or +=) alpha · x[M, K] · W[N, K]ᵀ for a few rows (decode batches), in blocks of up to
/// `maxRows` rows, each block streaming the weight once.
///
/// Why not sgemm: OpenBLAS packs the whole weight before multiplying, so at M ≤ 8 it runs at a
/// quarter of memory bandwidth, while a decode step should cost one read of the weights (at M = 1
/// this kernel also beats cblas_sgemv: 35 vs 38 ms per bench step). A pair of weight rows is
/// streamed once from memory, software-prefetched far ahead into L2 (with FMAs between the loads
/// the out-of-order window alone keeps too few misses in flight), and dotted with the x rows four
/// at a time (a second group of four re-reads the pair from L1/L2); one x row is plain dot
/// products. The N rows are split over the BLAS thread budget.
public final class SkinnyLinear: ParallelJob, @unchecked Sendable {
    public static let maxRows = 8
    /// Prefetch distance in floats: 32 KiB ahead of the weight row being read, into L2. Measured on
    /// the bench host: m = 8 goes from 19 to 30 GB/s on 2 threads with 16 KiB (L1 prefetch or 4 KiB:
    /// ~20); a bench decode step at batch 8 then takes 43–45 ms at 24–48 KiB against 46–49 ms at
    /// 16 KiB and 60 ms at 8 KiB.
    static let prefetchAhead = 8192

    /// One reusable job (no allocation per call); the lock serialises callers on other threads.
    private static let shared = SkinnyLinear()
    private static let lock: UnsafeMutablePointer<pthread_mutex_t> = {
        let m = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(m, nil)
        return m
    }()

    // Operands of the call in progress.
    private var x = UnsafePointer<Float>(bitPattern: 64)!, w = UnsafePointer<Float>(bitPattern: 64)!
    private var y = UnsafeMutablePointer<Float>(bitPattern: 64)!
    private var m = 0, k = 0, n = 0, lda = 0, ldw = 0, ldy = 0, accumulate = false, alpha: Float = 1

    /// The product on the BLAS thread budget (the N weight rows split over the workers).
    public static func run(
        _ x: UnsafePointer<Float>, rows m: Int, inFeatures k: Int, lda: Int,
        weight w: UnsafePointer<Float>, outFeatures n: Int, ldw: Int,
        into y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool, alpha: Float
    ) {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        let job = shared
        job.w = w; job.k = k; job.n = n; job.lda = lda; job.ldw = ldw; job.ldy = ldy
        job.accumulate = accumulate; job.alpha = alpha
        // At least ~1 MiB of weight per worker, so the fan-out pays for itself.
        let workers = min(Parallel.workers(for: n), max(1, n * k / (1 << 18)))
        forEachRowBlock(m) { first, rows in
            job.x = x + first * lda; job.y = y + first * ldy; job.m = rows
            Parallel.run(workers: workers, job)
        }
    }

    /// The same product on the calling thread alone, for callers that already run one slice of
    /// a parallel stage (per-head absorptions and scores in decode attention); takes no lock.
    public static func runOnThisThread(
        _ x: UnsafePointer<Float>, rows m: Int, inFeatures k: Int, lda: Int,
        weight w: UnsafePointer<Float>, outFeatures n: Int, ldw: Int,
        into y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool = false, alpha: Float = 1
    ) {
        forEachRowBlock(m) { first, rows in
            compute(x + first * lda, m: rows, k: k, lda: lda, w: w, ldw: ldw, y: y + first * ldy, ldy: ldy, rows: 0..<n,
                    accumulate: accumulate, alpha: alpha)
        }
    }

    /// Blocks of at most `maxRows` of the M rows: (first row, rows). Each block streams the weight
    /// again, which is cheap next to its 8 FMAs per weight float.
    @inline(__always)
    private static func forEachRowBlock(_ m: Int, _ body: (Int, Int) -> Void) {
        var first = 0
        while first < m {
            let rows = min(maxRows, m - first)
            body(first, rows)
            first += rows
        }
    }

    /// Worker `worker` takes one contiguous slice of the N weight rows (an even count: pairs).
    public func work(worker: Int, workers: Int) {
        let perWorker = ((n + workers - 1) / workers + 1) & ~1
        let first = min(n, worker * perWorker), last = min(n, first + perWorker)
        Self.compute(x, m: m, k: k, lda: lda, w: w, ldw: ldw, y: y, ldy: ldy, rows: first..<last,
                     accumulate: accumulate, alpha: alpha)
    }

    /// y[·, rows] for weight rows `rows`.
    @inline(__always)
    private static func compute(
        _ x: UnsafePointer<Float>, m: Int, k: Int, lda: Int, w: UnsafePointer<Float>, ldw: Int,
        y: UnsafeMutablePointer<Float>, ldy: Int, rows: Range<Int>, accumulate: Bool, alpha: Float
    ) {
        let last = rows.upperBound
        var j = rows.lowerBound
        if m == 1 {                                                          // plain dot products
            while j < last {
                let d = dot(w + j * ldw, x, k: k)
                y[j] = accumulate ? y[j] + alpha * d : alpha * d
                j += 1
            }
            return
        }
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

    /// One weight row · one x row, four accumulators along k. No software prefetch: with one
    /// FMA per loaded float the hardware prefetcher keeps up (measured: as fast as a read pass).
    @inline(__always)
    private static func dot(_ w: UnsafePointer<Float>, _ x: UnsafePointer<Float>, k: Int) -> Float {
        typealias V = VectorMath.V
        var a0 = V(), a1 = V(), a2 = V(), a3 = V()
        var i = 0
        while i + 32 <= k {
            a0.addProduct(VectorMath.load(w + i), VectorMath.load(x + i))
            a1.addProduct(VectorMath.load(w + i + 8), VectorMath.load(x + i + 8))
            a2.addProduct(VectorMath.load(w + i + 16), VectorMath.load(x + i + 16))
            a3.addProduct(VectorMath.load(w + i + 24), VectorMath.load(x + i + 24))
            i += 32
        }
        while i + 8 <= k { a0.addProduct(VectorMath.load(w + i), VectorMath.load(x + i)); i += 8 }
        var d = ((a0 + a1) + (a2 + a3)).sum()
        while i < k { d += w[i] * x[i]; i += 1 }
        return d
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

/// LLVM's prefetch intrinsic (read, locality 2 = prefetcht1: into L2, data). A hint: never
/// faults, so running past the end of a buffer is harmless.
@_silgen_name("llvm.prefetch.p0")
private func llvmPrefetch(_ address: UnsafeRawPointer, _ write: Int32, _ locality: Int32, _ dataCache: Int32)

@inline(__always)
func prefetch(_ p: UnsafePointer<Float>) { llvmPrefetch(UnsafeRawPointer(p), 0, 2, 1) }
