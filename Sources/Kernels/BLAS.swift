import COpenBLAS
import Foundation

/// The GEMM entry points every projection goes through. Row-major throughout; sgemm on the
/// process's `GEMMBackend`.
public enum BLAS {
    /// The process's compute threads (ranks × threads ≤ cores): OpenBLAS's own, and the `Parallel`
    /// workers every other kernel, oneDNN's sgemm included, splits over.
    public static func setThreads(_ count: Int) { openblas_set_num_threads(Int32(max(1, count))) }
    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// The kernel set OpenBLAS chose for this CPU when it loaded (its DYNAMIC_ARCH core name, e.g.
    /// "Haswell", "Zen", "SkylakeX").
    public static var coreName: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }

    /// Whether the environment chose OpenBLAS's kernel set (OPENBLAS_CORETYPE).
    public static let coreTypeSet = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] != nil

    /// OpenBLAS core names whose sgemm uses AVX2 + FMA or wider.
    static let wideCores: Set<String> = ["Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids"]

    /// One line of advice when OpenBLAS runs kernels far below this CPU (nil when it chose a wide
    /// set or OPENBLAS_CORETYPE already says which): 0.3.21 does not know CPUs newer than it, and on
    /// one it falls back to its SSE3 "Prescott" set — on a 2-core Emerald Rapids (cpuid model 207)
    /// sgemm ran at 58 GFLOP/s against 284 with OPENBLAS_CORETYPE=SkylakeX and 314 with Cooperlake,
    /// so prefill took 4.6–5.1 × as long (`pd-bench prefill --model bench --tokens 1024`, session 16).
    /// Pure in its inputs, for tests.
    public static func coreAdvice(core: String = coreName, features: CPUFeatures = .detected,
                                  coreTypeSet: Bool = coreTypeSet) -> String? {
        guard openBLASIsNarrow(core: core, features: features, coreTypeSet: coreTypeSet) else { return nil }
        let suggested = features.isSuperset(of: [.avx512, .avx512bf16]) ? "Cooperlake"
            : features.isSuperset(of: .avx512) ? "SkylakeX" : "Haswell"
        return "OpenBLAS chose its \(core) kernels on this CPU (it does not know the model): sgemm, and so prefill, "
            + "runs several times slower than the CPU allows; start with OPENBLAS_CORETYPE=\(suggested)"
    }

    /// Whether OpenBLAS runs a kernel set below AVX2 + FMA on a CPU that has them, unless
    /// OPENBLAS_CORETYPE chose the set (the rule both coreAdvice and GEMMBackend's `auto` follow).
    static func openBLASIsNarrow(core: String, features: CPUFeatures, coreTypeSet: Bool) -> Bool {
        !coreTypeSet && features.isSuperset(of: .baseline) && !wideCores.contains(core)
    }

    /// Writes coreAdvice to stderr, once per process, when sgemm runs on OpenBLAS (model loading
    /// calls it; GEMMBackend's `auto` takes oneDNN where the advice would apply).
    public static func adviseOnCoreOnce() { _ = adviceWritten }
    private static let adviceWritten: Bool = {
        guard GEMMBackend.active == .openblas, let advice = coreAdvice() else { return false }
        FileHandle.standardError.write(Data("warning: \(advice)\n".utf8))
        return true
    }()

    /// Up to this many rows a linear layer runs as `SkinnyLinear` (blocks of 8 rows, each streaming
    /// the weight once) instead of sgemm, which packs the whole weight first. Bench decode step on
    /// 2 threads, OpenBLAS (session 3): batch 16 106 vs 154 ms, 24 153 vs 227 ms, 32 183 vs 203 ms.
    /// On oneDNN (session 18, `pd-bench linear`, 2816 × 2048 and 2048 × 1408) f32 sgemm at 33 rows
    /// (92–112 GFLOP/s) already beats the skinny kernel at 32 (79–83), bf16's panels + sgemm at 33
    /// (81–100) do not (skinny 111–133). The limit stays: it is also where batch-invariant decode
    /// ends (the skinny kernels' dot order does not depend on the row count, sgemm's does).
    public static let skinnyRowLimit = 32

    /// y[M, N] (= or +=) x[M, K] · W[N, K]ᵀ — an HF `nn.Linear` with weight [out, in].
    @inline(__always)
    public static func linear(
        _ x: UnsafePointer<Float>, rows m: Int, inFeatures k: Int, lda: Int? = nil,
        weight w: UnsafePointer<Float>, outFeatures n: Int, ldw: Int? = nil,
        into y: UnsafeMutablePointer<Float>, ldy: Int? = nil, accumulate: Bool = false, alpha: Float = 1
    ) {
        guard m > 0, n > 0 else { return }
        if m <= skinnyRowLimit && k > 0 {
            SkinnyLinear.run(x, rows: m, inFeatures: k, lda: lda ?? k, weight: w, outFeatures: n, ldw: ldw ?? k,
                             into: y, ldy: ldy ?? n, accumulate: accumulate, alpha: alpha)
            return
        }
        gemm(transB: true, m: m, n: n, k: k, alpha: alpha, a: x, lda: lda ?? k, b: w, ldb: ldw ?? k,
             beta: accumulate ? 1 : 0, c: y, ldc: ldy ?? n)
    }

    /// Floats of f32 one converted weight panel may take (12 MiB) when a stored-dtype weight meets
    /// more than `skinnyRowLimit` rows (prefill), unless `minPanelRows` rows need more: a panel is
    /// `panelRows(k:n:)` weight rows, converted right before the sgemm that reads it into a reused
    /// per-thread scratch. Few, large calls: every call repacks x and joins its threads, which over
    /// 256-row panels cost a `bench-moe` prefill at 1024 tokens (≈ 96 rows per expert, 20 calls per
    /// expert) ~11 % of its samples in the threads' waits; now a whole 1408 × 2048 expert matrix is
    /// one panel.
    public static let panelFloats = 3 << 20

    /// The fewest weight rows a panel takes (when the weight has them), whatever its K: each worker
    /// multiplies its half of the panel's columns, and sgemm repacks x per call, so a narrow panel
    /// pays that copy over few columns. The bf16 down projection at K = 5632 (512 rows of x, oneDNN,
    /// 2 threads, `pd-bench linear`, eight alternating runs) ran a median 190 GFLOP/s over 12 MiB
    /// panels (558 rows) against 217 over 1024 rows (session 20). Scratch: 1024 · K floats when that
    /// exceeds `panelFloats` (22 MiB at K = 5632, 43 MiB at 10944, 72 MiB at DeepSeek-V3's 18432).
    public static let minPanelRows = 1024

    /// Weight rows per converted panel of N × K: as many as `floats` of f32 hold, at least
    /// `minRows`, then evened out over the panels the weight needs (multiples of 32, so each
    /// worker's half stays whole vector tiles): 1536 at K = 2048 (N = 11264: 8 × 1408), 1024 at 5632.
    public static func panelRows(k: Int, n: Int, floats: Int = panelFloats, minRows: Int = minPanelRows) -> Int {
        let most = max(16, floats / max(k, 1), minRows)
        guard n > most else { return max(n, 1) }
        let panels = (n + most - 1) / most
        return min(most, ((n + panels - 1) / panels + 31) & ~31)
    }

    /// Each thread's f32 panel buffer for `linear` (grown once, then reused).
    fileprivate static let panels = PerThread { Scratch() }

    /// Frees the panel buffers of this thread and of every worker thread (the next stored-dtype
    /// prefill grows them again). They keep the size of the largest panel so far — 1024 · K floats
    /// where K is large: 43 MiB per thread at K = 10944, 72 MiB at DeepSeek-V3's 18432 — so an idle
    /// prefill rank hands back that much per compute thread. Call between forwards, from the thread
    /// that runs them.
    public static func releasePanels() { _ = PanelScratch.visit(release: true) }

    /// Floats the panel buffers of this thread and the worker threads hold now.
    public static var panelFloatsHeld: Int { PanelScratch.visit(release: false) }

    /// y[M, N] (= or +=) alpha · x[M, K] · Wᵀ with W [N, K] in its stored dtype. Up to
    /// `skinnyRowLimit` rows: SkinnyLinear, converting in registers. Beyond: an f32 weight goes
    /// straight to sgemm (bit-identical to the pointer form); any other is converted one panel of
    /// `panelRows(k:n:)` weight rows at a time into a per-thread f32 scratch (no allocation once
    /// grown), each panel multiplied by sgemm into its columns of y. On oneDNN each worker converts
    /// and multiplies its own share of the weight's rows, its part of every panel, in one fan-out
    /// (`ConvertedPanelSplit`); on OpenBLAS (threaded sgemm) all workers convert a panel first.
    /// `panelFloats`, `minPanelRows`: the panel budget (tests take small panels to cross several);
    /// `backend`: the sgemm (tests name each).
    public static func linear(
        _ x: UnsafePointer<Float>, rows m: Int, lda: Int? = nil, weight: WeightMatrix,
        into y: UnsafeMutablePointer<Float>, ldy: Int? = nil, accumulate: Bool = false, alpha: Float = 1,
        panelFloats: Int = panelFloats, minPanelRows: Int = minPanelRows, backend: GEMMBackend = .active
    ) {
        let n = weight.rows, k = weight.cols, lda = lda ?? k, ldy = ldy ?? n
        guard m > 0, n > 0 else { return }
        if let f32 = weight.f32Pointer {
            linear(x, rows: m, inFeatures: k, lda: lda, weight: f32, outFeatures: n, ldw: weight.rowStride,
                   into: y, ldy: ldy, accumulate: accumulate, alpha: alpha)
            return
        }
        if m <= skinnyRowLimit && k > 0 {
            SkinnyLinear.run(x, rows: m, lda: lda, weight: weight, into: y, ldy: ldy, accumulate: accumulate, alpha: alpha)
            return
        }
        let panelRows = Self.panelRows(k: k, n: n, floats: panelFloats, minRows: minPanelRows)
        if backend == .onednn {
            ConvertedPanelSplit.run(x, rows: m, lda: lda, weight: weight, into: y, ldy: ldy, beta: accumulate ? 1 : 0,
                                    alpha: alpha, panelRows: panelRows)
            return
        }
        let panel = panels.current.reserve(min(panelRows, n) * k)
        var first = 0
        while first < n {
            let rows = min(panelRows, n - first)
            weight.convertRowsInParallel(first..<first + rows, into: panel, ldo: k)
            gemm(transB: true, m: m, n: rows, k: k, alpha: alpha, a: x, lda: lda, b: panel, ldb: k,
                 beta: accumulate ? 1 : 0, c: y + first, ldc: ldy, backend: backend)
            first += rows
        }
    }

    /// C[M, N] (= or +=) alpha · op(A) · op(B), general strides; sgemm on `backend` (tests name one).
    @inline(__always)
    public static func gemm(
        transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int, backend: GEMMBackend = .active
    ) {
        guard m > 0, n > 0 else { return }
        if k == 0 {
            if beta == 0 { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
            return
        }
        if m == 1 {
            // One row: a matrix-vector product. sgemm would pack all of B (the weight) first,
            // which costs ~3× a single streaming pass at decode sizes.
            if transB {      // c[n] = B[n, k] · a
                cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(k), alpha, b, Int32(ldb),
                            a, Int32(transA ? lda : 1), beta, c, 1)
            } else {         // c[n] = B[k, n]ᵀ · a
                cblas_sgemv(CblasRowMajor, CblasTrans, Int32(k), Int32(n), alpha, b, Int32(ldb),
                            a, Int32(transA ? lda : 1), beta, c, 1)
            }
            return
        }
        if backend == .onednn {
            OneDNNSplit.run(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                            b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
            return
        }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}

/// BLAS.gemm on oneDNN over the `Parallel` workers: each runs single-threaded oneDNN on its share
/// of C's columns (of its rows when C has more rows than columns), so oneDNN's OpenMP team never
/// starts. A share is a multiple of 16 (whole vector tiles); products under 2²² multiply-adds
/// stay on the calling thread. One job object per calling thread, reused: no allocation per call.
private final class OneDNNSplit: ParallelJob {
    /// One BLAS.gemm call's operands.
    private struct Call {
        let transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, beta: Float
        let a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int
        let splitColumns: Bool
    }
    /// The call in progress, read by the workers.
    private var call: Call?
    private static let perThread = PerThread { OneDNNSplit() }

    static func run(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
                    b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        let splitColumns = n >= m
        let workers = m * n * k < 1 << 22 ? 1 : Parallel.workers(for: (splitColumns ? n : m) / 16)
        guard workers > 1 else {
            GEMMBackend.oneDNNSgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                                    b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
            return
        }
        let job = perThread.current
        job.call = Call(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta, a: a, lda: lda,
                        b: b, ldb: ldb, c: c, ldc: ldc, splitColumns: splitColumns)
        Parallel.run(workers: workers, job)
        job.call = nil
    }

    func work(worker: Int, workers: Int) {
        guard let g = call else { return }
        let share = Parallel.share(of: g.splitColumns ? g.n : g.m, worker: worker, workers: workers, multiple: 16)
        let first = share.lowerBound, count = share.count
        guard count > 0 else { return }
        if g.splitColumns {   // columns [first, first + count) of C: rows of B when transB, else its columns
            GEMMBackend.oneDNNSgemm(transA: g.transA, transB: g.transB, m: g.m, n: count, k: g.k, alpha: g.alpha, a: g.a, lda: g.lda,
                                    b: g.b + (g.transB ? first * g.ldb : first), ldb: g.ldb, beta: g.beta, c: g.c + first, ldc: g.ldc)
        } else {              // rows [first, first + count) of C: columns of A when transA, else its rows
            GEMMBackend.oneDNNSgemm(transA: g.transA, transB: g.transB, m: count, n: g.n, k: g.k, alpha: g.alpha,
                                    a: g.a + (g.transA ? first : first * g.lda), lda: g.lda, b: g.b, ldb: g.ldb, beta: g.beta,
                                    c: g.c + first * g.ldc, ldc: g.ldc)
        }
    }
}

/// BLAS.linear's stored-dtype path on oneDNN in one fan-out: worker w takes a contiguous share of
/// W's rows (whole 16-row tiles) and goes over it in pieces of its part of a panel
/// (panelRows / workers rows), each converted into the worker's own f32 scratch and multiplied
/// right away by single-threaded sgemm into those columns of y. Against converting each panel
/// over all workers and then splitting its sgemm (two fan-outs and a wait per panel): no wait
/// inside the call, and each worker reads the rows it converted itself. One job object per
/// calling thread, reused: no allocation per call.
private final class ConvertedPanelSplit: ParallelJob {
    private struct Call {
        let x: UnsafePointer<Float>, m: Int, lda: Int, weight: WeightMatrix
        let y: UnsafeMutablePointer<Float>, ldy: Int, beta: Float, alpha: Float, panelRows: Int
    }
    /// The call in progress, read by the workers.
    private var call: Call?
    private static let perThread = PerThread { ConvertedPanelSplit() }

    static func run(_ x: UnsafePointer<Float>, rows m: Int, lda: Int, weight: WeightMatrix, into y: UnsafeMutablePointer<Float>,
                    ldy: Int, beta: Float, alpha: Float, panelRows: Int) {
        let job = perThread.current
        job.call = Call(x: x, m: m, lda: lda, weight: weight, y: y, ldy: ldy, beta: beta, alpha: alpha, panelRows: panelRows)
        Parallel.run(workers: Parallel.workers(for: weight.rows / 16), job)
        job.call = nil
    }

    func work(worker: Int, workers: Int) {
        guard let g = call else { return }
        let k = g.weight.cols
        let share = Parallel.share(of: g.weight.rows, worker: worker, workers: workers, multiple: 16)
        guard !share.isEmpty else { return }
        let piece = max(16, g.panelRows / workers)
        let panel = BLAS.panels.current.reserve(min(piece, share.count) * k)
        for row in stride(from: share.lowerBound, to: share.upperBound, by: piece) {
            let rows = min(piece, share.upperBound - row)
            g.weight.convertRows(row..<row + rows, into: panel, ldo: k)
            GEMMBackend.oneDNNSgemm(transA: false, transB: true, m: g.m, n: rows, k: k, alpha: g.alpha, a: g.x, lda: g.lda,
                                    b: panel, ldb: k, beta: g.beta, c: g.y + row, ldc: g.ldy)
        }
    }
}

/// Visits each worker thread's panel buffer (`BLAS.panels` is per thread: only its owner may
/// free it), the calling thread's as worker 0. One job object per calling thread, reused.
private final class PanelScratch: ParallelJob {
    private static let perThread = PerThread { PanelScratch() }
    private var release = false
    /// Floats held per worker, written by each worker into its own slot.
    private let held = UnsafeMutablePointer<Int>.allocate(capacity: 1024)

    deinit { held.deallocate() }

    /// Frees the buffers when `release`; returns the floats they hold afterwards.
    static func visit(release: Bool) -> Int {
        let job = perThread.current, workers = min(Parallel.workers(for: Int.max), 1024)
        job.release = release
        Parallel.run(workers: workers, job)
        return (0..<workers).reduce(0) { $0 + job.held[$1] }
    }

    func work(worker: Int, workers: Int) {
        let panel = BLAS.panels.current
        if release { panel.releaseMemory() }
        held[worker] = panel.capacity
    }
}
