"""Build a tiny DeepSeek-V2/V3 model with transformers' own classes and give it seeded weights with real spread.

HF's default init (std 0.02) leaves logits nearly flat, so argmax ties would make the golden tests flaky.
Here every matrix gets std 1/sqrt(fan_in) (activations keep unit scale), embeddings std 1, RMSNorm weights
1 +- 0.1, lm_head a larger std so logits are O(1..10), and V3 routers a non-zero e_score_correction_bias.
"""

import math

import torch
from transformers import DeepseekV2Config, DeepseekV2ForCausalLM, DeepseekV3Config, DeepseekV3ForCausalLM

LM_HEAD_LOGIT_STD = 6.0  # target std of the logits (final hidden has unit RMS)
ROUTER_LOGIT_STD = 1.5  # router logits spread, so sigmoid/softmax scores are well separated
E_SCORE_BIAS_STD = 0.15  # big enough to change V3 expert choices against the plain sigmoid ranking


def make_config(arch: str, config: dict):
    cls = DeepseekV3Config if arch == "v3" else DeepseekV2Config
    return cls(**config, attn_implementation="eager", experts_implementation="eager")


def model_class(arch: str):
    return DeepseekV3ForCausalLM if arch == "v3" else DeepseekV2ForCausalLM


def _new_weight(name: str, shape: torch.Size, hidden: int, gen: torch.Generator) -> torch.Tensor:
    normal = torch.randn(shape, generator=gen, dtype=torch.float32)
    if name.endswith("norm.weight"):  # every RMSNorm: input/post_attention/q_a/kv_a/final
        return 1.0 + 0.1 * normal
    if name.endswith("embed_tokens.weight"):
        return normal
    if name == "lm_head.weight":
        return normal * (LM_HEAD_LOGIT_STD / math.sqrt(hidden))
    if name.endswith(".gate.weight"):  # MoE router [n_experts, hidden]
        return normal * (ROUTER_LOGIT_STD / math.sqrt(hidden))
    if len(shape) >= 2:  # Linear [out, in] and packed experts [E, out, in]: fan_in is the last dim
        return normal / math.sqrt(shape[-1])
    return 0.02 * normal  # biases (none with the default attention_bias/mlp_bias = False)


@torch.no_grad()
def reinitialize(model, seed: int) -> None:
    """Overwrite every parameter (sorted by name, so the result depends only on the seed) and the V3 biases."""
    gen = torch.Generator().manual_seed(seed)
    hidden = model.config.hidden_size
    for name, param in sorted(model.named_parameters(), key=lambda item: item[0]):
        param.copy_(_new_weight(name, param.shape, hidden, gen))
    for name, buf in sorted(model.named_buffers(), key=lambda item: item[0]):
        if name.endswith("e_score_correction_bias"):
            buf.copy_(E_SCORE_BIAS_STD * torch.randn(buf.shape, generator=gen, dtype=torch.float32))


def build_model(arch: str, config: dict, seed: int):
    torch.manual_seed(seed)
    model = model_class(arch)(make_config(arch, config))
    reinitialize(model, seed)
    return model.eval()


@torch.no_grad()
def round_to_bf16(model) -> None:
    """Round every weight to BF16 in place (kept in F32), except e_score_correction_bias which stays F32."""
    for _, param in model.named_parameters():
        param.copy_(param.to(torch.bfloat16).to(torch.float32))
