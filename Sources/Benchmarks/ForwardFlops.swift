import DeepSeekModel

/// FLOPs of the forward DeepSeekTransformer runs on one process's layout (multiply-add = 2),
/// counted from the shapes: projections of every local row (pads included, they are computed),
/// kv_b decompression of the key prefix this process's query blocks see, causal QKᵀ and PV over
/// the visible (query, key) pairs only (masked work in diagonal tiles is not counted), o_proj,
/// MLP/MoE, and lm_head on each request's last row where logits are computed. The MFU figures
/// of `pd-bench prefill` and the work per rank of `pd-bench pcp` rest on it.
public enum ForwardFlops {
    public static func prefill(_ c: DeepSeekConfig, layout: PrefillLayout, computesLogits: Bool) -> Double {
        let rows = Double(layout.localRows), h = Double(c.hiddenSize), heads = Double(c.numAttentionHeads)
        let nope = Double(c.qkNopeHeadDim), rope = Double(c.qkRopeHeadDim), v = Double(c.vHeadDim)
        let kvl = Double(c.kvLoraRank), rw = Double(c.latentRowWidth), qk = nope + rope
        var decompressedKeys = 0.0, pairs = 0.0
        for (i, r) in layout.requests.enumerated() {
            for b in layout.blocks where b.request == i {
                let q = Double(max(0, min(b.count, r.totalTokens - b.firstPosition)))   // real query rows
                pairs += q * Double(b.firstPosition) + q * (q + 1) / 2
            }
            decompressedKeys += Double(layout.keysToDecompress(request: i))
        }
        var total = 0.0
        for l in 0..<c.numHiddenLayers {
            if let qLora = c.qLoraRank.map(Double.init) {
                total += 2 * rows * h * (qLora + rw) + 2 * rows * qLora * heads * qk   // q_a ‖ kv_a, q_b
            } else {
                total += 2 * rows * h * (rw + heads * qk)
            }
            total += 2 * decompressedKeys * kvl * heads * (nope + v)           // kv_b
            total += 2 * pairs * heads * (qk + v)                              // QKᵀ and PV
            total += 2 * rows * heads * v * h                                  // o_proj
            total += mlp(c, layer: l) * rows
        }
        if computesLogits { total += 2 * h * Double(c.vocabSize) * Double(layout.requests.count) }
        return total
    }

    /// One n-token prompt prefilled on one rank.
    public static func prefill(_ c: DeepSeekConfig, tokens n: Int) -> Double {
        prefill(c, layout: .singleRank(newTokens: [[Int32](repeating: 0, count: n)]), computesLogits: true)
    }

    /// FLOPs per row of layer `layer`'s feed-forward block.
    public static func mlp(_ c: DeepSeekConfig, layer: Int) -> Double {
        let h = Double(c.hiddenSize)
        guard c.isMoELayer(layer) else { return 6 * h * Double(c.intermediateSize) }
        let inter = Double(c.moeIntermediateSize ?? 0)
        let experts = Double(c.numExpertsPerTok ?? 0) + Double(c.nSharedExperts ?? 0)
        return 2 * h * Double(c.routedExperts) + experts * 6 * h * inter
    }
}
