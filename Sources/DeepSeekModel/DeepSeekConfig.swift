import Foundation

/// The HF `config.json` of a DeepSeek-V2/V3 checkpoint, with HF's key names. Accepts both the Hub
/// style (`rope_scaling` + `rope_theta`, `torch_dtype`) and transformers ≥ 5 (`rope_parameters`, `dtype`).
public struct DeepSeekConfig: Codable, Equatable, Sendable {
    public var architectures: [String]?
    public var modelType: String?
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var moeIntermediateSize: Int?
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var nSharedExperts: Int?
    public var nRoutedExperts: Int?
    public var routedScalingFactor: Double?
    public var kvLoraRank: Int
    public var qLoraRank: Int?
    public var qkRopeHeadDim: Int
    public var qkNopeHeadDim: Int
    public var vHeadDim: Int
    public var topkMethod: String?
    public var nGroup: Int?
    public var topkGroup: Int?
    public var numExpertsPerTok: Int?
    public var firstKDenseReplace: Int?
    public var moeLayerFreq: Int?
    public var normTopkProb: Bool?
    public var scoringFunc: String?
    public var rmsNormEps: Double
    public var maxPositionEmbeddings: Int
    public var ropeTheta: Double?
    public var ropeScaling: RopeParameters?
    public var ropeParameters: RopeParameters?
    public var ropeInterleave: Bool?
    public var tieWordEmbeddings: Bool?
    public var attentionBias: Bool?
    public var torchDtype: String?
    public var dtype: String?
    public var numNextnPredictLayers: Int?
    public var bosTokenId: Int?
    /// config.json's `eos_token_id` (an int or a list), replaced by generation_config.json's when that
    /// file in the same folder sets one (as transformers' `generate` does); see `eosTokenIDs`.
    public var eosTokenId: TokenIDList?
    /// DeepSeek-V3-style FP8 checkpoints: `{quant_method: fp8, fmt: e4m3, weight_block_size: [128, 128]}`.
    public var quantizationConfig: QuantizationConfig?

    enum CodingKeys: String, CodingKey {
        case architectures, dtype
        case modelType = "model_type", vocabSize = "vocab_size", hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size", moeIntermediateSize = "moe_intermediate_size"
        case numHiddenLayers = "num_hidden_layers", numAttentionHeads = "num_attention_heads"
        case nSharedExperts = "n_shared_experts", nRoutedExperts = "n_routed_experts"
        case routedScalingFactor = "routed_scaling_factor", kvLoraRank = "kv_lora_rank", qLoraRank = "q_lora_rank"
        case qkRopeHeadDim = "qk_rope_head_dim", qkNopeHeadDim = "qk_nope_head_dim", vHeadDim = "v_head_dim"
        case topkMethod = "topk_method", nGroup = "n_group", topkGroup = "topk_group"
        case numExpertsPerTok = "num_experts_per_tok", firstKDenseReplace = "first_k_dense_replace"
        case moeLayerFreq = "moe_layer_freq", normTopkProb = "norm_topk_prob", scoringFunc = "scoring_func"
        case rmsNormEps = "rms_norm_eps", maxPositionEmbeddings = "max_position_embeddings"
        case ropeTheta = "rope_theta", ropeScaling = "rope_scaling", ropeParameters = "rope_parameters"
        case ropeInterleave = "rope_interleave", tieWordEmbeddings = "tie_word_embeddings"
        case attentionBias = "attention_bias", torchDtype = "torch_dtype"
        case numNextnPredictLayers = "num_nextn_predict_layers", bosTokenId = "bos_token_id", eosTokenId = "eos_token_id"
        case quantizationConfig = "quantization_config"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        architectures = try c.decodeIfPresent([String].self, forKey: .architectures)
        modelType = try c.decodeIfPresent(String.self, forKey: .modelType)
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        intermediateSize = try c.decode(Int.self, forKey: .intermediateSize)
        moeIntermediateSize = try c.decodeIfPresent(Int.self, forKey: .moeIntermediateSize)
        numHiddenLayers = try c.decode(Int.self, forKey: .numHiddenLayers)
        numAttentionHeads = try c.decode(Int.self, forKey: .numAttentionHeads)
        nSharedExperts = try c.decodeIfPresent(Int.self, forKey: .nSharedExperts)
        nRoutedExperts = try c.decodeIfPresent(Int.self, forKey: .nRoutedExperts)
        routedScalingFactor = try c.decodeIfPresent(Double.self, forKey: .routedScalingFactor)
        kvLoraRank = try c.decode(Int.self, forKey: .kvLoraRank)
        qLoraRank = try c.decodeIfPresent(Int.self, forKey: .qLoraRank)
        qkRopeHeadDim = try c.decode(Int.self, forKey: .qkRopeHeadDim)
        qkNopeHeadDim = try c.decode(Int.self, forKey: .qkNopeHeadDim)
        vHeadDim = try c.decode(Int.self, forKey: .vHeadDim)
        topkMethod = try c.decodeIfPresent(String.self, forKey: .topkMethod)
        nGroup = try c.decodeIfPresent(Int.self, forKey: .nGroup)
        topkGroup = try c.decodeIfPresent(Int.self, forKey: .topkGroup)
        numExpertsPerTok = try c.decodeIfPresent(Int.self, forKey: .numExpertsPerTok)
        firstKDenseReplace = try c.decodeIfPresent(Int.self, forKey: .firstKDenseReplace)
        moeLayerFreq = try c.decodeIfPresent(Int.self, forKey: .moeLayerFreq)
        normTopkProb = try c.decodeIfPresent(Bool.self, forKey: .normTopkProb)
        scoringFunc = try c.decodeIfPresent(String.self, forKey: .scoringFunc)
        rmsNormEps = try c.decodeIfPresent(Double.self, forKey: .rmsNormEps) ?? 1e-6
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? 4096
        ropeTheta = try c.decodeIfPresent(Double.self, forKey: .ropeTheta)
        ropeScaling = try c.decodeIfPresent(RopeParameters.self, forKey: .ropeScaling)
        ropeParameters = try c.decodeIfPresent(RopeParameters.self, forKey: .ropeParameters)
        ropeInterleave = try c.decodeIfPresent(Bool.self, forKey: .ropeInterleave)
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings)
        attentionBias = try c.decodeIfPresent(Bool.self, forKey: .attentionBias)
        torchDtype = try c.decodeIfPresent(String.self, forKey: .torchDtype)
        dtype = try c.decodeIfPresent(String.self, forKey: .dtype)
        numNextnPredictLayers = try c.decodeIfPresent(Int.self, forKey: .numNextnPredictLayers)
        bosTokenId = try? c.decodeIfPresent(Int.self, forKey: .bosTokenId)
        eosTokenId = try c.decodeIfPresent(TokenIDList.self, forKey: .eosTokenId)
        quantizationConfig = try c.decodeIfPresent(QuantizationConfig.self, forKey: .quantizationConfig)
    }

    /// Reads and validates `<directory>/config.json`; an `eos_token_id` in
    /// `<directory>/generation_config.json` (when the file exists) replaces config.json's.
    public static func load(directory: String) throws -> DeepSeekConfig {
        let path = (directory as NSString).appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: path) else { throw ModelError.configMissing(path: path) }
        var config = try decode(DeepSeekConfig.self, path: path)
        let generationPath = (directory as NSString).appendingPathComponent("generation_config.json")
        if FileManager.default.fileExists(atPath: generationPath),
           let eos = try decode(GenerationConfig.self, path: generationPath).eosTokenId {
            config.eosTokenId = eos
        }
        try config.validate()
        return config
    }

    private static func decode<T: Decodable>(_ type: T.Type, path: String) throws -> T {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ModelError.configUnreadable(path: path, reason: error.localizedDescription)
        }
        do { return try JSONDecoder().decode(T.self, from: data) } catch let error as DecodingError {
            throw ModelError.configUnreadable(path: path, reason: Self.describe(error))
        }
    }

    /// The fields of generation_config.json this engine uses.
    private struct GenerationConfig: Decodable {
        var eosTokenId: TokenIDList?
        enum CodingKeys: String, CodingKey { case eosTokenId = "eos_token_id" }
    }

    private static func describe(_ error: DecodingError) -> String {
        switch error {
        case .keyNotFound(let key, _): return "missing key '\(key.stringValue)'"
        case .typeMismatch(let type, let ctx):
            return "key '\(ctx.codingPath.map(\.stringValue).joined(separator: "."))' is not a \(type)"
        case .valueNotFound(_, let ctx): return "key '\(ctx.codingPath.map(\.stringValue).joined(separator: "."))' is null"
        case .dataCorrupted(let ctx): return "malformed JSON (\(ctx.debugDescription))"
        @unknown default: return "\(error)"
        }
    }

    // MARK: Derived values

    /// q_a_layernorm and kv_a_layernorm use transformers' class default eps, not rms_norm_eps.
    public static let latentNormEps: Float = 1e-6

    public var isV3: Bool { (architectures?.first ?? modelType ?? "").lowercased().contains("v3") }
    public var qkHeadDim: Int { qkNopeHeadDim + qkRopeHeadDim }
    /// Floats per token per layer in the latent cache: c_kv ‖ k_pe.
    public var latentRowWidth: Int { kvLoraRank + qkRopeHeadDim }
    /// Decompressing one key (kv_b: kv_lora_rank → nope ‖ v per head) costs as many multiply-adds
    /// as this many query·key pairs of decompressed attention (nope + rope for the score, v for the
    /// value, per head); heads cancel. PCP balances its shards with it, scaled to time
    /// (PrefillEngine.keyCostInPairs).
    public var decompressionCostInPairs: Double {
        Double(kvLoraRank * (qkNopeHeadDim + vHeadDim)) / Double(qkNopeHeadDim + qkRopeHeadDim + vHeadDim)
    }
    public var routedExperts: Int { nRoutedExperts ?? 0 }
    /// Token ids that end generation (with reason eos unless the request ignores EOS); empty when
    /// the config names none.
    public var eosTokenIDs: [Int] { eosTokenId?.ids ?? [] }

    /// transformers: layer i is MoE iff n_routed_experts is set and i ≥ first_k_dense_replace
    /// (moe_layer_freq is ignored; it is 1 in every released checkpoint).
    public func isMoELayer(_ layer: Int) -> Bool {
        routedExperts > 0 && layer >= (firstKDenseReplace ?? 0)
    }

    /// The rope settings in whichever style the file used (`rope_parameters` wins when both exist).
    public var rope: RopeParameters {
        var p = ropeParameters ?? ropeScaling ?? RopeParameters()
        if p.ropeTheta == nil { p.ropeTheta = ropeTheta ?? 10000 }
        return p
    }

    public func validate() throws {
        let arch = architectures?.first ?? (modelType.map { $0 == "deepseek_v3" ? "DeepseekV3ForCausalLM" : "DeepseekV2ForCausalLM" } ?? "")
        guard ["DeepseekV2ForCausalLM", "DeepseekV3ForCausalLM"].contains(arch) else {
            throw ModelError.unsupportedArchitecture(arch)
        }
        func positive(_ v: Int?, _ name: String) throws {
            if let v, v <= 0 { throw ModelError.configInvalid(field: name, reason: "must be > 0, found \(v)") }
        }
        try positive(vocabSize, "vocab_size"); try positive(hiddenSize, "hidden_size")
        try positive(numHiddenLayers, "num_hidden_layers"); try positive(numAttentionHeads, "num_attention_heads")
        try positive(kvLoraRank, "kv_lora_rank"); try positive(qLoraRank, "q_lora_rank")
        try positive(qkNopeHeadDim, "qk_nope_head_dim"); try positive(vHeadDim, "v_head_dim")
        try positive(intermediateSize, "intermediate_size")
        if qkRopeHeadDim <= 0 || qkRopeHeadDim % 2 != 0 {
            throw ModelError.configInvalid(field: "qk_rope_head_dim", reason: "must be even and > 0, found \(qkRopeHeadDim)")
        }
        if attentionBias == true { throw ModelError.unsupported(feature: "attention_bias = true") }
        if routedExperts > 0 {
            guard let k = numExpertsPerTok, k > 0, k <= routedExperts else {
                throw ModelError.configInvalid(field: "num_experts_per_tok", reason: "must be in 1...\(routedExperts), found \(numExpertsPerTok.map(String.init) ?? "null")")
            }
            try positive(moeIntermediateSize, "moe_intermediate_size")
            if moeIntermediateSize == nil {
                throw ModelError.configInvalid(field: "moe_intermediate_size", reason: "required when n_routed_experts is set")
            }
            if !isV3, let method = topkMethod, !["greedy", "group_limited_greedy"].contains(method) {
                throw ModelError.configInvalid(field: "topk_method", reason: "DeepSeek-V2 routing supports greedy or group_limited_greedy, found '\(method)'")
            }
            let groups = nGroup ?? 1
            if routedExperts % groups != 0 {
                throw ModelError.configInvalid(field: "n_group", reason: "\(groups) does not divide n_routed_experts \(routedExperts)")
            }
        }
        _ = try rope.settings(headDim: qkRopeHeadDim, maxPositions: maxPositionEmbeddings)
        if let q = quantizationConfig { try q.validate() }
    }
}

/// The `quantization_config` of an FP8 checkpoint. Which tensors are FP8 is read from the file
/// (dtype F8_E4M3 plus a `<name>_scale_inv` companion); this says how their scales are laid out.
public struct QuantizationConfig: Codable, Equatable, Sendable {
    public var quantMethod: String?
    public var fmt: String?
    public var activationScheme: String?
    /// [rows, cols] of one scale block.
    public var weightBlockSize: [Int]?

    enum CodingKeys: String, CodingKey {
        case fmt
        case quantMethod = "quant_method", activationScheme = "activation_scheme", weightBlockSize = "weight_block_size"
    }

    public init(quantMethod: String?, fmt: String?, activationScheme: String? = nil, weightBlockSize: [Int]?) {
        self.quantMethod = quantMethod; self.fmt = fmt; self.activationScheme = activationScheme; self.weightBlockSize = weightBlockSize
    }

    /// Rows and columns of one scale block (128 × 128 when unstated, as DeepSeek-V3 ships).
    public var blockShape: (rows: Int, cols: Int) {
        guard let b = weightBlockSize, b.count == 2 else { return (128, 128) }
        return (b[0], b[1])
    }

    func validate() throws {
        if let m = quantMethod, m != "fp8" {
            throw ModelError.unsupported(feature: "quantization_config.quant_method '\(m)' (only fp8 block scaling)")
        }
        if let f = fmt, f != "e4m3" { throw ModelError.unsupported(feature: "quantization_config.fmt '\(f)' (only e4m3)") }
        if let b = weightBlockSize, b.count != 2 || b.contains(where: { $0 <= 0 }) {
            throw ModelError.configInvalid(field: "quantization_config.weight_block_size", reason: "expected [rows, cols] > 0, found \(b)")
        }
    }
}

/// A token id field HF writes as an int or a list of ints (e.g. `eos_token_id`). Encodes back the
/// way it came: one id as an int, several as a list.
public struct TokenIDList: Codable, Equatable, Sendable {
    public var ids: [Int]

    public init(_ ids: [Int]) { self.ids = ids }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let one = try? c.decode(Int.self) { ids = [one] } else { ids = try c.decode([Int].self) }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        if ids.count == 1 { try c.encode(ids[0]) } else { try c.encode(ids) }
    }
}
