import CKernels
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// y[M, N] (= or +=) alpha · x[M, K] · W[N, K]ᵀ for a few rows (decode batches), in blocks of up to
/// `maxRows` rows; beyond `maxRows` the blocks take turns over groups of weight rows held in L2, so
/// a call streams the weight from memory once.
///
/// Why not sgemm: OpenBLAS packs the whole weight before multiplying, so at M ≤ 8 it runs at a
/// quarter of memory bandwidth, while a decode step should cost one read of the weights (at M = 1
/// this kernel also beats cblas_sgemv: 35 vs 38 ms per bench step). The inner kernel (pairs of
/// weight rows streamed once with software prefetch, dotted with the x rows) is C, one variant
/// per instruction set (CKernels/skinny_linear_*.c); this type blocks the rows and splits the N
/// weight rows over the BLAS thread budget.
public final class SkinnyLinear: ParallelJob, @unchecked Sendable {
    public static let maxRows = 8

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
    /// The weight of a call on a stored-dtype weight (nil: the f32 pointer `w`).
    private var stored: ck_weight?
    /// How the call's N rows are split (`split(rows:workers:bytes:)`), and grouped when the call has
    /// more than `maxRows` x rows (`groupRows(rowBytes:)`).
    private var sliceRows = 0, tailPiece = 0, groupRows = 16
    private let nextTailPiece = Atomic<Int>(0)

    /// The product on the BLAS thread budget (the N weight rows split over the workers).
    public static func run(
        _ x: UnsafePointer<Float>, rows m: Int, inFeatures k: Int, lda: Int,
        weight w: UnsafePointer<Float>, outFeatures n: Int, ldw: Int,
        into y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool, alpha: Float
    ) {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        let job = shared
        job.stored = nil
        job.x = x; job.y = y; job.m = m
        job.w = w; job.k = k; job.n = n; job.lda = lda; job.ldw = ldw; job.ldy = ldy
        job.accumulate = accumulate; job.alpha = alpha
        // At least ~1 MiB of weight per worker, so the fan-out pays for itself.
        let workers = min(Parallel.workers(for: n), max(1, n * k / (1 << 18)))
        job.split(rows: n, workers: workers, bytes: n * k * 4)
        Parallel.run(workers: workers, job)
    }

    /// y[M, N] (= or +=) alpha · x[M, K] · Wᵀ with W [N, K] in its stored dtype (bf16, f16, FP8 E4M3
    /// converted in registers, f32 accumulation), on the BLAS thread budget. An f32 weight takes the
    /// f32 kernel above (bit-identical to calling it with the pointer).
    public static func run(
        _ x: UnsafePointer<Float>, rows m: Int, lda: Int? = nil, weight: WeightMatrix,
        into y: UnsafeMutablePointer<Float>, ldy: Int? = nil, accumulate: Bool = false, alpha: Float = 1
    ) {
        let n = weight.rows, k = weight.cols
        guard m > 0, n > 0 else { return }
        if let f32 = weight.f32Pointer {
            run(x, rows: m, inFeatures: k, lda: lda ?? k, weight: f32, outFeatures: n, ldw: weight.rowStride,
                into: y, ldy: ldy ?? n, accumulate: accumulate, alpha: alpha)
            return
        }
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        let job = shared
        job.stored = weight.kernelView
        job.x = x; job.y = y; job.m = m
        job.k = k; job.n = n; job.lda = lda ?? k; job.ldy = ldy ?? n
        job.accumulate = accumulate; job.alpha = alpha
        // At least 256 KiB of stored weight per worker: a stored-dtype weight costs more work per byte
        // than f32 (each element converted in registers), so small slices still gain from the fan-out
        // (576 × 2048 FP8, kv_a's shape: 0.098 → 0.054 ms on two workers; Zen 3, `pd-bench linear`).
        let workers = min(Parallel.workers(for: n), max(1, weight.streamedBytes >> 18))
        job.split(rows: n, workers: workers, bytes: weight.streamedBytes)
        Parallel.run(workers: workers, job)
    }

    /// The stored-dtype product on the calling thread alone (see the f32 runOnThisThread below).
    public static func runOnThisThread(
        _ x: UnsafePointer<Float>, rows m: Int, lda: Int? = nil, weight: WeightMatrix,
        into y: UnsafeMutablePointer<Float>, ldy: Int? = nil, accumulate: Bool = false, alpha: Float = 1
    ) {
        runOnThisThread(x, rows: m, lda: lda, weight: weight, into: y, ldy: ldy, accumulate: accumulate, alpha: alpha, kernels: .active)
    }

    /// runOnThisThread on a stored-dtype weight with a given kernel variant (tests compare the variants).
    static func runOnThisThread(
        _ x: UnsafePointer<Float>, rows m: Int, lda: Int?, weight: WeightMatrix,
        into y: UnsafeMutablePointer<Float>, ldy: Int?, accumulate: Bool, alpha: Float, kernels: KernelTable
    ) {
        let n = weight.rows, k = weight.cols, lda = lda ?? k, ldy = ldy ?? n
        guard n > 0 else { return }
        var view = weight.kernelView
        forEachRowBlock(m) { first, rows in
            kernels.skinnyWeight(x + first * lda, rows, lda, &view, y + first * ldy, ldy, 0, n, accumulate ? 1 : 0, alpha)
        }
    }

    /// The same product on the calling thread alone, for callers that already run one slice of
    /// a parallel stage (per-head absorptions and scores in decode attention); takes no lock.
    public static func runOnThisThread(
        _ x: UnsafePointer<Float>, rows m: Int, inFeatures k: Int, lda: Int,
        weight w: UnsafePointer<Float>, outFeatures n: Int, ldw: Int,
        into y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool = false, alpha: Float = 1
    ) {
        runOnThisThread(x, rows: m, inFeatures: k, lda: lda, weight: w, outFeatures: n, ldw: ldw, into: y, ldy: ldy,
                        accumulate: accumulate, alpha: alpha, kernels: .active)
    }

    /// runOnThisThread with a given kernel variant (tests compare the variants).
    static func runOnThisThread(
        _ x: UnsafePointer<Float>, rows m: Int, inFeatures k: Int, lda: Int,
        weight w: UnsafePointer<Float>, outFeatures n: Int, ldw: Int,
        into y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool, alpha: Float, kernels: KernelTable
    ) {
        forEachRowBlock(m) { first, rows in
            kernels.skinnyLinear(x + first * lda, rows, k, lda, w, ldw, y + first * ldy, ldy, 0, n, accumulate ? 1 : 0, alpha)
        }
    }

    /// Blocks of at most `maxRows` of the M rows: (first row, rows).
    @inline(__always)
    private static func forEachRowBlock(_ m: Int, _ body: (Int, Int) -> Void) {
        var first = 0
        while first < m {
            let rows = min(maxRows, m - first)
            body(first, rows)
            first += rows
        }
    }

    /// Rows of the tail pieces (a multiple of FP8's 128-row scale blocks, so a piece starts a block row).
    static let tailPieceRows = 128

    /// Each worker takes one contiguous slice of `sliceRows` (an even count: pairs). A weight of
    /// 4 MiB or more leaves about its last eighth in `tailPieceRows` pieces that the workers take in
    /// order as they finish their slices: a worker whose core is slowed (a VM's interrupts land on one
    /// core; a neighbour's load) no longer holds the call while the other spins. (`bench-fp8` decode,
    /// Zen 3, calls over 4 M weights: the two workers ended 31 µs apart on average with equal halves,
    /// 12–15 µs with the tail pieces; a call takes ~585 µs.)
    static func split(rows n: Int, workers: Int, bytes: Int) -> (sliceRows: Int, tailPiece: Int) {
        guard workers > 1 && bytes >= 4 << 20 && n >= 8 * workers * tailPieceRows else {
            return (((n + workers - 1) / workers + 1) & ~1, 0)
        }
        return ((n * 7 / 8 / workers) & ~(tailPieceRows - 1), tailPieceRows)
    }

    private func split(rows n: Int, workers: Int, bytes: Int) {
        (sliceRows, tailPiece) = Self.split(rows: n, workers: workers, bytes: bytes)
        groupRows = Self.groupRows(rowBytes: bytes / max(n, 1))
        nextTailPiece.store(0, ordering: .relaxed)   // published to the workers by Parallel.run
    }

    public func work(worker: Int, workers: Int) {
        let first = min(n, worker * sliceRows)
        rows(first, min(n, first + sliceRows))
        guard tailPiece > 0 else { return }
        let tail = workers * sliceRows
        while true {
            let start = tail + nextTailPiece.wrappingAdd(1, ordering: .relaxed).oldValue * tailPiece
            guard start < n else { return }
            rows(start, min(n, start + tailPiece))
        }
    }

    /// Weight bytes a group of rows may take while every block of `maxRows` x rows goes over it (more
    /// than `maxRows` rows): the group is read from memory by the first block and from L2 by the
    /// others, where each block streaming the whole weight again made a 32-row call read it four
    /// times. 256 KiB: half of Zen 3's L2.
    static let groupBytes = 256 << 10

    /// Weight rows per group of `groupBytes` (a multiple of 16, at least 16).
    static func groupRows(rowBytes: Int) -> Int { max(16, groupBytes / max(rowBytes, 1) & ~15) }

    /// Rows first..<last of y: up to `maxRows` x rows in one kernel call; more, block by block over
    /// each group of `groupRows` weight rows. Each (weight row, x row) dot is the kernel's one chain
    /// whatever the grouping: the same bits (decode's batch invariance).
    private func rows(_ first: Int, _ last: Int) {
        guard first < last else { return }
        guard m > Self.maxRows else { return kernel(x, y, m, first, last) }
        for group in stride(from: first, to: last, by: groupRows) {
            let end = min(last, group + groupRows)
            Self.forEachRowBlock(m) { row, count in kernel(x + row * lda, y + row * ldy, count, group, end) }
        }
    }

    /// y[0..<count, first..<last] for the x rows at `x` (count ≤ `maxRows`).
    @inline(__always)
    private func kernel(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int, _ first: Int, _ last: Int) {
        if var view = stored {
            KernelTable.active.skinnyWeight(x, count, lda, &view, y, ldy, first, last, accumulate ? 1 : 0, alpha)
        } else {
            KernelTable.active.skinnyLinear(x, count, k, lda, w, ldw, y, ldy, first, last, accumulate ? 1 : 0, alpha)
        }
    }
}
