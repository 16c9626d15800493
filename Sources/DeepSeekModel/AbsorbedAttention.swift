import Kernels
import KVCache

/// A decode step's attention in the absorbed MLA form, straight on the latent cache, for one
/// layer and a batch (one new token per sequence). Three stages, each split over the BLAS threads
/// as a reusable `ParallelJob` (no allocation per step):
///   1. q_lat[b, h] = q_nope[b, h] · W_UK[h], q_pe appended            → absorbedQ [B, H, rowWidth]
///   2. o_lat[b, h] = softmax(scale · q_lat · [c_kv ‖ k_pe]ᵀ) · c_kv    → outLatent [B, H, kv_lora]
///   3. out[b, h] = o_lat[b, h] · W_UV[h]ᵀ                               → attnOut [B, H·v]
/// Stages 1 and 3 split heads and run each head's absorption as a skinny linear layer on its worker
/// (W_UK read through its load-time transpose, W_UV straight from kv_b); stage 2 splits sequences
/// (or, for one sequence, halves of the heads).
final class AbsorbedAttention: ParallelJob {
    private enum Stage { case absorbQueries, attend, absorbOutputs }

    private unowned let model: DeepSeekTransformer
    private var scores: [Scratch] = []          // per worker: [H, L] scores of the item in progress
    // The call in progress.
    private var stage = Stage.absorbQueries
    private var weights: AttentionWeights?
    private var layer = 0, batch = 0, headGroups = 1
    private var sequences = UnsafeBufferPointer<Int>(start: nil, count: 0)
    private var lengths = UnsafePointer<Int32>(bitPattern: 8)!   // [B] rows already cached before this step
    private var cache: PagedLatentCache?

    init(model: DeepSeekTransformer) { self.model = model }

    /// Reads the roped queries in model.queries [B, H, nope + rope] and the cache (this step's row
    /// already written); leaves the output in model.attnOut [B, H·v].
    func run(_ w: AttentionWeights, layer: Int, sequences: UnsafeBufferPointer<Int>, lengths: UnsafePointer<Int32>,
             cache: PagedLatentCache) {
        let c = model.config, b = sequences.count, heads = c.numAttentionHeads
        self.weights = w; self.layer = layer; self.batch = b; self.sequences = sequences
        self.lengths = lengths; self.cache = cache
        defer { self.weights = nil; self.cache = nil }
        // Grow every buffer here, on the calling thread.
        _ = model.absorbedQ.reserve(b * heads * c.latentRowWidth)
        _ = model.outLatent.reserve(b * heads * c.kvLoraRank)
        _ = model.attnOut.reserve(b * heads * c.vHeadDim)
        let attendWorkers = Parallel.workers(for: b == 1 ? heads : b)
        headGroups = b == 1 ? attendWorkers : 1
        var maxLength = 0
        for i in 0..<b { maxLength = max(maxLength, Int(lengths[i]) + 1) }
        while scores.count < attendWorkers { scores.append(Scratch()) }
        for s in scores { _ = s.reserve(heads * maxLength) }

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
        let q = model.queries.pointer                                          // [B, H, nope + rope]
        let qAbs = model.absorbedQ.pointer                                     // [B, H, rowWidth]
        for head in selected {
            Linear.applyOnThisThread(q + head * qk, rows: b, lda: heads * qk, weight: a.keyAbsorption[head],
                                     into: qAbs + head * rw, ldy: heads * rw)   // [B, kv_lora] of head
            for i in 0..<b { (qAbs + (i * heads + head) * rw + kvl).update(from: q + (i * heads + head) * qk + nope, count: c.qkRopeHeadDim) }
        }
    }

    /// Item = (sequence, head group); sequence i attends over lengths[i] + 1 cached rows, read as
    /// stored (f32 or bf16): scores by the skinny kernel (the cache rows are the "weight", streamed
    /// once — sgemm would pack them all first, which costs as much as the product at a few query
    /// rows), the weighted sum of latents by KVWeightedRows (one FMA chain per output in row order
    /// across the runs).
    private func attend(_ cache: PagedLatentCache, items: StrideTo<Int>, scores s: UnsafeMutablePointer<Float>) {
        let c = model.config, heads = c.numAttentionHeads, kvl = c.kvLoraRank, rw = c.latentRowWidth
        let qAbs = model.absorbedQ.pointer, oLat = model.outLatent.pointer, scale = model.softmaxScale
        for item in items {
            let i = item / headGroups, group = item % headGroups
            let h0 = group * heads / headGroups, hn = (group + 1) * heads / headGroups - h0
            let length = Int(lengths[i]) + 1
            let qi = qAbs + (i * heads + h0) * rw                              // [hn, rowWidth]
            let oi = oLat + (i * heads + h0) * kvl                             // [hn, kv_lora]
            forEachRun(cache, sequence: sequences[i], count: length) { rows, first in
                SkinnyLinear.runOnThisThread(qi, rows: hn, lda: rw, weight: rows, into: s + first, ldy: length, alpha: scale)
            }                                                                  // scores [hn, L]
            Elementwise.softmaxRows(s, rows: hn, cols: length)
            forEachRun(cache, sequence: sequences[i], count: length) { rows, first in
                KVWeightedRows.run(s + first, heads: hn, ldp: length, values: rows, columns: kvl,
                                   into: oi, ldo: kvl, accumulate: first > 0)   // [hn, kv_lora]
            }
        }
    }

    /// The cache runs covering positions 0..<count of a sequence in this layer, each as a
    /// [rows, rowWidth] matrix of the cache's dtype: body(rows, first position).
    private func forEachRun(_ cache: PagedLatentCache, sequence: Int, count: Int, _ body: (WeightMatrix, Int) -> Void) {
        let rw = model.config.latentRowWidth
        switch cache.dtype {
        case .f32:
            cache.forEachRun(sequence: sequence, layer: layer, count: count) { run, first, rows in
                body(WeightMatrix(f32: run, rows: rows, cols: rw), first)
            }
        case .bf16:
            cache.forEachBF16Run(sequence: sequence, layer: layer, count: count) { run, first, rows in
                body(WeightMatrix(storage: .bf16, base: UnsafeRawPointer(run), rows: rows, cols: rw), first)
            }
        }
    }

    private func absorbOutputs(_ a: AttentionWeights, heads selected: StrideTo<Int>) {
        let c = model.config, heads = c.numAttentionHeads, vDim = c.vHeadDim, kvl = c.kvLoraRank
        let oLat = model.outLatent.pointer, attn = model.attnOut.pointer
        for head in selected {
            Linear.applyOnThisThread(oLat + head * kvl, rows: batch, lda: heads * kvl, weight: a.valueAbsorption[head],
                                     into: attn + head * vDim, ldy: heads * vDim)   // [B, v] of head
        }
    }
}
