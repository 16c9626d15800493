#if canImport(Glibc)
import Glibc
#endif
import Kernels
import Tensors

/// Weights of one MLA attention block. Every linear weight is a `WeightMatrix` in the dtype
/// `WeightsDType` chose (see WeightLoader). Projections that read the same input are stacked:
/// q_a_proj ‖ kv_a_proj_with_mqa, and gate ‖ up in every MLP — fused into one matrix (one GEMM)
/// when computing in f32, otherwise kept as views of their mapped parts (no private copy).
public struct AttentionWeights: @unchecked Sendable {
    /// [q_lora + kv_lora + rope, hidden] when q_lora_rank is set, else [kv_lora + rope, hidden].
    public let inputProjection: StackedWeight
    public let qANorm: FloatTensor?           // [q_lora]
    /// q_b_proj [H·(nope+rope), q_lora], or q_proj [H·(nope+rope), hidden] without q_lora.
    public let qB: WeightMatrix?
    public let q: WeightMatrix?
    public let kvANorm: FloatTensor           // [kv_lora]
    public let kvB: WeightMatrix              // [H·(nope+v), kv_lora]: per head k_nope rows then v rows
    public let o: WeightMatrix                // [hidden, H·v]
    /// W_UK of every head transposed, [kv_lora, nope] per head, built at load: decode absorbs
    /// q_nope through it as a skinny linear layer (each weight row streamed once). Repacked in the
    /// stored dtype (the size of W_UK: H·kv_lora·nope elements); FP8 heads with the transposed scale
    /// grid, or dequantized to f32 where a head's rows do not start on a scale block row.
    public let keyAbsorption: [WeightMatrix]
    /// W_UV of every head: its [v, kv_lora] rows of kv_b (views; FP8 heads whose rows do not start
    /// on a scale block are dequantized to f32 copies).
    public let valueAbsorption: [WeightMatrix]
}

/// SwiGLU MLP with gate ‖ up stacked: gateUp [2·inter, hidden], down [hidden, inter].
public struct MLPWeights: @unchecked Sendable {
    public let gateUp: StackedWeight
    public let down: WeightMatrix
    public let inter: Int

    /// Whether every slice of `width` intermediate columns has views: gate's and up's rows, down's
    /// columns (`WeightMatrix.rows` / `columns`: FP8 views start on a scale block).
    func hasViews(slice width: Int) -> Bool {
        stride(from: 0, to: inter, by: width).allSatisfy { first in
            let columns = first..<min(first + width, inter)
            return gateUp.hasViews(rows: columns) && gateUp.hasViews(rows: inter + first..<inter + columns.upperBound)
                && down.columns(columns) != nil
        }
    }
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
    /// [vocab, hidden] in the chosen dtype: lookups convert only their rows.
    public let embedding: WeightMatrix
    public let layers: [LayerWeights]
    public let finalNorm: FloatTensor         // [hidden]
    public let lmHead: WeightMatrix           // [vocab, hidden] (the embedding when tied)
    public let dtype: WeightsDType
    /// Where the checkpoint's tensors the model uses live (the store's residency).
    public let residency: WeightResidency
    /// Bytes of weights held in memory allocated at load (conversions, fused and repacked copies).
    public let ownedBytes: Int
    /// Some weight was rounded to bf16 at load (`--weights-dtype bf16` over f32 / f16 / FP8 data).
    public let roundedToBF16: Bool
    /// Mapped files, scale grids and owned buffers the matrices point into.
    private let keepAlive: [AnyObject]

    public init(store: SafetensorsStore, config c: DeepSeekConfig, dtype: WeightsDType = .auto) throws {
        var loader = WeightLoader(store: store, config: c, target: dtype)
        let h = c.hiddenSize, heads = c.numAttentionHeads
        self.dtype = dtype
        // Tied checkpoints omit lm_head; otherwise its absence is the loader's missing-tensor error.
        let tied = c.tieWordEmbeddings == true && !store.contains("lm_head.weight")
        embedding = try loader.matrix("model.embed_tokens.weight", rows: c.vocabSize, cols: h, rowLookups: !tied)
        finalNorm = try loader.f32Tensor("model.norm.weight", shape: [h])
        if tied {
            lmHead = embedding
        } else {
            lmHead = try loader.matrix("lm_head.weight", rows: c.vocabSize, cols: h)
        }
        var layers: [LayerWeights] = []
        for i in 0..<c.numHiddenLayers {
            let p = "model.layers.\(i)."
            let a = p + "self_attn."
            var inputParts = [(a + "kv_a_proj_with_mqa.weight", c.latentRowWidth)]
            if let qLora = c.qLoraRank { inputParts.insert((a + "q_a_proj.weight", qLora), at: 0) }
            let inputProjection = try Self.stacked(inputParts, cols: h, loader: &loader)   // kv_a first: its shape names a wrong kv_lora_rank
            let kvB = try loader.matrix(a + "kv_b_proj.weight", rows: heads * (c.qkNopeHeadDim + c.vHeadDim), cols: c.kvLoraRank)
            let absorption = Self.absorption(kvB, config: c, loader: &loader)
            let attention = AttentionWeights(
                inputProjection: inputProjection,
                qANorm: try c.qLoraRank.map { try loader.f32Tensor(a + "q_a_layernorm.weight", shape: [$0]) },
                qB: try c.qLoraRank.map { try loader.matrix(a + "q_b_proj.weight", rows: heads * c.qkHeadDim, cols: $0) },
                q: c.qLoraRank == nil ? try loader.matrix(a + "q_proj.weight", rows: heads * c.qkHeadDim, cols: h) : nil,
                kvANorm: try loader.f32Tensor(a + "kv_a_layernorm.weight", shape: [c.kvLoraRank]),
                kvB: kvB,
                o: try loader.matrix(a + "o_proj.weight", rows: h, cols: heads * c.vHeadDim),
                keyAbsorption: absorption.keys, valueAbsorption: absorption.values)
            let feedForward: FeedForwardWeights
            if c.isMoELayer(i) {
                let e = c.routedExperts, inter = c.moeIntermediateSize!
                let m = p + "mlp."
                var experts: [MLPWeights] = []
                experts.reserveCapacity(e)
                for x in 0..<e { experts.append(try Self.mlp(&loader, m + "experts.\(x).", hidden: h, inter: inter)) }
                let shared = (c.nSharedExperts ?? 0) > 0
                    ? try Self.mlp(&loader, m + "shared_experts.", hidden: h, inter: inter * c.nSharedExperts!) : nil
                let biasName = m + "gate.e_score_correction_bias"
                feedForward = .moe(MoEWeights(
                    router: try loader.f32Matrix(m + "gate.weight", rows: e, cols: h),
                    correctionBias: store.contains(biasName) ? try loader.f32Tensor(biasName, shape: [e]) : nil,
                    experts: experts, shared: shared))
            } else {
                feedForward = .dense(try Self.mlp(&loader, p + "mlp.", hidden: h, inter: c.intermediateSize))
            }
            layers.append(LayerWeights(
                inputNorm: try loader.f32Tensor(p + "input_layernorm.weight", shape: [h]),
                attention: attention,
                postAttentionNorm: try loader.f32Tensor(p + "post_attention_layernorm.weight", shape: [h]),
                feedForward: feedForward))
        }
        self.layers = layers
        ownedBytes = loader.ownedBytes
        roundedToBF16 = loader.roundedToBF16
        residency = store.residency
        keepAlive = loader.keepAlive
    }

    /// Row blocks [rows_i, cols] stacked: fused into one owned f32 matrix when computing in f32
    /// (as the loader always did), else views of the stored parts.
    private static func stacked(_ parts: [(String, Int)], cols: Int, loader: inout WeightLoader) throws -> StackedWeight {
        if parts.count > 1 && parts.allSatisfy({ loader.computesInF32($0.0) }) {
            let tensors = try parts.map { try loader.f32Matrix($0.0, rows: $0.1, cols: cols) }
            return StackedWeight([loader.hold(FloatTensor.concatRows(tensors))])
        }
        return StackedWeight(try parts.map { try loader.matrix($0.0, rows: $0.1, cols: cols) })
    }

    private static func mlp(_ loader: inout WeightLoader, _ prefix: String, hidden: Int, inter: Int) throws -> MLPWeights {
        MLPWeights(gateUp: try stacked([(prefix + "gate_proj.weight", inter), (prefix + "up_proj.weight", inter)], cols: hidden, loader: &loader),
                   down: try loader.matrix(prefix + "down_proj.weight", rows: hidden, cols: inter), inter: inter)
    }

    /// W_UK transposed per head ([kv_lora, nope]) and W_UV per head ([v, kv_lora]) from kv_b.
    private static func absorption(_ kvB: WeightMatrix, config c: DeepSeekConfig, loader: inout WeightLoader)
        -> (keys: [WeightMatrix], values: [WeightMatrix]) {
        let heads = c.numAttentionHeads, nope = c.qkNopeHeadDim, vDim = c.vHeadDim, kvl = c.kvLoraRank
        let headRows = nope + vDim
        var keys: [WeightMatrix] = [], values: [WeightMatrix] = []
        // Keys: one repacked block [H, kv_lora, nope] in the stored dtype. FP8 heads keep their bytes
        // and take the transposed scale grid (element (j, d) keeps its block's scale: exact) when every
        // head starts on a scale block row; otherwise they are dequantized to f32.
        var fp8Grid: (scales: UnsafePointer<Float>, blockRows: Int, blockCols: Int, stride: Int)?
        var dequantize = false
        if case let .fp8E4M3(scales, br, bc, stride) = kvB.storage {
            if headRows % br == 0 { fp8Grid = (scales, br, bc, stride) } else { dequantize = true }
        }
        let elementBytes = dequantize ? 4 : kvB.elementBytes
        let keyBytes = WeightMemory.allocate(count: heads * kvl * nope * elementBytes, for: "W_UK transposed")
        loader.own(keyBytes)
        // The transposed grid of one head: [⌈kv_lora / blockCols⌉, ⌈nope / blockRows⌉] scales.
        let gridRows = fp8Grid.map { (kvl + $0.blockCols - 1) / $0.blockCols } ?? 0
        let gridCols = fp8Grid.map { (nope + $0.blockRows - 1) / $0.blockRows } ?? 0
        let keyScales = WeightMemory.allocate(count: heads * gridRows * gridCols * 4, for: "W_UK scales")
        if fp8Grid != nil { loader.own(keyScales) }
        let rows = Scratch()
        for h in 0..<heads {
            let target = keyBytes.pointer + h * kvl * nope * elementBytes
            if dequantize {
                let source = rows.reserve(nope * kvl)                                  // W_UK[h] [nope, kv_lora] in f32
                Linear.convertRows(kvB, first: h * headRows, count: nope, into: source)
                let t = target.assumingMemoryBound(to: Float.self)
                for d in 0..<nope { for j in 0..<kvl { t[j * nope + d] = source[d * kvl + j] } }
                keys.append(WeightMatrix(f32: UnsafePointer(t), rows: kvl, cols: nope))
                continue
            }
            let source = kvB.base + h * headRows * kvB.rowStride * elementBytes        // W_UK[h] [nope, kv_lora]
            func transpose<T>(_: T.Type) {
                let s = source.assumingMemoryBound(to: T.self), t = target.assumingMemoryBound(to: T.self)
                for d in 0..<nope { for j in 0..<kvl { t[j * nope + d] = s[d * kvB.rowStride + j] } }
            }
            switch elementBytes {
            case 4: transpose(Float.self)
            case 2: transpose(UInt16.self)
            default: transpose(UInt8.self)
            }
            guard let g = fp8Grid else {
                keys.append(WeightMatrix(storage: kvB.storage, base: UnsafeRawPointer(target), rows: kvl, cols: nope))
                continue
            }
            let grid = keyScales.pointer.assumingMemoryBound(to: Float.self) + h * gridRows * gridCols
            let firstBlockRow = h * headRows / g.blockRows
            for j in 0..<gridRows { for d in 0..<gridCols { grid[j * gridCols + d] = g.scales[(firstBlockRow + d) * g.stride + j] } }
            keys.append(WeightMatrix(storage: .fp8E4M3(scales: UnsafePointer(grid), blockRows: g.blockCols, blockCols: g.blockRows,
                                                       scaleStride: gridCols),
                                     base: UnsafeRawPointer(target), rows: kvl, cols: nope).scannedForNaNCodes(repackedFrom: kvB))
        }
        for h in 0..<heads {
            let first = h * headRows + nope
            if let view = kvB.rows(first..<first + vDim) {
                values.append(view)
                continue
            }
            let copy = WeightMemory.allocate(count: vDim * kvl * 4, for: "W_UV")   // FP8 rows off the block grid: f32
            loader.own(copy)
            let t = copy.pointer.assumingMemoryBound(to: Float.self)
            Linear.convertRows(kvB, first: first, count: vDim, into: t)
            values.append(WeightMatrix(f32: UnsafePointer(t), rows: vDim, cols: kvl))
        }
        return (keys, values)
    }

    /// Elements of every weight, the embedding included.
    public var parameterCount: Int {
        var n = embedding.rows * embedding.cols + finalNorm.count + (lmHead.base == embedding.base ? 0 : lmHead.rows * lmHead.cols)
        for l in layers {
            n += l.inputNorm.count + l.postAttentionNorm.count
            let a = l.attention
            n += a.inputProjection.rows * a.inputProjection.cols + (a.qANorm?.count ?? 0)
            for m in [a.qB, a.q, a.kvB, a.o] { if let m { n += m.rows * m.cols } }
            n += a.kvANorm.count
            switch l.feedForward {
            case .dense(let m): n += m.gateUp.rows * m.gateUp.cols + m.down.rows * m.down.cols
            case .moe(let m):
                n += m.router.count + (m.correctionBias?.count ?? 0)
                for e in m.experts + (m.shared.map { [$0] } ?? []) { n += e.gateUp.rows * e.gateUp.cols + e.down.rows * e.down.cols }
            }
        }
        return n
    }

    /// Every stored weight region a decode step streams, in the dtype it is held in: all of them
    /// except the embedding table (a step reads only its tokens' rows); of kv_b only the W_UV rows
    /// (W_UK is read through its load-time transpose). Scale grids are counted in `streamedBytes`.
    public var decodeStreamedRegions: [UnsafeRawBufferPointer] { decodeStreamedRegions { _, _ in true } }

    /// decodeStreamedRegions with only the routed experts `computes(layer, expert)` says a step
    /// computed (attention, shared experts, router, norms and head always): what a MoE step streams.
    public func decodeStreamedRegions(routedExperts computes: (_ layer: Int, _ expert: Int) -> Bool) -> [UnsafeRawBufferPointer] {
        func bytes(_ t: FloatTensor) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(t.buffer) }
        func bytes(_ m: WeightMatrix) -> UnsafeRawBufferPointer {
            UnsafeRawBufferPointer(start: m.base, count: ((m.rows - 1) * m.rowStride + m.cols) * m.elementBytes)
        }
        var out = [bytes(finalNorm), bytes(lmHead)]
        for (index, l) in layers.enumerated() {
            let a = l.attention
            out += [bytes(l.inputNorm), bytes(l.postAttentionNorm), bytes(a.kvANorm), bytes(a.o)]
            out += a.inputProjection.parts.map(bytes) + a.keyAbsorption.map(bytes) + a.valueAbsorption.map(bytes)
            if let n = a.qANorm { out.append(bytes(n)) }
            for m in [a.qB, a.q] { if let m { out.append(bytes(m)) } }
            switch l.feedForward {
            case .dense(let m): out += m.gateUp.parts.map(bytes) + [bytes(m.down)]
            case .moe(let m):
                out.append(bytes(m.router))
                if let b = m.correctionBias { out.append(bytes(b)) }
                let computed = m.experts.indices.filter { computes(index, $0) }.map { m.experts[$0] }
                for e in computed + (m.shared.map { [$0] } ?? []) { out += e.gateUp.parts.map(bytes) + [bytes(e.down)] }
            }
        }
        return out
    }

    /// Bytes of weights resident once every weight has been touched: the matrices in their held
    /// dtype (FP8 scales included), norms, router, and the load-time repacks (W_UK transposed).
    public var weightBytes: Int {
        var n = embedding.streamedBytes + finalNorm.count * 4 + (lmHead.base == embedding.base ? 0 : lmHead.streamedBytes)
        for l in layers {
            let a = l.attention
            n += (l.inputNorm.count + l.postAttentionNorm.count + a.kvANorm.count + (a.qANorm?.count ?? 0)) * 4
            n += a.inputProjection.streamedBytes + a.kvB.streamedBytes + a.o.streamedBytes
            n += a.keyAbsorption.reduce(0) { $0 + $1.streamedBytes }
            for m in [a.qB, a.q] { if let m { n += m.streamedBytes } }
            if case .fp8E4M3 = a.kvB.storage {
                n += a.valueAbsorption.reduce(0) { $0 + ($1.storage == .f32 ? $1.streamedBytes : 0) }
            }
            switch l.feedForward {
            case .dense(let m): n += m.gateUp.streamedBytes + m.down.streamedBytes
            case .moe(let m):
                n += (m.router.count + (m.correctionBias?.count ?? 0)) * 4
                for e in m.experts + (m.shared.map { [$0] } ?? []) { n += e.gateUp.streamedBytes + e.down.streamedBytes }
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
        let out = FloatTensor(weightShape: [rows, cols])
        var offset = 0
        for p in parts {
            precondition(p.shape[1] == cols, "concatRows: column mismatch")
            (out.pointer + offset).update(from: p.buffer.baseAddress!, count: p.count)
            offset += p.count
            p.dropMappedPages()
        }
        return out
    }
}
