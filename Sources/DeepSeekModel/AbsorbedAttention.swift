#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Kernels
import KVCache

/// A decode step's attention in the absorbed MLA form, straight on the latent cache, for one
/// layer and a batch (one new token per sequence) — or a prefill's query rows that are few beside
/// the cached keys they see (each row a "sequence" ending at its position). Three stages, each split over the BLAS threads
/// as a reusable `ParallelJob` (no allocation per step):
///   1. q_lat[b, h] = q_nope[b, h] · W_UK[h], q_pe appended            → absorbedQ [B, H, rowWidth]
///   2. o_lat[b, h] = softmax(scale · q_lat · [c_kv ‖ k_pe]ᵀ) · c_kv    → outLatent [B, H, kv_lora]
///      (over `chunkPositions` cached rows at a time, with an online softmax)
///   3. out[b, h] = o_lat[b, h] · W_UV[h]ᵀ                               → attnOut [B, H·v]
/// Stages 1 and 3 split heads and run each head's absorption as a skinny linear layer on its worker
/// (W_UK read through its load-time transpose, W_UV straight from kv_b); stage 2 splits sequences
/// (or, for one sequence, halves of the heads).
final class AbsorbedAttention: ParallelJob {
    private enum Stage { case absorbQueries, attend, absorbOutputs }

    private unowned let model: DeepSeekTransformer
    private var scores: [Scratch] = []          // per worker: [H, chunk] scores, [H] running max, [H] running sum
    // The call in progress.
    private var stage = Stage.absorbQueries
    private var weights: AttentionWeights?
    private var layer = 0, batch = 0, headGroups = 1, firstRow = 0
    private var sequences = UnsafeBufferPointer<Int>(start: nil, count: 0)
    private var lengths = UnsafePointer<Int32>(bitPattern: 8)!   // [B] rows already cached before this step
    private var cache: PagedLatentCache?

    init(model: DeepSeekTransformer) { self.model = model }

    /// Reads the roped queries in model.queries [B, H, nope + rope] (rows firstRow ..< firstRow + B)
    /// and the cache (each row's own position already written: row i attends over lengths[i] + 1
    /// rows); leaves the output in model.attnOut, same rows [B, H·v] (grown by the caller when firstRow > 0).
    func run(_ w: AttentionWeights, layer: Int, sequences: UnsafeBufferPointer<Int>, lengths: UnsafePointer<Int32>,
             cache: PagedLatentCache, firstRow: Int = 0) {
        let c = model.config, b = sequences.count, heads = c.numAttentionHeads
        self.weights = w; self.layer = layer; self.batch = b; self.sequences = sequences
        self.lengths = lengths; self.cache = cache; self.firstRow = firstRow
        defer { self.weights = nil; self.cache = nil }
        // Grow every buffer here, on the calling thread.
        _ = model.absorbedQ.reserve(b * heads * c.latentRowWidth)
        _ = model.outLatent.reserve(b * heads * c.kvLoraRank)
        if firstRow == 0 { _ = model.attnOut.reserve(b * heads * c.vHeadDim) }
        let attendWorkers = Parallel.workers(for: b == 1 ? heads : b)
        headGroups = b == 1 ? attendWorkers : 1
        while scores.count < attendWorkers { scores.append(Scratch()) }
        for s in scores { _ = s.reserve(heads * (Self.chunkPositions + 2)) }

        stage = .absorbQueries
        Parallel.run(workers: Parallel.workers(for: heads), self)
        stage = .attend
        Parallel.run(workers: attendWorkers, self)
        stage = .absorbOutputs
        Parallel.run(workers: Parallel.workers(for: heads), self)
    }

    func work(worker: Int, workers: Int) {
        guard let w = weights, let cache else { return }
        switch stage {
        case .absorbQueries: absorbQueries(w, heads: stride(from: worker, to: model.config.numAttentionHeads, by: workers))
        case .attend: attend(cache, items: stride(from: worker, to: batch * headGroups, by: workers), scores: scores[worker].pointer)
        case .absorbOutputs: absorbOutputs(w, heads: stride(from: worker, to: model.config.numAttentionHeads, by: workers))
        }
    }

    private func absorbQueries(_ a: AttentionWeights, heads selected: StrideTo<Int>) {
        let c = model.config, heads = c.numAttentionHeads, nope = c.qkNopeHeadDim
        let kvl = c.kvLoraRank, rw = c.latentRowWidth, qk = c.qkHeadDim, b = batch
        let q = model.queries.pointer + firstRow * heads * qk                  // [B, H, nope + rope]
        let qAbs = model.absorbedQ.pointer                                     // [B, H, rowWidth]
        for head in selected {
            Linear.applyOnThisThread(q + head * qk, rows: b, lda: heads * qk, weight: a.keyAbsorption[head],
                                     into: qAbs + head * rw, ldy: heads * rw)   // [B, kv_lora] of head
            for i in 0..<b { (qAbs + (i * heads + head) * rw + kvl).update(from: q + (i * heads + head) * qk + nope, count: c.qkRopeHeadDim) }
        }
    }

    /// Cached positions attended per pass: the scores and then the values of the same 64 rows
    /// (147 KiB of f32 rows at DeepSeek's width 576), so the value pass finds them in L2. Over the
    /// whole sequence at once the value pass re-read the rows from wherever the score pass had left
    /// them — L3 or memory, as the host allowed (`bench-fp8`, context 512, batch 1, f32 cache: stage
    /// 2 took 0.20–0.36 ms per layer, 0.20–0.27 in chunks). docs/kv-cache-bf16.md, "Decode attention".
    static let chunkPositions = 64

    /// Item = (sequence, head group); sequence i attends over lengths[i] + 1 cached rows, read as
    /// stored (f32 or bf16), chunk by chunk of fixed positions (0..<64, 64..<128, …, whatever the
    /// pages' layout, so the result depends neither on it nor on the batch or thread split): scores
    /// by the skinny kernel (the cache rows are the "weight"; sgemm would pack them first, which
    /// costs as much as the product at a few query rows), then the online softmax — each head keeps
    /// its running max m and sum l of e^(s − m), and a chunk whose max exceeds m rescales the head's
    /// partial output and l by e^(m − max) first — then the chunk's e^(s − m) · rows added to the
    /// output by KVWeightedRows; at the end each head's output is divided by its l.
    private func attend(_ cache: PagedLatentCache, items: StrideTo<Int>, scores s: UnsafeMutablePointer<Float>) {
        let c = model.config, heads = c.numAttentionHeads, kvl = c.kvLoraRank, rw = c.latentRowWidth
        let qAbs = model.absorbedQ.pointer, oLat = model.outLatent.pointer, scale = model.softmaxScale
        for item in items {
            let i = item / headGroups, group = item % headGroups
            let h0 = group * heads / headGroups, hn = (group + 1) * heads / headGroups - h0
            let length = Int(lengths[i]) + 1
            let qi = qAbs + (i * heads + h0) * rw                              // [hn, rowWidth]
            let oi = oLat + (i * heads + h0) * kvl                             // [hn, kv_lora]
            let runningMax = s + hn * Self.chunkPositions, runningSum = runningMax + hn   // [hn] each
            var start = 0
            while start < length {
                let end = min(length, start + Self.chunkPositions), n = end - start
                forEachRun(cache, sequence: sequences[i], positions: start..<end) { rows, first in
                    SkinnyLinear.runOnThisThread(qi, rows: hn, lda: rw, weight: rows, into: s + (first - start),
                                                 ldy: n, alpha: scale)
                }                                                              // scores [hn, n]
                for h in 0..<hn {
                    let row = s + h * n, chunkMax = VectorMath.max(row, count: n)
                    if start == 0 {
                        runningMax[h] = chunkMax
                        runningSum[h] = VectorMath.expShifted(row, count: n, shift: chunkMax)
                    } else if chunkMax > runningMax[h] {
                        let rescale = expf(runningMax[h] - chunkMax)
                        VectorMath.scale(oi + h * kvl, count: kvl, by: rescale)
                        runningSum[h] = runningSum[h] * rescale + VectorMath.expShifted(row, count: n, shift: chunkMax)
                        runningMax[h] = chunkMax
                    } else {
                        runningSum[h] += VectorMath.expShifted(row, count: n, shift: runningMax[h])
                    }
                }                                                              // e^(s − m) [hn, n]
                forEachRun(cache, sequence: sequences[i], positions: start..<end) { rows, first in
                    KVWeightedRows.run(s + (first - start), heads: hn, ldp: n, values: rows, columns: kvl,
                                       into: oi, ldo: kvl, accumulate: first > 0)   // [hn, kv_lora]
                }
                start = end
            }
            for h in 0..<hn { VectorMath.scale(oi + h * kvl, count: kvl, by: 1 / runningSum[h]) }
        }
    }

    /// The cache runs covering `positions` of a sequence in this layer, each as a [rows, rowWidth]
    /// matrix of the cache's dtype: body(rows, first position).
    private func forEachRun(_ cache: PagedLatentCache, sequence: Int, positions: Range<Int>,
                            _ body: (WeightMatrix, Int) -> Void) {
        let rw = model.config.latentRowWidth
        switch cache.dtype {
        case .f32:
            cache.forEachRun(sequence: sequence, layer: layer, from: positions.lowerBound, count: positions.upperBound) { run, first, rows in
                body(WeightMatrix(f32: run, rows: rows, cols: rw), first)
            }
        case .bf16:
            cache.forEachBF16Run(sequence: sequence, layer: layer, from: positions.lowerBound, count: positions.upperBound) { run, first, rows in
                body(WeightMatrix(storage: .bf16, base: UnsafeRawPointer(run), rows: rows, cols: rw), first)
            }
        }
    }

    private func absorbOutputs(_ a: AttentionWeights, heads selected: StrideTo<Int>) {
        let c = model.config, heads = c.numAttentionHeads, vDim = c.vHeadDim, kvl = c.kvLoraRank
        let oLat = model.outLatent.pointer, attn = model.attnOut.pointer + firstRow * heads * vDim
        for head in selected {
            Linear.applyOnThisThread(oLat + head * kvl, rows: batch, lda: heads * kvl, weight: a.valueAbsorption[head],
                                     into: attn + head * vDim, ldy: heads * vDim)   // [B, v] of head
        }
    }
}
