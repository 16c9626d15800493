#if canImport(Glibc)
import Glibc
#endif
import Tensors

/// Weights of one MLA attention block. Projections that read the same input are fused at load
/// (one GEMM instead of two): q_a_proj ‖ kv_a_proj_with_mqa, and gate ‖ up in every MLP.
public struct AttentionWeights: @unchecked Sendable {
    /// [q_lora + kv_lora + rope, hidden] when q_lora_rank is set, else [kv_lora + rope, hidden].
    public let inputProjection: FloatTensor
    public let qANorm: FloatTensor?           // [q_lora]
    /// q_b_proj [H·(nope+rope), q_lora], or q_proj [H·(nope+rope), hidden] without q_lora.
    public let qB: FloatTensor?
    public let q: FloatTensor?
    public let kvANorm: FloatTensor           // [kv_lora]
    public let kvB: FloatTensor               // [H·(nope+v), kv_lora]: per head k_nope rows then v rows
    public let o: FloatTensor                 // [hidden, H·v]
    /// W_UK of every head transposed, [H, kv_lora, nope], built at load: decode absorbs q_nope
    /// through it as a skinny linear layer (each weight row streamed once), like every projection.
    public let keyAbsorption: FloatTensor
    private let nope: Int, valueDim: Int

    init(inputProjection: FloatTensor, qANorm: FloatTensor?, qB: FloatTensor?, q: FloatTensor?, kvANorm: FloatTensor,
         kvB: FloatTensor, o: FloatTensor, heads: Int, nope: Int, valueDim: Int) {
        self.inputProjection = inputProjection; self.qANorm = qANorm; self.qB = qB; self.q = q
        self.kvANorm = kvANorm; self.kvB = kvB; self.o = o
        self.nope = nope; self.valueDim = valueDim
        let kvl = kvB.shape[1]
        keyAbsorption = FloatTensor(shape: [heads, kvl, nope])
        for h in 0..<heads {
            let source = kvB.pointer + h * (nope + valueDim) * kvl             // W_UK[h]: [nope, kv_lora]
            let target = keyAbsorption.pointer + h * kvl * nope                // [kv_lora, nope]
            for d in 0..<nope {
                for j in 0..<kvl { target[j * nope + d] = source[d * kvl + j] }
            }
        }
    }

    /// W_UV of head h inside kv_b: [v, kv_lora] rows (after that head's nope rows).
    public func valueAbsorption(head h: Int) -> UnsafeBufferPointer<Float> {
        let kvl = kvB.shape[1]
        return UnsafeBufferPointer(start: kvB.pointer + (h * (nope + valueDim) + nope) * kvl, count: valueDim * kvl)
    }
}

/// SwiGLU MLP with gate ‖ up fused: gateUp [2·inter, hidden], down [hidden, inter].
public struct MLPWeights: @unchecked Sendable {
    public let gateUp: FloatTensor
    public let down: FloatTensor
    public let inter: Int
}

public struct MoEWeights: @unchecked Sendable {
    public let router: FloatTensor            // [experts, hidden]
    public let correctionBias: FloatTensor?   // [experts] (V3 e_score_correction_bias)
    public let experts: [MLPWeights]
    public let shared: MLPWeights?
}

public enum FeedForwardWeights: @unchecked Sendable {
    case dense(MLPWeights)
    case moe(MoEWeights)
}

public struct LayerWeights: @unchecked Sendable {
    public let inputNorm: FloatTensor         // [hidden]
    public let attention: AttentionWeights
    public let postAttentionNorm: FloatTensor // [hidden]
    public let feedForward: FeedForwardWeights
}

/// All weights of the model, loaded from an HF folder with every shape checked against the config.
public struct ModelWeights: @unchecked Sendable {
    public let embedding: FloatTensor         // [vocab, hidden]
    public let layers: [LayerWeights]
    public let finalNorm: FloatTensor         // [hidden]
    public let lmHead: FloatTensor            // [vocab, hidden]

    public init(store: SafetensorsStore, config c: DeepSeekConfig) throws {
        let h = c.hiddenSize, heads = c.numAttentionHeads
        embedding = try store.load("model.embed_tokens.weight", shape: [c.vocabSize, h])
        finalNorm = try store.load("model.norm.weight", shape: [h])
        // Tied checkpoints omit lm_head; otherwise its absence is the loader's missing-tensor error.
        if c.tieWordEmbeddings == true && !store.contains("lm_head.weight") {
            lmHead = embedding
        } else {
            lmHead = try store.load("lm_head.weight", shape: [c.vocabSize, h])
        }
        var layers: [LayerWeights] = []
        for i in 0..<c.numHiddenLayers {
            let p = "model.layers.\(i)."
            let a = p + "self_attn."
            let kvA = try store.load(a + "kv_a_proj_with_mqa.weight", shape: [c.latentRowWidth, h])
            let attention: AttentionWeights
            if let qLora = c.qLoraRank {
                let qA = try store.load(a + "q_a_proj.weight", shape: [qLora, h])
                attention = AttentionWeights(
                    inputProjection: FloatTensor.concatRows([qA, kvA]),
                    qANorm: try store.load(a + "q_a_layernorm.weight", shape: [qLora]),
                    qB: try store.load(a + "q_b_proj.weight", shape: [heads * c.qkHeadDim, qLora]), q: nil,
                    kvANorm: try store.load(a + "kv_a_layernorm.weight", shape: [c.kvLoraRank]),
                    kvB: try store.load(a + "kv_b_proj.weight", shape: [heads * (c.qkNopeHeadDim + c.vHeadDim), c.kvLoraRank]),
                    o: try store.load(a + "o_proj.weight", shape: [h, heads * c.vHeadDim]),
                    heads: heads, nope: c.qkNopeHeadDim, valueDim: c.vHeadDim)
            } else {
                attention = AttentionWeights(
                    inputProjection: kvA, qANorm: nil, qB: nil,
                    q: try store.load(a + "q_proj.weight", shape: [heads * c.qkHeadDim, h]),
                    kvANorm: try store.load(a + "kv_a_layernorm.weight", shape: [c.kvLoraRank]),
                    kvB: try store.load(a + "kv_b_proj.weight", shape: [heads * (c.qkNopeHeadDim + c.vHeadDim), c.kvLoraRank]),
                    o: try store.load(a + "o_proj.weight", shape: [h, heads * c.vHeadDim]),
                    heads: heads, nope: c.qkNopeHeadDim, valueDim: c.vHeadDim)
            }
            let feedForward: FeedForwardWeights
            if c.isMoELayer(i) {
                let e = c.routedExperts, inter = c.moeIntermediateSize!
                let m = p + "mlp."
                var experts: [MLPWeights] = []
                experts.reserveCapacity(e)
                for x in 0..<e { experts.append(try Self.mlp(store, m + "experts.\(x).", hidden: h, inter: inter)) }
                let shared = (c.nSharedExperts ?? 0) > 0
                    ? try Self.mlp(store, m + "shared_experts.", hidden: h, inter: inter * c.nSharedExperts!) : nil
                let biasName = m + "gate.e_score_correction_bias"
                feedForward = .moe(MoEWeights(
                    router: try store.load(m + "gate.weight", shape: [e, h]),
                    correctionBias: store.contains(biasName) ? try store.load(biasName, shape: [e]) : nil,
                    experts: experts, shared: shared))
            } else {
                feedForward = .dense(try Self.mlp(store, p + "mlp.", hidden: h, inter: c.intermediateSize))
            }
            layers.append(LayerWeights(
                inputNorm: try store.load(p + "input_layernorm.weight", shape: [h]),
                attention: attention,
                postAttentionNorm: try store.load(p + "post_attention_layernorm.weight", shape: [h]),
                feedForward: feedForward))
        }
        self.layers = layers
    }

    private static func mlp(_ store: SafetensorsStore, _ prefix: String, hidden: Int, inter: Int) throws -> MLPWeights {
        let gate = try store.load(prefix + "gate_proj.weight", shape: [inter, hidden])
        let up = try store.load(prefix + "up_proj.weight", shape: [inter, hidden])
        return MLPWeights(gateUp: FloatTensor.concatRows([gate, up]),
                          down: try store.load(prefix + "down_proj.weight", shape: [hidden, inter]), inter: inter)
    }

    /// Bytes of weight data (what one decode step streams at least once).
    public var parameterCount: Int {
        var n = embedding.count + finalNorm.count + (lmHead === embedding ? 0 : lmHead.count)
        for l in layers {
            n += l.inputNorm.count + l.postAttentionNorm.count
            let a = l.attention
            n += a.inputProjection.count + (a.qANorm?.count ?? 0) + (a.qB?.count ?? 0) + (a.q?.count ?? 0)
            n += a.kvANorm.count + a.kvB.count + a.o.count
            switch l.feedForward {
            case .dense(let m): n += m.gateUp.count + m.down.count
            case .moe(let m):
                n += m.router.count + (m.correctionBias?.count ?? 0)
                for e in m.experts { n += e.gateUp.count + e.down.count }
                if let s = m.shared { n += s.gateUp.count + s.down.count }
            }
        }
        return n
    }
}

extension FloatTensor {
    /// Stacks 2-D tensors with equal column counts along rows into one owned tensor.
    static func concatRows(_ parts: [FloatTensor]) -> FloatTensor {
        let cols = parts[0].shape[1]
        let rows = parts.reduce(0) { $0 + $1.shape[0] }
        let out = FloatTensor(shape: [rows, cols])
        var offset = 0
        for p in parts {
            precondition(p.shape[1] == cols, "concatRows: column mismatch")
            (out.pointer + offset).update(from: p.buffer.baseAddress!, count: p.count)
            offset += p.count
            p.dropMappedPages()
        }
        return out
    }

    /// For a view of a mapped checkpoint that is never read again (a part copied into a fused
    /// weight): tells the kernel to drop its resident pages (the whole pages inside it), so the
    /// fused copy is not held twice in RSS. Owned tensors are left alone.
    func dropMappedPages() {
        guard isView else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (Int(bitPattern: pointer) + page - 1) / page * page
        let end = (Int(bitPattern: pointer) + count * MemoryLayout<Float>.stride) / page * page
        guard end > start, let address = UnsafeMutableRawPointer(bitPattern: start) else { return }
        _ = madvise(address, end - start, Int32(MADV_DONTNEED))
    }
}
