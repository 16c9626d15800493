import Foundation

/// Where the operands of one attention call live. All are row-major with explicit strides so the
/// caller can point straight into projection outputs (no repacking).
public struct AttentionOperands {
    public var heads: Int
    public var nopeDim: Int, ropeDim: Int, valueDim: Int
    /// Queries [q, heads, nope + rope]: head h at q + row·qRowStride + h·qHeadStride; rope part at +nopeDim.
    public var q: UnsafePointer<Float>, qRowStride: Int, qHeadStride: Int
    /// Decompressed keys/values [keys, heads, ·]: k_nope of head h at kv + row·kvRowStride + h·kvHeadStride,
    /// v at the same place + valueOffset.
    public var kv: UnsafePointer<Float>, kvRowStride: Int, kvHeadStride: Int, valueOffset: Int
    /// Shared rope keys [keys, rope] with row stride kPeRowStride.
    public var kPe: UnsafePointer<Float>, kPeRowStride: Int
    /// Key rows present at kv and kPe: no query may see past them.
    public var keyRows: Int
    /// Output [q, heads, v]: head h at out + row·outRowStride + h·valueDim.
    public var out: UnsafeMutablePointer<Float>, outRowStride: Int

    public init(heads: Int, nopeDim: Int, ropeDim: Int, valueDim: Int,
                q: UnsafePointer<Float>, qRowStride: Int, qHeadStride: Int,
                kv: UnsafePointer<Float>, kvRowStride: Int, kvHeadStride: Int, valueOffset: Int,
                kPe: UnsafePointer<Float>, kPeRowStride: Int, keyRows: Int,
                out: UnsafeMutablePointer<Float>, outRowStride: Int) {
        self.heads = heads; self.nopeDim = nopeDim; self.ropeDim = ropeDim; self.valueDim = valueDim
        self.q = q; self.qRowStride = qRowStride; self.qHeadStride = qHeadStride
        self.kv = kv; self.kvRowStride = kvRowStride; self.kvHeadStride = kvHeadStride; self.valueOffset = valueOffset
        self.kPe = kPe; self.kPeRowStride = kPeRowStride; self.keyRows = keyRows
        self.out = out; self.outRowStride = outRowStride
    }
}

/// Causal attention of a block of queries over a key prefix, tiled over keys with online softmax,
/// so memory is O(tile) whatever the prompt length. Query row j stands at position firstPosition + j
/// and sees keys [0, min(firstPosition + j + 1, keyLimit)) — bottom-right causal alignment; rows
/// past keyLimit (pads) see every real key and are simply never read by the caller.
///
/// Per tile t the kernel keeps, per row, the running max m, the running sum l = Σ e^{s−m} and the
/// unnormalised output; folding tile t in is exactly the log-sum-exp merge
/// L = log(e^{L_run} + e^{L_t}), O = e^{L_run−L}·O_run + e^{L_t−L}·O_t, applied in key order to
/// already-merged partials. A fully masked tile (L_t = −inf) is skipped, never producing NaN.
public final class CausalAttention: ParallelJob, @unchecked Sendable {
    public let queryTile: Int, keyTile: Int
    /// Per worker thread: scores [tq, keyTile], running m and l [2·tq], accumulator [tq, v].
    private var workerScratch: [(scores: Scratch, running: Scratch, acc: Scratch)] = []
    /// The call in progress, read by the workers.
    private var call: (o: AttentionOperands, queries: Int, firstPosition: Int, keyLimit: Int, scale: Float)?

    public init(queryTile: Int = 256, keyTile: Int = 512) {
        self.queryTile = queryTile
        self.keyTile = keyTile
    }

    /// Heads are independent: they are split over `Parallel.workers` threads (static round-robin,
    /// every head costs the same), each running single-threaded BLAS on its own scratch.
    public func run(_ o: AttentionOperands, queries: Int, firstPosition: Int, keyLimit: Int, scale: Float) {
        guard queries > 0 else { return }
        // The last query row sees keys [0, min(firstPosition + queries, keyLimit)): reading past the
        // rows the caller decompressed would be an out-of-bounds read, so it is a caller bug.
        precondition(min(firstPosition + queries, keyLimit) <= o.keyRows,
                     "attention over \(min(firstPosition + queries, keyLimit)) keys, \(o.keyRows) present")
        let workers = Parallel.workers(for: o.heads)
        while workerScratch.count < workers { workerScratch.append((Scratch(), Scratch(), Scratch())) }
        let tq = min(queryTile, queries)
        for w in 0..<workers {                                 // grow on this thread, before fanning out
            _ = workerScratch[w].scores.reserve(tq * keyTile)
            _ = workerScratch[w].running.reserve(2 * tq)
            _ = workerScratch[w].acc.reserve(tq * o.valueDim)
        }
        call = (o, queries, firstPosition, keyLimit, scale)
        Parallel.run(workers: workers, self)
        call = nil
    }

    public func work(worker: Int, workers: Int) {
        guard let c = call else { return }
        for h in stride(from: worker, to: c.o.heads, by: workers) {
            head(h, c.o, queries: c.queries, firstPosition: c.firstPosition, keyLimit: c.keyLimit, scale: c.scale, scratch: worker)
        }
    }

    private func head(_ h: Int, _ o: AttentionOperands, queries: Int, firstPosition: Int, keyLimit: Int, scale: Float, scratch w: Int) {
        let tq = min(queryTile, queries)
        let s = workerScratch[w].scores.pointer                 // [tq, keyTile]
        let m = workerScratch[w].running.pointer, l = m + tq    // m [tq], l [tq]
        let accum = workerScratch[w].acc.pointer                // [tq, v]
        var q0 = 0
        while q0 < queries {
            let qn = min(tq, queries - q0)
            let visibleEnd = min(firstPosition + q0 + qn, keyLimit)  // keys this tile needs
            m.update(repeating: -.infinity, count: qn)
            l.update(repeating: 0, count: qn)
            accum.update(repeating: 0, count: qn * o.valueDim)
            let qh = o.q + q0 * o.qRowStride + h * o.qHeadStride
            var k0 = 0
            while k0 < visibleEnd {
                let kn = min(keyTile, visibleEnd - k0)
                let kvh = o.kv + k0 * o.kvRowStride + h * o.kvHeadStride
                // s = scale · (q_nope · k_nopeᵀ + q_pe · k_peᵀ)   [qn, kn]
                BLAS.gemm(transB: true, m: qn, n: kn, k: o.nopeDim, alpha: scale,
                          a: qh, lda: o.qRowStride, b: kvh, ldb: o.kvRowStride, c: s, ldc: kn)
                BLAS.gemm(transB: true, m: qn, n: kn, k: o.ropeDim, alpha: scale,
                          a: qh + o.nopeDim, lda: o.qRowStride, b: o.kPe + k0 * o.kPeRowStride, ldb: o.kPeRowStride,
                          beta: 1, c: s, ldc: kn)
                Self.softmaxUpdate(s: s, rows: qn, cols: kn, firstKey: k0,
                                   visible: { j in min(firstPosition + q0 + j + 1, keyLimit) },
                                   m: m, l: l, accum: accum, valueDim: o.valueDim)
                // accum += p · v   [qn, v]
                BLAS.gemm(m: qn, n: o.valueDim, k: kn, a: s, lda: kn, b: kvh + o.valueOffset, ldb: o.kvRowStride,
                          beta: 1, c: accum, ldc: o.valueDim)
                k0 += kn
            }
            for j in 0..<qn {
                let inv: Float = l[j] > 0 ? 1 / l[j] : 0
                VectorMath.scaled(accum + j * o.valueDim, count: o.valueDim, by: inv,
                                  into: o.out + (q0 + j) * o.outRowStride + h * o.valueDim)
            }
            q0 += qn
        }
    }

    /// Turns the score tile into probabilities relative to the new running max, rescales the
    /// running sum and accumulator by e^{m_old − m_new}. Masked entries become 0.
    @inline(__always)
    static func softmaxUpdate(
        s: UnsafeMutablePointer<Float>, rows: Int, cols: Int, firstKey: Int, visible: (Int) -> Int,
        m: UnsafeMutablePointer<Float>, l: UnsafeMutablePointer<Float>,
        accum: UnsafeMutablePointer<Float>, valueDim: Int
    ) {
        for j in 0..<rows {
            let row = s + j * cols
            let valid = max(0, min(cols, visible(j) - firstKey))
            let tileMax = valid > 0 ? VectorMath.max(row, count: valid) : -.infinity
            if tileMax == -.infinity {
                row.update(repeating: 0, count: cols)   // fully masked here: a no-op merge
                continue
            }
            let newMax = max(m[j], tileMax)
            let correction = m[j] == -.infinity ? 0 : VectorMath.exp(m[j] - newMax)
            let sum = VectorMath.expShifted(row, count: valid, shift: newMax)
            if valid < cols { (row + valid).update(repeating: 0, count: cols - valid) }
            l[j] = l[j] * correction + sum
            m[j] = newMax
            if correction != 1 { VectorMath.scale(accum + j * valueDim, count: valueDim, by: correction) }
        }
    }
}
