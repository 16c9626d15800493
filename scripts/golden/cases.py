"""Golden case definitions: tiny DeepSeek-V2/V3 configs that each exercise one set of code paths.

Every case becomes one folder under Tests/DeepSeekModelTests/Golden/<name>/ with config.json, the
safetensors weights and expected.json. Shapes are tiny so the whole folder stays well under 6 MB.
"""

from dataclasses import dataclass, field

# Shared tiny MLA shapes (hidden 64, 4 heads, nope 16 + rope 16).
_COMMON = dict(
    hidden_size=64,
    intermediate_size=128,
    moe_intermediate_size=32,
    num_hidden_layers=3,
    num_attention_heads=4,
    num_key_value_heads=4,
    kv_lora_rank=32,
    qk_rope_head_dim=16,
    qk_nope_head_dim=16,
    v_head_dim=16,
    max_position_embeddings=512,
    rms_norm_eps=1e-6,
    n_routed_experts=8,
    first_k_dense_replace=1,
    tie_word_embeddings=False,
)


def _yarn(mscale: float, mscale_all_dim: float, theta: float = 10000.0) -> dict:
    # factor 4 over an original window of 128 (= max_position_embeddings 512 / 4): the YaRN ramp
    # then spans rope dims 0..3 (truncated correction range), so both ends and the ramp are used.
    return {
        "rope_type": "yarn",
        "rope_theta": theta,
        "factor": 4.0,
        "original_max_position_embeddings": 128,
        "beta_fast": 32,
        "beta_slow": 1,
        "mscale": mscale,
        "mscale_all_dim": mscale_all_dim,
    }


@dataclass
class GoldenCase:
    name: str
    arch: str  # "v3" or "v2"
    config: dict
    prompt_lengths: list
    base_seed: int
    bf16_sharded_hub: bool = False  # save BF16, sharded, with a Hub-style (rope_scaling) config.json
    max_shard_size: str = "200KB"
    notes: list = field(default_factory=list)


CASES = [
    GoldenCase(
        name="v3_qlora_yarn_moe",
        arch="v3",
        config=dict(
            _COMMON,
            vocab_size=320,
            q_lora_rank=48,
            rope_parameters=_yarn(1.0, 1.0),
            rope_interleave=True,
            num_experts_per_tok=2,
            n_group=4,
            topk_group=2,
            norm_topk_prob=True,
            routed_scaling_factor=2.5,
            n_shared_experts=1,
        ),
        prompt_lengths=[1, 7, 33, 300],
        base_seed=1000,
        notes=[
            "V3 MLA with q_lora, YaRN (factor 4, mscale = mscale_all_dim = 1.0), rope_interleave",
            "layer 0 dense, layers 1-2 MoE: sigmoid router, non-zero e_score_correction_bias, groups 4/2",
            "prompt of 300 tokens exercises positions past original_max_position_embeddings (128)",
            "config.json as written by transformers 5 save_pretrained (rope_parameters, dtype)",
        ],
    ),
    GoldenCase(
        name="v3_yarn_mscale_split",
        arch="v3",
        config=dict(
            _COMMON,
            vocab_size=256,
            q_lora_rank=None,
            v_head_dim=24,
            rope_parameters=_yarn(0.707, 1.0, theta=50000.0),
            rope_interleave=True,
            num_experts_per_tok=3,
            n_group=2,
            topk_group=1,
            norm_topk_prob=False,
            routed_scaling_factor=1.5,
            n_shared_experts=2,
        ),
        prompt_lengths=[1, 9, 40],
        base_seed=2000,
        notes=[
            "V3 with q_lora_rank null (q_proj), v_head_dim 24 != qk_nope_head_dim 16",
            "YaRN mscale 0.707 != mscale_all_dim 1.0: cos/sin scaled by attention_factor != 1",
            "norm_topk_prob false (weights = sigmoid score * routed_scaling_factor), top-3 of 8, groups 2/1",
            "two shared experts (shared intermediate = 2 * moe_intermediate_size), rope_theta 50000",
        ],
    ),
    GoldenCase(
        name="v2_noqlora_softmax",
        arch="v2",
        config=dict(
            _COMMON,
            vocab_size=256,
            q_lora_rank=None,
            v_head_dim=24,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
            num_experts_per_tok=2,
            topk_method="greedy",
            norm_topk_prob=False,
            routed_scaling_factor=1.5,
            n_shared_experts=2,
        ),
        prompt_lengths=[1, 7, 33],
        base_seed=3000,
        notes=[
            "V2 MLA with q_proj (q_lora_rank null), default RoPE (complex pairs), v_head_dim 24",
            "softmax router, topk_method greedy, weights * routed_scaling_factor 1.5 (no normalisation)",
        ],
    ),
    GoldenCase(
        name="v2_group_limited",
        arch="v2",
        config=dict(
            _COMMON,
            vocab_size=256,
            q_lora_rank=48,
            rope_parameters=_yarn(0.707, 0.707),
            num_experts_per_tok=3,
            topk_method="group_limited_greedy",
            n_group=4,
            topk_group=2,
            norm_topk_prob=False,
            routed_scaling_factor=1.0,
            n_shared_experts=2,
        ),
        prompt_lengths=[1, 7, 33],
        base_seed=4000,
        notes=[
            "V2 with q_lora, YaRN as in DeepSeek-V2 (mscale = mscale_all_dim = 0.707)",
            "softmax router, group_limited_greedy: group score = max softmax score in the group, 4 groups keep 2",
        ],
    ),
    GoldenCase(
        name="v3_bf16_hub",
        arch="v3",
        config=dict(
            _COMMON,
            vocab_size=256,
            q_lora_rank=48,
            rope_parameters=_yarn(1.0, 1.0),
            num_experts_per_tok=2,
            n_group=4,
            topk_group=2,
            norm_topk_prob=True,
            routed_scaling_factor=2.5,
            n_shared_experts=1,
        ),
        prompt_lengths=[1, 7, 33],
        base_seed=5000,
        bf16_sharded_hub=True,
        notes=[
            "weights stored BF16 except e_score_correction_bias (F32, as in the DeepSeek-V3 Hub checkpoint)",
            "sharded: model.safetensors.index.json + several model-0000X-of-0000N.safetensors",
            "Hub-style config.json: rope_scaling {type: yarn, ...} + rope_theta + torch_dtype, no rope_interleave",
            "expected outputs computed by transformers from these BF16 weights upcast to F32",
        ],
    ),
]
