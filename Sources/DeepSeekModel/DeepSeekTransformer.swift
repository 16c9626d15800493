import Foundation
import Kernels
import KVCache
import Tensors

/// A DeepSeek-V2/V3 causal LM computing in f32: batched prefill in the decompressed MLA form and
/// batched decode steps in the absorbed form, both over a paged latent cache.
/// Not thread-safe: one forward at a time (scratch buffers are reused across calls).
public final class DeepSeekTransformer: @unchecked Sendable {
    public let config: DeepSeekConfig
    /// The HF folder the model was loaded from (nil for one built in memory): its tokenizer is the
    /// vocabulary a structured output needs.
    public private(set) var directory: String?
    public let weights: ModelWeights
    public let rope: RotaryEmbedding
    /// 1/sqrt(nope + rope), times mscale² under YaRN.
    public let softmaxScale: Float
    /// See ModelFingerprint: equal on both daemons or no KV changes hands.
    public let fingerprint: String

    let attention = CausalAttention()
    let feedForward: FeedForward
    // Step buffers (grown on demand, never shrunk).
    let hidden = Scratch(), normed = Scratch(), projected = Scratch(), qLatent = Scratch(), queries = Scratch()
    let latent = Scratch(), attnOut = Scratch(), ffnOut = Scratch(), cosTable = Scratch(), sinTable = Scratch()
    let keysValues = Scratch(), ropeKeys = Scratch(), absorbedQ = Scratch(), outLatent = Scratch()
    let lastRows = Scratch()
    let positionRows = Scratch(), positionLogits = Scratch(), positionResults = Scratch()   // prompt logprobs (PromptLogprobs.swift)
    /// Local rows of the last prefill step, whose final residual stream `hidden` still holds.
    var prefilledRows = 0
    private lazy var absorbedAttention = AbsorbedAttention(model: self)
    private var decodePositions: [Int32] = []   // [batch], kept across steps
    /// [layers][routed experts]: which experts the last forward computed (empty for dense layers).
    private var expertsUsed: [[Bool]]

    /// Loads config.json and the safetensors weights of an HF folder, linear weights held as
    /// `weightsDType` says (auto: as stored), where `residency` says (the shared file mapping, or
    /// this process's huge-page copies).
    public convenience init(directory: String, weightsDType: WeightsDType = .auto, residency: WeightResidency = .mmap) throws {
        try CPUFeatures.requireBaseline()                  // before reading any weights
        let config = try DeepSeekConfig.load(directory: directory)
        let store = try SafetensorsStore(directory: directory, residency: residency)
        let weights = try ModelWeights(store: store, config: config, dtype: weightsDType)
        let fingerprint = try ModelFingerprint.compute(config: config, store: store, roundedToBF16: weights.roundedToBF16)
        store.releaseMappedPages()                         // huge pages: the copies are what the model reads
        try self.init(config: config, weights: weights, fingerprint: fingerprint)
        self.directory = directory
    }

    /// Throws CPUError on a CPU without AVX2 + FMA + F16C (the kernels' baseline).
    public init(config: DeepSeekConfig, weights: ModelWeights, fingerprint: String? = nil) throws {
        try CPUFeatures.requireBaseline()
        BLAS.adviseOnCoreOnce()
        try config.validate()
        self.config = config
        self.weights = weights
        self.fingerprint = try fingerprint ?? ModelFingerprint.compute(config: config, store: nil)
        let settings = try config.rope.settings(headDim: config.qkRopeHeadDim, maxPositions: config.maxPositionEmbeddings,
                                                interleaved: config.ropeInterleave ?? true)
        rope = settings.rope
        softmaxScale = 1 / Float(config.qkHeadDim).squareRoot() * settings.scaleMultiplier
        feedForward = FeedForward(config: config)
        expertsUsed = (0..<config.numHiddenLayers).map { [Bool](repeating: false, count: config.isMoELayer($0) ? config.routedExperts : 0) }
    }

    /// Frees the step buffers, which keep the size of the largest forward so far (tokens × widths) so
    /// a busy process does not allocate; an idle one calls this (the prefill ranks, between batches
    /// once idle) so its memory returns to what the weights and caches hold. The next forward
    /// allocates again. Same thread rule as the forwards.
    public func releaseStepBuffers() {
        for s in stepBuffers { s.releaseMemory() }
        feedForward.releaseBuffers()
        attention.releaseBuffers()
        BLAS.releasePanels()
    }

    /// Bytes the step buffers hold now (BLAS's per-thread panel buffers, which every stored-dtype
    /// prefill in the process shares, apart: `BLAS.panelFloatsHeld`).
    public var stepBufferBytes: Int {
        (stepBuffers.reduce(0) { $0 + $1.capacity } + feedForward.bufferFloats + attention.bufferFloats) * MemoryLayout<Float>.stride
    }

    private var stepBuffers: [Scratch] {
        [hidden, normed, projected, qLatent, queries, latent, attnOut, ffnOut, cosTable, sinTable,
         keysValues, ropeKeys, absorbedQ, outLatent, lastRows, positionRows, positionLogits, positionResults]
    }

    /// The routed experts layer `layer`'s MoE block computed in the last forward (prefill step or
    /// decode step), each once for all the rows routed to it; empty for a dense layer. What a decode
    /// step streams of the experts (the benchmark's floor counts these bytes only).
    public func expertsComputedInLastForward(layer: Int) -> [Int] {
        expertsUsed[layer].indices.filter { expertsUsed[layer][$0] }
    }

    // MARK: Prefill

    /// Runs one prefill step over `layout`'s local rows, writing every layer's latent rows of each
    /// request (positions cachedPrefix ..< cachedPrefix + newTokens) into `cache` under
    /// `sequences[i]`, and calling `onLayer(l)` as soon as layer l's rows are in the cache.
    /// Returns the logits [requests][vocab] at each request's last position on the process that
    /// computes them (the exchange decides), nil on the others.
    public func prefill(
        _ layout: PrefillLayout, sequences: [Int], cache: PagedLatentCache,
        exchange: LatentExchange = LocalExchange(), onLayer: ((Int) throws -> Void)? = nil
    ) throws -> [[Float]]? {
        let c = config
        try layout.validate(vocabSize: c.vocabSize, maxPositions: c.maxPositionEmbeddings)
        guard sequences.count == layout.requests.count else {
            throw ModelError.badLayout("\(sequences.count) cache sequences for \(layout.requests.count) requests")
        }
        // Prefill attends over f32 rows (what the prefill daemon ships); a bf16 cache is filled by
        // a KV transfer (the decode daemon, Generator), which rounds where the wire does.
        guard cache.dtype == .f32 else { throw ModelError.unsupported(feature: "prefill into a \(cache.dtype) latent cache (prefill writes f32 rows)") }
        let t = layout.localRows, h = c.hiddenSize
        let x = hidden.reserve(t * h)                                          // [T, hidden]
        embed(layout.tokens, into: x)
        let positions = layout.positions
        positions.withUnsafeBufferPointer { rope.tables(positions: $0.baseAddress!, rows: t, cos: cosTable.reserve(t * rope.dim / 2), sin: sinTable.reserve(t * rope.dim / 2)) }

        for l in 0..<c.numHiddenLayers {
            let w = weights.layers[l]
            let local = projectLayerInputs(w, x: x, rows: t)                    // q in `queries`, [T, rowWidth] latent
            let restored = try exchange.gatherLatent(layer: l, local: local, layout: layout, rowWidth: c.latentRowWidth)
            var offset = 0
            for (i, r) in layout.requests.enumerated() {
                try cache.write(sequence: sequences[i], layer: l, start: r.cachedPrefix,
                                rows: restored + offset * c.latentRowWidth, count: r.newTokens)
                offset += r.newTokens
            }
            try onLayer?(l)
            try prefillAttention(w.attention, layer: l, layout: layout, sequences: sequences, cache: cache)
            finishLayer(w, layer: l, x: x, rows: t)
        }
        prefilledRows = t
        return try finalLogits(x: x, layout: layout, exchange: exchange)
    }

    /// Decompressed MLA over the cache: per request, decompress only the key prefix this process's
    /// query blocks can see, then tiled causal attention per block. Output in `attnOut` [T, H·v].
    private func prefillAttention(_ w: AttentionWeights, layer: Int, layout: PrefillLayout, sequences: [Int], cache: PagedLatentCache) throws {
        let c = config, heads = c.numAttentionHeads, nope = c.qkNopeHeadDim, vDim = c.vHeadDim
        let kvWidth = heads * (nope + vDim), rw = c.latentRowWidth, kvl = c.kvLoraRank, ropeDim = c.qkRopeHeadDim
        let out = attnOut.reserve(layout.localRows * heads * vDim)
        let q = queries.pointer
        for b in layout.blocks where layout.visibleKeys(b) == 0 {              // pad-only rows: zeros, not stale scratch
            (out + b.localStart * heads * vDim).update(repeating: 0, count: b.count * heads * vDim)
        }
        for (i, r) in layout.requests.enumerated() {
            let needed = layout.keysToDecompress(request: i)
            guard needed > 0 else { continue }
            let blocks = layout.blocks.filter { $0.request == i && layout.visibleKeys($0) > 0 }
            if absorbedIsCheaper(queryRows: blocks.reduce(0) { $0 + layout.visibleKeys($1) - $1.firstPosition }, keys: needed,
                                 pairs: blocks.reduce(0) { $0 + Self.causalPairs($1, visible: layout.visibleKeys($1)) }) {
                try attendAbsorbed(w, layer: layer, blocks: blocks, sequence: sequences[i], visible: layout.visibleKeys, cache: cache)
                continue
            }
            let kv = keysValues.reserve(needed * kvWidth)                     // [K, H·(nope+v)]
            let kPe = ropeKeys.reserve(needed * ropeDim)                      // [K, rope]
            cache.forEachRun(sequence: sequences[i], layer: layer, count: needed) { run, first, count in
                Linear.apply(run, rows: count, lda: rw, weight: w.kvB, into: kv + first * kvWidth)
                for j in 0..<count { (kPe + (first + j) * ropeDim).update(from: run + j * rw + kvl, count: ropeDim) }
            }
            for b in layout.blocks where b.request == i && layout.visibleKeys(b) > 0 {
                let operands = AttentionOperands(
                    heads: heads, nopeDim: nope, ropeDim: ropeDim, valueDim: vDim,
                    q: q + b.localStart * heads * c.qkHeadDim, qRowStride: heads * c.qkHeadDim, qHeadStride: c.qkHeadDim,
                    kv: kv, kvRowStride: kvWidth, kvHeadStride: nope + vDim, valueOffset: nope,
                    kPe: kPe, kPeRowStride: ropeDim, keyRows: needed,
                    out: out + b.localStart * heads * vDim, outRowStride: heads * vDim)
                attention.run(operands, queries: b.count, firstPosition: b.firstPosition, keyLimit: r.totalTokens, scale: softmaxScale)
            }
        }
    }

    /// Query·key pairs a block's real rows score: the row at position p sees p + 1 keys.
    static func causalPairs(_ b: PrefillLayout.QueryBlock, visible: Int) -> Int {
        let rows = visible - b.firstPosition
        return rows * (b.firstPosition + 1) + rows * (rows - 1) / 2
    }

    /// MLA's two forms for one request's query rows on this process, in multiply-adds per head:
    /// decompress the K keys they see (kv_b: K · kv_lora · (nope + v)) and attend over nope + rope,
    /// then v; or absorb each row's query and output (rows · kv_lora · (nope + v)) and attend over the
    /// latent rows (rowWidth, then kv_lora, per pair). The absorbed form wins when the rows are few
    /// beside the keys: a short prompt after a long cached prefix, a chunked prefill's late chunks.
    /// Per multiply-add the two ran alike (`bench`, 2 ranks, session 33: each forced in turn, the
    /// cheaper one by this count matched the faster one — 2048 tokens whole: decompressed 5.1 s,
    /// absorbed 6.0–6.2; 64 tokens after 1984 cached: 0.66–0.73 s against 0.36–0.40; 2048 in chunks
    /// of 256: 6.6–6.9 s against 6.3–6.5), so they are compared as counted.
    func absorbedIsCheaper(queryRows: Int, keys: Int, pairs: Int) -> Bool {
        let c = config
        let projection = c.kvLoraRank * (c.qkNopeHeadDim + c.vHeadDim)
        let decompressed = keys * projection + pairs * (c.qkHeadDim + c.vHeadDim)
        let absorbed = queryRows * projection + pairs * (c.latentRowWidth + c.kvLoraRank)
        return absorbed < decompressed
    }

    /// The absorbed form for one request's blocks: each real row attends over the cache up to its
    /// own position (the step's rows are all in the cache by now), as a decode step would; pad rows
    /// get zeros. Output in `attnOut` at the blocks' rows.
    private func attendAbsorbed(_ w: AttentionWeights, layer: Int, blocks: [PrefillLayout.QueryBlock], sequence: Int,
                                visible: (PrefillLayout.QueryBlock) -> Int, cache: PagedLatentCache) throws {
        let width = config.numAttentionHeads * config.vHeadDim, out = attnOut.pointer
        for b in blocks {
            let real = visible(b) - b.firstPosition
            if real < b.count { (out + (b.localStart + real) * width).update(repeating: 0, count: (b.count - real) * width) }
            let rowSequences = [Int](repeating: sequence, count: real)
            let positions = (0..<real).map { Int32(b.firstPosition + $0) }    // row j attends over positions 0...p_j
            try cache.checkRuns(sequence: sequence, layer: layer, count: b.firstPosition + real)
            rowSequences.withUnsafeBufferPointer { rows in
                positions.withUnsafeBufferPointer { lengths in
                    absorbedAttention.run(w, layer: layer, sequences: rows, lengths: lengths.baseAddress!, cache: cache, firstRow: b.localStart)
                }
            }
        }
    }

    private func finalLogits(x: UnsafePointer<Float>, layout: PrefillLayout, exchange: LatentExchange) throws -> [[Float]]? {
        let h = config.hiddenSize, n = layout.requests.count
        let rows = lastRows.zeroed(n * h)                                      // [requests, hidden]
        for (i, row) in layout.lastRows.enumerated() {
            if let row { (rows + i * h).update(from: x + row * h, count: h) }
        }
        guard try exchange.gatherLastRows(rows, requests: n, width: h, layout: layout) else { return nil }
        let logits = logitsFor(rows: rows, count: n)
        return (0..<n).map { Array(UnsafeBufferPointer(start: logits + $0 * config.vocabSize, count: config.vocabSize)) }
    }

    // MARK: Decode

    /// One decode step for a batch: token b is appended to `sequences[b]` at position
    /// length(sequences[b]) and attends over that sequence's cache (absorbed MLA form).
    /// logits: [batch, vocab]. No allocation once the scratch buffers have grown.
    public func decode(tokens: UnsafeBufferPointer<Int32>, sequences: UnsafeBufferPointer<Int>, cache: PagedLatentCache,
                       logits out: UnsafeMutablePointer<Float>) throws {
        let b = tokens.count
        guard sequences.count == b else { throw ModelError.badLayout("\(sequences.count) sequences for \(b) tokens") }
        let pos = reserveDecodePositions(b)
        for i in 0..<b { pos[i] = Int32(try cache.length(of: sequences[i])) }
        try decodeRows(tokens: tokens, sequences: sequences, cache: cache, logits: out)
    }

    /// A decode step whose rows carry their positions: a sequence may have several rows (a token and
    /// the drafts after it, speculative decoding), in order at consecutive positions, the first at or
    /// below its length. Each row's KV is written at its position before any row attends, and row r
    /// attends over its sequence's positions 0...positions[r], so its logits equal those of a step
    /// that ran it alone at that position. Each sequence's length becomes its last row's position + 1.
    public func decode(tokens: UnsafeBufferPointer<Int32>, sequences: UnsafeBufferPointer<Int>, positions: UnsafeBufferPointer<Int32>,
                       cache: PagedLatentCache, logits out: UnsafeMutablePointer<Float>) throws {
        let b = tokens.count
        guard sequences.count == b, positions.count == b else {
            throw ModelError.badLayout("\(sequences.count) sequences and \(positions.count) positions for \(b) tokens")
        }
        let pos = reserveDecodePositions(b)
        for i in 0..<b {
            let p = Int(positions[i])
            var previous: Int?
            for j in stride(from: i - 1, through: 0, by: -1) where sequences[j] == sequences[i] { previous = Int(positions[j]); break }
            if let previous {
                guard p == previous + 1 else { throw ModelError.badLayout("row \(i) of sequence \(sequences[i]) at position \(p) after \(previous)") }
            } else {
                let length = try cache.length(of: sequences[i])
                guard p >= 0 && p <= length else { throw ModelError.badLayout("row \(i) at position \(p) of a sequence of length \(length)") }
            }
            pos[i] = positions[i]
        }
        try decodeRows(tokens: tokens, sequences: sequences, cache: cache, logits: out)
    }

    private func reserveDecodePositions(_ rows: Int) -> UnsafeMutablePointer<Int32> {
        if decodePositions.count < rows { decodePositions = [Int32](repeating: 0, count: rows) }
        return decodePositions.withUnsafeMutableBufferPointer { $0.baseAddress! }
    }

    /// The step over rows whose positions are in `decodePositions`.
    private func decodeRows(tokens: UnsafeBufferPointer<Int32>, sequences: UnsafeBufferPointer<Int>, cache: PagedLatentCache,
                            logits out: UnsafeMutablePointer<Float>) throws {
        let c = config, b = tokens.count, h = c.hiddenSize
        guard b > 0 else { return }
        let rw = c.latentRowWidth, ropeDim = c.qkRopeHeadDim
        for tok in tokens where tok < 0 || Int(tok) >= c.vocabSize { throw ModelError.tokenOutOfRange(token: Int(tok), vocabSize: c.vocabSize) }
        let pos = decodePositions.withUnsafeMutableBufferPointer { $0.baseAddress! }
        for i in 0..<b where Int(pos[i]) + 1 > c.maxPositionEmbeddings {
            throw ModelError.contextTooLong(tokens: Int(pos[i]) + 1, maxPositions: c.maxPositionEmbeddings)
        }
        prefilledRows = 0   // `hidden` is the decode step's from here on
        let x = hidden.reserve(b * h)
        embed(tokens, into: x)
        rope.tables(positions: pos, rows: b, cos: cosTable.reserve(b * ropeDim / 2), sin: sinTable.reserve(b * ropeDim / 2))
        for l in 0..<c.numHiddenLayers {
            let w = weights.layers[l]
            let local = projectLayerInputs(w, x: x, rows: b)
            for i in 0..<b {
                try cache.write(sequence: sequences[i], layer: l, start: Int(pos[i]), rows: local + i * rw, count: 1)
            }
            absorbedAttention.run(w.attention, layer: l, sequences: sequences, lengths: pos, cache: cache)  // → attnOut [B, H·v]
            finishLayer(w, layer: l, x: x, rows: b)
        }
        for i in 0..<b { try cache.setLength(Int(pos[i]) + 1, of: sequences[i]) }   // rows in order: the last one's wins
        let logits = logitsFor(rows: x, count: b)
        out.update(from: logits, count: b * c.vocabSize)
    }

    // MARK: Shared pieces

    private func embed<C: Collection>(_ tokens: C, into x: UnsafeMutablePointer<Float>) where C.Element == Int32 {
        let h = config.hiddenSize
        for (r, tok) in tokens.enumerated() { Linear.convertRows(weights.embedding, first: Int(tok), count: 1, into: x + r * h) }
    }

    /// Input norm and the projections of one attention block for `rows` rows of x. Leaves the
    /// roped queries in `queries` [rows, H, nope+rope] and returns the latent rows
    /// [rows, kv_lora + rope] (c_kv normalised, k_pe roped) in `latent`.
    private func projectLayerInputs(_ w: LayerWeights, x: UnsafePointer<Float>, rows: Int) -> UnsafeMutablePointer<Float> {
        let c = config, h = c.hiddenSize, heads = c.numAttentionHeads, qk = c.qkHeadDim
        let kvl = c.kvLoraRank, rw = c.latentRowWidth, eps = Float(c.rmsNormEps), a = w.attention
        let latentEps = DeepSeekConfig.latentNormEps
        let xn = normed.reserve(rows * h)                                      // [rows, hidden]
        Elementwise.rmsNorm(x, rows: rows, dim: h, weight: w.inputNorm.pointer, eps: eps, into: xn)
        let qLora = c.qLoraRank ?? 0
        let width = qLora + rw
        let proj = projected.reserve(rows * width)                             // [rows, q_lora + kv_lora + rope]
        Linear.apply(xn, rows: rows, weight: a.inputProjection, into: proj)
        let q = queries.reserve(rows * heads * qk)                            // [rows, H, nope + rope]
        if let qB = a.qB, let qNorm = a.qANorm {
            let qa = qLatent.reserve(rows * qLora)                             // [rows, q_lora]
            Elementwise.rmsNorm(proj, rows: rows, dim: qLora, stride: width, weight: qNorm.pointer, eps: latentEps, into: qa)
            Linear.apply(qa, rows: rows, weight: qB, into: q)
        } else if let qProj = a.q {
            Linear.apply(xn, rows: rows, weight: qProj, into: q)
        }
        let lat = latent.reserve(rows * rw)                                    // [rows, kv_lora + rope]
        Elementwise.rmsNorm(proj + qLora, rows: rows, dim: kvl, stride: width, weight: a.kvANorm.pointer, eps: latentEps, into: lat, outStride: rw)
        for r in 0..<rows { (lat + r * rw + kvl).update(from: proj + r * width + qLora + kvl, count: c.qkRopeHeadDim) }
        rope.apply(lat + kvl, rows: rows, heads: 1, rowStride: rw, headStride: rw, cos: cosTable.pointer, sin: sinTable.pointer)
        rope.apply(q + c.qkNopeHeadDim, rows: rows, heads: heads, rowStride: heads * qk, headStride: qk,
                   cos: cosTable.pointer, sin: sinTable.pointer)
        return lat
    }

    /// x += o_proj(attnOut); x += FFN(RMSNorm(x)).
    private func finishLayer(_ w: LayerWeights, layer: Int, x: UnsafeMutablePointer<Float>, rows: Int) {
        let c = config, h = c.hiddenSize
        Linear.apply(attnOut.pointer, rows: rows, weight: w.attention.o, into: x, accumulate: true)
        let xn = normed.reserve(rows * h)
        Elementwise.rmsNorm(x, rows: rows, dim: h, weight: w.postAttentionNorm.pointer, eps: Float(c.rmsNormEps), into: xn)
        switch w.feedForward {
        case .dense(let mlp):
            feedForward.mlp(mlp, x: xn, rows: rows, into: x, accumulate: true)
        case .moe(let moe):
            let y = ffnOut.reserve(rows * h)
            feedForward.moe(moe, x: xn, rows: rows, into: y)
            feedForward.markExpertsOfLastCall(in: &expertsUsed[layer])
            Elementwise.add(y, into: x, count: rows * h)
        }
    }

    /// Final norm and lm_head on `count` rows [count, hidden] → `logitsBuffer` [count, vocab].
    private func logitsFor(rows: UnsafeMutablePointer<Float>, count: Int) -> UnsafeMutablePointer<Float> {
        let c = config, h = c.hiddenSize
        let xn = normed.reserve(count * h)
        Elementwise.rmsNorm(rows, rows: count, dim: h, weight: weights.finalNorm.pointer, eps: Float(c.rmsNormEps), into: xn)
        let logits = ffnOut.reserve(count * c.vocabSize)
        Linear.apply(xn, rows: count, weight: weights.lmHead, into: logits)
        return logits
    }
}
