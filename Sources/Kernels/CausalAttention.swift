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
/// so memory is O(tile + queries) whatever the prompt length. Query row j stands at position
/// firstPosition + j and sees keys [0, min(firstPosition + j + 1, keyLimit)) — bottom-right causal
/// alignment; rows past keyLimit (pads) see every real key and are simply never read by the caller.
///
/// Per tile t the kernel keeps, per row, the running max m, the running sum l = Σ e^{s−m} and the
/// unnormalised output; folding tile t in is exactly the log-sum-exp merge
/// L = log(e^{L_run} + e^{L_t}), O = e^{L_run−L}·O_run + e^{L_t−L}·O_t, applied in key order to
/// already-merged partials. A fully masked tile (L_t = −inf) is skipped, never producing NaN.
///
/// Each head's operands are first copied out of the projections' token-major rows (a key row of
/// one head is 128 floats every heads · 256, 16 KiB apart at 16 heads) into contiguous per-worker
/// panels: the queries [queries, nope + rope] once, the keys [chunk, nope + rope] with the shared
/// rope keys beside their nope part (so QKᵀ is one product of depth nope + rope) and the values
/// [chunk, v], `keyChunk` keys at a time. Every query tile's running state lives across the
/// chunks. At 4096 tokens of `bench`'s shapes (16 heads, two workers, alternating runs) the faster
/// half of the runs went from 191–218 GFLOP/s to 224–240; at 1024 the median from 130 to 139
/// (session 20).
public final class CausalAttention: ParallelJob, @unchecked Sendable {
    public let queryTile: Int, keyTile: Int
    /// Keys copied per pass (a multiple of keyTile, so the tiles are those of one long pass).
    public let keyChunk: Int
    /// Per worker thread: scores [tq, keyTile]; running m and l [2·queries]; accumulator
    /// [queries, v]; the head's copied queries [queries, qk], keys [keyChunk, qk], values [keyChunk, v].
    private var workerScratch: [(scores: Scratch, running: Scratch, acc: Scratch, panels: Scratch)] = []
    /// One call's operands and the key counts derived from them once, read by the workers.
    private struct Call {
        let o: AttentionOperands, queries: Int, firstPosition: Int, keyLimit: Int, scale: Float
        /// Keys the last query row sees, and the key rows the panels hold (min(keyChunk, keys)).
        let keys: Int, chunkRows: Int
    }
    /// The call in progress.
    private var call: Call?

    public init(queryTile: Int = 256, keyTile: Int = 512, keyChunk: Int = 4096) {
        self.queryTile = queryTile
        self.keyTile = keyTile
        self.keyChunk = max(1, (keyChunk + keyTile - 1) / keyTile) * keyTile
    }

    /// Floats the per-worker buffers hold now (they keep the size of the largest call so far).
    public var bufferFloats: Int {
        workerScratch.reduce(0) { $0 + $1.scores.capacity + $1.running.capacity + $1.acc.capacity + $1.panels.capacity }
    }

    /// Frees the per-worker buffers (the next call allocates again). Same thread rule as `run`.
    public func releaseBuffers() {
        for w in workerScratch { for s in [w.scores, w.running, w.acc, w.panels] { s.releaseMemory() } }
    }

    /// Heads are independent: they are split over `Parallel.workers` threads (static round-robin,
    /// every head costs the same), each running single-threaded BLAS on its own scratch.
    public func run(_ o: AttentionOperands, queries: Int, firstPosition: Int, keyLimit: Int, scale: Float) {
        guard queries > 0 else { return }
        // The last query row sees keys [0, min(firstPosition + queries, keyLimit)): reading past the
        // rows the caller decompressed would be an out-of-bounds read, so it is a caller bug.
        let keys = min(firstPosition + queries, keyLimit), chunkRows = min(keyChunk, max(keys, 1))
        precondition(keys <= o.keyRows, "attention over \(keys) keys, \(o.keyRows) present")
        let workers = Parallel.workers(for: o.heads)
        while workerScratch.count < workers { workerScratch.append((Scratch(), Scratch(), Scratch(), Scratch())) }
        let tq = min(queryTile, queries), qk = o.nopeDim + o.ropeDim
        for w in 0..<workers {                                 // grow on this thread, before fanning out
            _ = workerScratch[w].scores.reserve(tq * keyTile)
            _ = workerScratch[w].running.reserve(2 * queries)
            _ = workerScratch[w].acc.reserve(queries * o.valueDim)
            _ = workerScratch[w].panels.reserve(queries * qk + chunkRows * (qk + o.valueDim))
        }
        call = Call(o: o, queries: queries, firstPosition: firstPosition, keyLimit: keyLimit, scale: scale,
                    keys: keys, chunkRows: chunkRows)
        Parallel.run(workers: workers, self)
        call = nil
    }

    public func work(worker: Int, workers: Int) {
        guard let c = call else { return }
        for h in stride(from: worker, to: c.o.heads, by: workers) { head(h, c, scratch: worker) }
    }

    private func head(_ h: Int, _ c: Call, scratch w: Int) {
        let o = c.o, queries = c.queries, firstPosition = c.firstPosition, keyLimit = c.keyLimit, keys = c.keys
        let tq = min(queryTile, queries), qk = o.nopeDim + o.ropeDim, vDim = o.valueDim
        let s = workerScratch[w].scores.pointer                 // [tq, keyTile]
        let m = workerScratch[w].running.pointer, l = m + queries   // m [queries], l [queries]
        let accum = workerScratch[w].acc.pointer                // [queries, v]
        let qPanel = workerScratch[w].panels.pointer            // [queries, qk]
        let kPanel = qPanel + queries * qk                      // [chunk, qk]: k_nope ‖ k_pe
        let vPanel = kPanel + c.chunkRows * qk                  // [chunk, v]
        for j in 0..<queries {
            (qPanel + j * qk).update(from: o.q + j * o.qRowStride + h * o.qHeadStride, count: qk)
        }
        m.update(repeating: -.infinity, count: queries)
        l.update(repeating: 0, count: queries)
        accum.update(repeating: 0, count: queries * vDim)
        var c0 = 0
        while c0 < keys {
            let cn = min(keyChunk, keys - c0)
            for r in 0..<cn {
                let row = o.kv + (c0 + r) * o.kvRowStride + h * o.kvHeadStride
                (kPanel + r * qk).update(from: row, count: o.nopeDim)
                (kPanel + r * qk + o.nopeDim).update(from: o.kPe + (c0 + r) * o.kPeRowStride, count: o.ropeDim)
                (vPanel + r * vDim).update(from: row + o.valueOffset, count: vDim)
            }
            var q0 = 0
            while q0 < queries {
                let qn = min(tq, queries - q0)
                let visibleEnd = min(firstPosition + q0 + qn, keyLimit, c0 + cn)  // keys of this chunk the tile needs
                var k0 = c0
                while k0 < visibleEnd {
                    let kn = min(keyTile, visibleEnd - k0)
                    // s = scale · [q_nope ‖ q_pe] · [k_nope ‖ k_pe]ᵀ   [qn, kn]
                    BLAS.gemm(transB: true, m: qn, n: kn, k: qk, alpha: c.scale, a: qPanel + q0 * qk, lda: qk,
                              b: kPanel + (k0 - c0) * qk, ldb: qk, c: s, ldc: kn)
                    Self.softmaxUpdate(s: s, rows: qn, cols: kn, firstKey: k0,
                                       visible: { j in min(firstPosition + q0 + j + 1, keyLimit) },
                                       m: m + q0, l: l + q0, accum: accum + q0 * vDim, valueDim: vDim)
                    // accum += p · v   [qn, v]
                    BLAS.gemm(m: qn, n: vDim, k: kn, a: s, lda: kn, b: vPanel + (k0 - c0) * vDim, ldb: vDim,
                              beta: 1, c: accum + q0 * vDim, ldc: vDim)
                    k0 += kn
                }
                q0 += qn
            }
            c0 += cn
        }
        for j in 0..<queries {
            let inv: Float = l[j] > 0 ? 1 / l[j] : 0
            VectorMath.scaled(accum + j * vDim, count: vDim, by: inv, into: o.out + j * o.outRowStride + h * vDim)
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
