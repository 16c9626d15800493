import Basics
import Foundation
import Tensors

/// Synthetic checkpoints written deterministically (fixed seed) as real HF folders and loaded
/// through the same loader as any download: `tiny` for tests, `bench` for every benchmark, and
/// `bench` stored as real checkpoints ship: `bench-bf16` (every tensor BF16) and `bench-fp8`
/// (DeepSeek-V3's layout: layer linear weights F8_E4M3 with an F32 `weight_scale_inv` per 128×128
/// block, embedding / lm_head / norms BF16). All three hold the same draws of the same seed.
public enum BuiltinModel: String, CaseIterable, Sendable {
    /// DeepSeek-V3 in miniature: q_lora, YaRN, interleaved rope, MoE with group-limited sigmoid routing.
    case tiny
    /// The benchmark shape: DeepSeek-V3 attention dims, 4 dense layers, default rope, f32 (~331M parameters).
    case bench
    case benchBF16 = "bench-bf16"
    case benchFP8 = "bench-fp8"
    /// DeepSeek-V2-Lite's layer shapes, 4 layers, BF16 (~4.3 GB): hidden 2048, 16 heads, no q_lora,
    /// kv_lora 512, rope 64 / nope 128 / v 128, layer 0 dense (intermediate 10944), then 64 routed
    /// experts top-6 softmax greedy (moe_intermediate 1408) + 2 shared, vocab 102400, YaRN 40 / mscale
    /// 0.707. Carries `bench`'s tokenizer (its 32000 ids are a subset of the model's vocabulary).
    case benchMoE = "bench-moe"

    /// "tiny, bench, bench-bf16, bench-fp8", for help texts.
    public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }

    /// FP8 block shape of `bench-fp8` (DeepSeek-V3's `weight_block_size`).
    static let fp8Block = 128

    /// The shapes and seed this model shares with another (the bench variants are `bench` re-stored).
    private var shapes: BuiltinModel {
        switch self {
        case .tiny: return .tiny
        case .benchMoE: return .benchMoE
        default: return .bench
        }
    }

    /// The built-in tokenizer folder this model carries.
    private var tokenizerName: String { self == .tiny ? "tiny" : "bench" }

    /// The tokenizer files every built-in folder gets: a byte-level BPE of the model's vocabulary
    /// size with DeepSeek's special tokens and DeepSeek-V3.1's chat template, trained by
    /// `scripts/golden/builtin_tokenizer.py` and shipped as resources of this module.
    static let tokenizerFiles = ["tokenizer.json", "tokenizer_config.json", "generation_config.json"]

    public var config: [String: Any] {
        var config = shapes.baseConfig
        switch self {
        case .tiny, .bench, .benchMoE: break
        case .benchBF16: config["torch_dtype"] = "bfloat16"
        case .benchFP8:
            config["torch_dtype"] = "bfloat16"
            config["quantization_config"] = ["quant_method": "fp8", "fmt": "e4m3", "activation_scheme": "dynamic",
                                             "weight_block_size": [Self.fp8Block, Self.fp8Block]]
        }
        return config
    }

    private var baseConfig: [String: Any] {
        switch self {
        case .tiny:
            return [
                "architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3",
                "vocab_size": 512, "hidden_size": 64, "intermediate_size": 128, "moe_intermediate_size": 32,
                "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 4,
                "n_shared_experts": 1, "n_routed_experts": 8, "num_experts_per_tok": 2, "n_group": 4, "topk_group": 2,
                "routed_scaling_factor": 2.5, "norm_topk_prob": true, "topk_method": "noaux_tc", "scoring_func": "sigmoid",
                "first_k_dense_replace": 1, "moe_layer_freq": 1,
                "q_lora_rank": 48, "kv_lora_rank": 32, "qk_rope_head_dim": 16, "qk_nope_head_dim": 16, "v_head_dim": 16,
                "rms_norm_eps": 1e-6, "max_position_embeddings": 4096, "rope_theta": 10000.0,
                "rope_scaling": ["type": "yarn", "factor": 4.0, "original_max_position_embeddings": 1024,
                                 "beta_fast": 32.0, "beta_slow": 1.0, "mscale": 1.0, "mscale_all_dim": 1.0],
                "rope_interleave": true, "tie_word_embeddings": false, "attention_bias": false,
                "torch_dtype": "float32", "bos_token_id": 0, "eos_token_id": 1,
            ]
        case .bench:
            return [
                "architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3",
                "vocab_size": 32000, "hidden_size": 2048, "intermediate_size": 5632,
                "num_hidden_layers": 4, "num_attention_heads": 16, "num_key_value_heads": 16,
                "q_lora_rank": 1536, "kv_lora_rank": 512, "qk_rope_head_dim": 64, "qk_nope_head_dim": 128, "v_head_dim": 128,
                "first_k_dense_replace": 4, "rms_norm_eps": 1e-6, "max_position_embeddings": 16384, "rope_theta": 10000.0,
                "rope_interleave": true, "tie_word_embeddings": false, "attention_bias": false,
                "torch_dtype": "float32", "bos_token_id": 0, "eos_token_id": 1,
            ]
        case .benchMoE:
            return [
                "architectures": ["DeepseekV2ForCausalLM"], "model_type": "deepseek_v2",
                "vocab_size": 102400, "hidden_size": 2048, "intermediate_size": 10944, "moe_intermediate_size": 1408,
                "num_hidden_layers": 4, "num_attention_heads": 16, "num_key_value_heads": 16,
                "n_shared_experts": 2, "n_routed_experts": 64, "num_experts_per_tok": 6, "routed_scaling_factor": 1.0,
                "topk_method": "greedy", "n_group": 1, "topk_group": 1, "scoring_func": "softmax", "norm_topk_prob": false,
                "first_k_dense_replace": 1, "moe_layer_freq": 1,
                "kv_lora_rank": 512, "qk_rope_head_dim": 64, "qk_nope_head_dim": 128, "v_head_dim": 128,
                "rms_norm_eps": 1e-6, "max_position_embeddings": 163840, "rope_theta": 10000.0,
                "rope_scaling": ["type": "yarn", "factor": 40.0, "original_max_position_embeddings": 4096,
                                 "beta_fast": 32.0, "beta_slow": 1.0, "mscale": 0.707, "mscale_all_dim": 0.707],
                "tie_word_embeddings": false, "attention_bias": false,
                "torch_dtype": "bfloat16", "bos_token_id": 0, "eos_token_id": 1,
            ]
        case .benchBF16, .benchFP8: return shapes.baseConfig
        }
    }

    /// The folder of the model, written on first use under `cacheRoot` (default
    /// $LATENTSERVE_MODEL_CACHE or ~/.cache/latentserve/models). Safe when several ranks race.
    public func materialize(cacheRoot: String? = nil) throws -> String {
        let root = cacheRoot ?? BuiltinModelFolder.defaultCacheRoot
        let dir = BuiltinModelFolder.path(name: rawValue, cacheRoot: root)
        let fm = FileManager.default
        if fm.fileExists(atPath: (dir as NSString).appendingPathComponent("model.safetensors")) { return dir }
        try fm.createDirectory(atPath: root, withIntermediateDirectories: true)
        let staging = dir + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try fm.createDirectory(atPath: staging, withIntermediateDirectories: true)
        defer { try? fm.removeItem(atPath: staging) }
        try write(to: staging)
        if rename(staging, dir) != 0 && !fm.fileExists(atPath: (dir as NSString).appendingPathComponent("model.safetensors")) {
            throw ModelError.configUnreadable(path: dir, reason: "could not publish built-in model: \(String(cString: strerror(errno)))")
        }
        return dir
    }

    /// Writes config.json, the tokenizer files and model.safetensors into an existing folder.
    public func write(to directory: String) throws {
        guard let tokenizerFolder = Bundle.module.url(forResource: tokenizerName, withExtension: nil,
                                                      subdirectory: "BuiltinTokenizers") else {
            throw ModelError.configUnreadable(path: directory, reason: "the \(tokenizerName) tokenizer is missing from this build's resources")
        }
        for name in Self.tokenizerFiles {
            try FileManager.default.copyItem(at: tokenizerFolder.appendingPathComponent(name),
                                             to: URL(fileURLWithPath: (directory as NSString).appendingPathComponent(name)))
        }
        let configData = try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])
        try configData.write(to: URL(fileURLWithPath: (directory as NSString).appendingPathComponent("config.json")))
        let c = try JSONDecoder().decode(DeepSeekConfig.self, from: configData)
        var rng = SeededRandom(seed: shapes == .tiny ? 0x7137 : shapes == .benchMoE ? 0xB0E5 : 0xBE7C)
        var writer = SafetensorsWriter()
        let plainDType: DType = self == .tiny || self == .bench ? .f32 : .bf16
        /// A tensor of N(mean, std²) values; `blockScaled` ones go to FP8 in bench-fp8.
        func add(_ name: String, _ shape: [Int], mean: Float = 0, std: Float, blockScaled: Bool = false) {
            var values = [Float](repeating: 0, count: shape.reduce(1, *))
            values.withUnsafeMutableBufferPointer { rng.fillNormal($0, mean: mean, std: std) }
            if blockScaled && self == .benchFP8 {
                let q = FP8BlockQuantizer.quantize(values, rows: shape[0], cols: shape[1], block: Self.fp8Block)
                writer.add(name, shape: shape, bytes: q.codes, dtype: .f8E4M3)
                q.scaleInv.withUnsafeBufferPointer { writer.add(name + "_scale_inv", shape: q.scaleShape, values: $0, as: .f32) }
            } else {
                values.withUnsafeBufferPointer { writer.add(name, shape: shape, values: $0, as: plainDType) }
            }
        }
        // Linear weights ~ N(0, 1/fan_in) keep activations O(1); norms near 1.
        func linear(_ name: String, _ out: Int, _ inp: Int) {
            add(name, [out, inp], std: 1 / Float(inp).squareRoot(), blockScaled: name.hasPrefix("model.layers.") && !name.hasSuffix("mlp.gate.weight"))
        }
        func norm(_ name: String, _ n: Int) { add(name, [n], mean: 1, std: 0.1) }
        func mlp(_ prefix: String, _ inter: Int) {
            linear(prefix + "gate_proj.weight", inter, c.hiddenSize)
            linear(prefix + "up_proj.weight", inter, c.hiddenSize)
            linear(prefix + "down_proj.weight", c.hiddenSize, inter)
        }
        let h = c.hiddenSize, heads = c.numAttentionHeads
        add("model.embed_tokens.weight", [c.vocabSize, h], std: 1)
        for l in 0..<c.numHiddenLayers {
            let p = "model.layers.\(l).", a = p + "self_attn."
            norm(p + "input_layernorm.weight", h)
            norm(p + "post_attention_layernorm.weight", h)
            if let qLora = c.qLoraRank {
                linear(a + "q_a_proj.weight", qLora, h)
                norm(a + "q_a_layernorm.weight", qLora)
                linear(a + "q_b_proj.weight", heads * c.qkHeadDim, qLora)
            } else {
                linear(a + "q_proj.weight", heads * c.qkHeadDim, h)
            }
            linear(a + "kv_a_proj_with_mqa.weight", c.latentRowWidth, h)
            norm(a + "kv_a_layernorm.weight", c.kvLoraRank)
            linear(a + "kv_b_proj.weight", heads * (c.qkNopeHeadDim + c.vHeadDim), c.kvLoraRank)
            linear(a + "o_proj.weight", h, heads * c.vHeadDim)
            if c.isMoELayer(l) {
                let inter = c.moeIntermediateSize!
                linear(p + "mlp.gate.weight", c.routedExperts, h)
                if c.isV3 { add(p + "mlp.gate.e_score_correction_bias", [c.routedExperts], std: 0.05) }   // V3 routers only
                for e in 0..<c.routedExperts { mlp(p + "mlp.experts.\(e).", inter) }
                mlp(p + "mlp.shared_experts.", inter * (c.nSharedExperts ?? 1))
            } else {
                mlp(p + "mlp.", c.intermediateSize)
            }
        }
        norm("model.norm.weight", h)
        linear("lm_head.weight", c.vocabSize, h)
        try writer.write(to: (directory as NSString).appendingPathComponent("model.safetensors"))
    }

    /// Resolves `--model`: a built-in name or a folder path.
    public static func resolve(_ nameOrPath: String) throws -> String {
        if let builtin = BuiltinModel(rawValue: nameOrPath) { return try builtin.materialize() }
        return nameOrPath
    }
}
