import Foundation
import Kernels
import Tensors

/// SwiGLU MLP and the routed mixture of experts, on any number of rows.
final class FeedForward {
    private let config: DeepSeekConfig
    private let gateUp = Scratch(), act = Scratch(), gathered = Scratch(), expertOut = Scratch()
    private let routerLogits = Scratch(), choice = Scratch()
    // Routing tables, grown to rows·k and reused.
    private var topExperts: [Int32] = [], topWeights: [Float] = []
    private var expertCounts: [Int], expertOffsets: [Int], fill: [Int]
    private var assignedRows: [Int32] = [], assignedWeights: [Float] = []
    private var groupScores: [Float], groupChosen: [Bool], taken: [Bool]

    // Router settings, decided once: DeepSeekConfig.isV3 builds strings, and route() runs per step.
    private let isV3: Bool, useGroups: Bool

    init(config: DeepSeekConfig) {
        self.config = config
        isV3 = config.isV3
        useGroups = isV3 || config.topkMethod == "group_limited_greedy"
        let e = config.routedExperts, groups = max(config.nGroup ?? 1, 1)
        expertCounts = [Int](repeating: 0, count: e)
        expertOffsets = [Int](repeating: 0, count: e + 1)
        fill = [Int](repeating: 0, count: e)
        groupScores = [Float](repeating: 0, count: groups)
        groupChosen = [Bool](repeating: false, count: groups)
        taken = [Bool](repeating: false, count: e)
    }

    /// Floats one MLP block's scratch may take (48 MiB): [rows, 2·slice] gate ‖ up and [rows, slice]
    /// activations. Past it a block goes over the intermediate dimension in slices — the MLP is a
    /// sum over its intermediate columns: down[:, J] · (silu(gate_J · x) ⊙ up_J · x) — so each
    /// stored-dtype weight is converted once per block of up to `maxBlockRows` rows instead of once
    /// per 512 rows, and the down projection meets all the block's rows: at 512 rows its bf16
    /// panels ran 221 GFLOP/s against 262–292 for a 1024-column slice at 4096 (`pd-bench linear`,
    /// session 21).
    static let blockFloats = 12 << 20
    /// Rows per MLP block: longer prompts go through in blocks, so a slice stays wide.
    static let maxBlockRows = 4096
    /// Slices start on multiples of 128 columns: on FP8 scale blocks (128 × 128 in the V3 / R1 /
    /// Kimi-K2 checkpoints) and on whole vector tiles.
    static let sliceMultiple = 128

    /// Rows per block and intermediate columns per slice for a call of `rows` rows: the whole
    /// intermediate dimension when a block's scratch fits in `floats`, else even slices of a
    /// multiple of `sliceMultiple` columns (at least one multiple).
    static func blocking(rows: Int, inter: Int, floats: Int = blockFloats, maxRows: Int = maxBlockRows) -> (rows: Int, slice: Int) {
        let block = max(1, min(rows, maxRows))
        guard 3 * block * inter > floats else { return (block, inter) }
        let widest = max(sliceMultiple, floats / (3 * block) / sliceMultiple * sliceMultiple)
        let slices = (inter + widest - 1) / widest
        let even = ((inter + slices - 1) / slices + sliceMultiple - 1) / sliceMultiple * sliceMultiple
        return (block, min(inter, even))
    }

    /// Frees the buffers sized by the largest call so far (see DeepSeekTransformer.releaseStepBuffers).
    func releaseBuffers() {
        for s in buffers { s.releaseMemory() }
        topExperts = []; topWeights = []; assignedRows = []; assignedWeights = []
    }

    /// Floats the buffers hold now (the routing tables are small beside them).
    var bufferFloats: Int { buffers.reduce(0) { $0 + $1.capacity } }

    private var buffers: [Scratch] { [gateUp, act, gathered, expertOut, routerLogits, choice] }

    /// out[rows, hidden] (+)= MLP(x), in blocks and slices (`blocking`; the defaults except in tests).
    func mlp(_ w: MLPWeights, x: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>, accumulate: Bool,
             blockFloats: Int = blockFloats, maxBlockRows: Int = maxBlockRows) {
        let h = config.hiddenSize, inter = w.inter
        var (block, slice) = Self.blocking(rows: rows, inter: inter, floats: blockFloats, maxRows: maxBlockRows)
        if slice < inter && !w.hasViews(slice: slice) { slice = inter }
        let gu = gateUp.reserve(block * 2 * slice)                       // [block, 2·slice] gate_J ‖ up_J
        let a = act.reserve(block * slice)                               // [block, slice]
        var r0 = 0
        while r0 < rows {
            let n = min(block, rows - r0)
            guard slice < inter else {
                Linear.apply(x + r0 * h, rows: n, weight: w.gateUp, into: gu)
                Elementwise.siluMul(gateUp: gu, rows: n, inter: inter, into: a)
                Linear.apply(a, rows: n, weight: w.down, into: out + r0 * h, accumulate: accumulate)
                r0 += n
                continue
            }
            for first in stride(from: 0, to: inter, by: slice) {
                let columns = first..<min(first + slice, inter), width = columns.count
                Linear.apply(x + r0 * h, rows: n, weight: w.gateUp, stackedRows: columns, into: gu, ldy: 2 * width)
                Linear.apply(x + r0 * h, rows: n, weight: w.gateUp, stackedRows: inter + first..<inter + columns.upperBound,
                             into: gu + width, ldy: 2 * width)
                Elementwise.siluMul(gateUp: gu, rows: n, inter: width, into: a)
                Linear.apply(a, rows: n, weight: w.down.columns(columns)!, into: out + r0 * h,
                             accumulate: accumulate || first > 0)
            }
            r0 += n
        }
    }

    /// out[rows, hidden] = shared(x) + Σ_k w_k · expert_k(x)
    func moe(_ w: MoEWeights, x: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>) {
        let h = config.hiddenSize, e = config.routedExperts, k = config.numExpertsPerTok!
        route(w, x: x, rows: rows)
        if let shared = w.shared {
            mlp(shared, x: x, rows: rows, into: out, accumulate: false)
        } else {
            out.update(repeating: 0, count: rows * h)
        }
        // Group assignments by expert so each expert runs one GEMM over all its rows.
        for i in 0..<e { expertCounts[i] = 0 }
        for i in 0..<rows * k { expertCounts[Int(topExperts[i])] += 1 }
        var offset = 0
        for i in 0..<e { expertOffsets[i] = offset; fill[i] = offset; offset += expertCounts[i] }
        expertOffsets[e] = offset
        for r in 0..<rows {
            for j in 0..<k {
                let expert = Int(topExperts[r * k + j])
                assignedRows[fill[expert]] = Int32(r)
                assignedWeights[fill[expert]] = topWeights[r * k + j]
                fill[expert] += 1
            }
        }
        for expert in 0..<e where expertCounts[expert] > 0 {
            let n = expertCounts[expert], start = expertOffsets[expert]
            let g = gathered.reserve(n * h)                               // [n, hidden]
            for i in 0..<n { (g + i * h).update(from: x + Int(assignedRows[start + i]) * h, count: h) }
            let y = expertOut.reserve(n * h)                              // [n, hidden]
            mlp(w.experts[expert], x: g, rows: n, into: y, accumulate: false)
            for i in 0..<n {
                Elementwise.addScaled(y + i * h, assignedWeights[start + i], into: out + Int(assignedRows[start + i]) * h, count: h)
            }
        }
    }

    /// Marks in `used` [routed experts] the experts the last `moe` call computed (each once, for
    /// all its rows).
    func markExpertsOfLastCall(in used: inout [Bool]) {
        for e in used.indices { used[e] = expertCounts[e] > 0 }
    }

    /// Fills topExperts/topWeights [rows, k] as transformers' DeepSeek routers do
    /// (scripts/golden/HF_SEMANTICS.md):
    /// V3: sigmoid scores; choose by score + e_score_correction_bias within the best `topk_group`
    /// groups (group score = sum of its top-2, other groups −inf); weights are the unbiased scores,
    /// normalised when norm_topk_prob, always × routed_scaling_factor.
    /// V2: softmax scores; `greedy`, or `group_limited_greedy` (group score = its max, other groups
    /// 0.0); weights never normalised, always × routed_scaling_factor.
    private func route(_ w: MoEWeights, x: UnsafePointer<Float>, rows: Int) {
        let c = config, e = c.routedExperts, k = c.numExpertsPerTok!, h = c.hiddenSize
        let groups = max(c.nGroup ?? 1, 1), perGroup = e / groups
        if topExperts.count < rows * k {
            topExperts = [Int32](repeating: 0, count: rows * k); topWeights = [Float](repeating: 0, count: rows * k)
            assignedRows = [Int32](repeating: 0, count: rows * k); assignedWeights = [Float](repeating: 0, count: rows * k)
        }
        let logits = routerLogits.reserve(rows * e)                        // [rows, experts]
        BLAS.linear(x, rows: rows, inFeatures: h, weight: w.router.pointer, outFeatures: e, into: logits)
        let v3 = isV3
        let sel = choice.reserve(e)                                        // [experts] selection scores
        for r in 0..<rows {
            let s = logits + r * e
            if v3 {
                for i in 0..<e { s[i] = 1 / (1 + expf(-s[i])) }
            } else {
                var mx = -Float.infinity
                for i in 0..<e { mx = max(mx, s[i]) }
                var sum: Float = 0
                for i in 0..<e { s[i] = expf(s[i] - mx); sum += s[i] }
                for i in 0..<e { s[i] /= sum }
            }
            for i in 0..<e { sel[i] = s[i] + (w.correctionBias?.pointer[i] ?? 0) }
            if useGroups && groups > 1 {
                let topGroups = c.topkGroup ?? groups
                for g in 0..<groups {
                    let base = sel + g * perGroup
                    if v3 {
                        var a = -Float.infinity, b = -Float.infinity        // top-2
                        for i in 0..<perGroup {
                            let v = base[i]
                            if v > a { b = a; a = v } else if v > b { b = v }
                        }
                        groupScores[g] = perGroup > 1 ? a + b : a
                    } else {
                        var a = -Float.infinity
                        for i in 0..<perGroup { a = max(a, base[i]) }
                        groupScores[g] = a
                    }
                    groupChosen[g] = false
                }
                for _ in 0..<topGroups {
                    var best = -1
                    for g in 0..<groups where !groupChosen[g] && (best < 0 || groupScores[g] > groupScores[best]) { best = g }
                    groupChosen[best] = true
                }
                for g in 0..<groups where !groupChosen[g] {
                    for i in 0..<perGroup { sel[g * perGroup + i] = v3 ? -.infinity : 0 }
                }
            }
            // top-k by selection score, weights from the unbiased scores.
            let o = r * k
            for i in 0..<e { taken[i] = false }
            for j in 0..<k {
                var best = -1
                for i in 0..<e where !taken[i] && (best < 0 || sel[i] > sel[best]) { best = i }
                taken[best] = true
                topExperts[o + j] = Int32(best)
                topWeights[o + j] = s[best]
            }
            if v3 && c.normTopkProb == true {
                var sum: Float = 0
                for j in 0..<k { sum += topWeights[o + j] }
                let denominator = sum + 1e-20
                for j in 0..<k { topWeights[o + j] /= denominator }
            }
            let scaling = Float(c.routedScalingFactor ?? 1)
            for j in 0..<k { topWeights[o + j] *= scaling }
        }
    }
}
