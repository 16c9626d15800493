"""A from-scratch NumPy (float64) DeepSeek-V2/V3 forward written from HF_SEMANTICS.md, checked against the
golden expected.json. It uses no transformers code: if it agrees, the semantics notes are complete enough
to reimplement the model, and the printed differences show how far HF's float32 result is from exact math.

Usage: python independent_check.py GOLDEN_DIR        (last line: "independent: N passed, N failed")
"""

import json
import math
import sys
from pathlib import Path

import numpy as np
from safetensors import safe_open

F = np.float64


def e4m3_values(codes: np.ndarray) -> np.ndarray:
    """OCP float8 E4M3 "fn" bytes -> float64 from the definition: bias 7, subnormals m/8 * 2^-6, 0x7F/0xFF NaN."""
    c = codes.astype(np.int64)
    sign = np.where(c & 0x80, -1.0, 1.0)
    e, m = (c >> 3) & 0xF, (c & 7).astype(F)
    value = np.where(e == 0, m / 8 * 2.0**-6, (1 + m / 8) * np.exp2(e.astype(F) - 7))
    return np.where((c & 0x7F) == 0x7F, np.nan, sign * value)


def load_weights(folder: Path, cfg: dict) -> dict:
    """Every tensor as float64; F8_E4M3 weights dequantized as q * weight_scale_inv per block
    (block shape from quantization_config.weight_block_size, partial blocks at the edges)."""
    files = sorted(folder.glob("*.safetensors"))
    raw = {}
    for path in files:
        with safe_open(path, "pt") as f:  # torch only to decode BF16 and hand over FP8 bytes; math below is NumPy
            for key in f.keys():
                t = f.get_tensor(key)
                raw[key] = e4m3_values(t.view(__import__("torch").uint8).numpy()) if "float8" in str(t.dtype) \
                    else t.float().numpy().astype(F)
    br, bc = (cfg.get("quantization_config") or {}).get("weight_block_size", [128, 128])
    weights = {}
    for key, value in raw.items():
        if key.endswith("_scale_inv"):
            continue
        scale = raw.get(key + "_scale_inv")
        if scale is not None:
            rows, cols = value.shape
            value = value * np.repeat(np.repeat(scale, br, axis=0), bc, axis=1)[:rows, :cols]
        weights[key] = value
    return weights


def rope_params(cfg: dict) -> dict:
    """transformers >= 5 writes rope_parameters; Hub configs have rope_scaling (+ "type") and rope_theta."""
    if cfg.get("rope_parameters"):
        return dict(cfg["rope_parameters"])
    rope = dict(cfg.get("rope_scaling") or {})
    rope["rope_type"] = rope.pop("type", rope.get("rope_type", "default"))
    rope["rope_theta"] = cfg.get("rope_theta", 10000.0)
    return rope


def yarn_mscale(scale: float, mscale: float) -> float:
    return 1.0 if scale <= 1 else 0.1 * mscale * math.log(scale) + 1.0


def rope_tables(cfg: dict):
    """Returns (inv_freq [rope/2], attention_factor, softmax scale)."""
    rope, dim = rope_params(cfg), cfg["qk_rope_head_dim"]
    base = rope["rope_theta"]
    pos_freqs = base ** (np.arange(0, dim, 2, dtype=F) / dim)
    scale = (cfg["qk_nope_head_dim"] + dim) ** -0.5
    if rope["rope_type"] == "default":
        return 1.0 / pos_freqs, 1.0, scale
    assert rope["rope_type"] == "yarn", rope
    factor, orig = rope["factor"], rope["original_max_position_embeddings"]
    mscale, mscale_all = rope.get("mscale"), rope.get("mscale_all_dim")
    if mscale and mscale_all:
        attention_factor = yarn_mscale(factor, mscale) / yarn_mscale(factor, mscale_all)
    else:
        attention_factor = yarn_mscale(factor, 1.0)
    beta_fast, beta_slow = rope.get("beta_fast") or 32, rope.get("beta_slow") or 1
    corr = lambda rot: dim * math.log(orig / (rot * 2 * math.pi)) / (2 * math.log(base))
    low, high = math.floor(corr(beta_fast)), math.ceil(corr(beta_slow))  # truncate (default true)
    low, high = max(low, 0), min(high, dim - 1)
    if low == high:
        high += 0.001
    ramp = np.clip((np.arange(dim // 2, dtype=F) - low) / (high - low), 0, 1)  # 0: keep, 1: interpolate
    inv_freq = (1.0 / (factor * pos_freqs)) * ramp + (1.0 / pos_freqs) * (1 - ramp)
    if mscale_all:
        scale *= yarn_mscale(factor, mscale_all) ** 2
    return inv_freq, attention_factor, scale


def rms_norm(x, weight, eps):
    return weight * (x / np.sqrt((x * x).mean(-1, keepdims=True) + eps))


def rotate_pairs(x, positions, inv_freq, attention_factor):
    """x [T, ..., rope]: pairs (2i, 2i+1) rotated by angle pos * inv_freq[i]; cos/sin scaled by attention_factor.
    HF V2 keeps this pair layout; HF V3 (rope_interleave) outputs [evens', odds'] instead, which gives the
    same q.k dot products because q and k are permuted alike."""
    angle = positions[:, None] * inv_freq[None, :]  # [T, rope/2]
    shape = (len(positions),) + (1,) * (x.ndim - 2) + (-1,)
    cos, sin = (np.cos(angle) * attention_factor).reshape(shape), (np.sin(angle) * attention_factor).reshape(shape)
    even, odd = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2], out[..., 1::2] = even * cos - odd * sin, odd * cos + even * sin
    return out


def silu(x):
    return x / (1 + np.exp(-x))


def swiglu(x, w, prefix):
    gate, up = x @ w[prefix + "gate_proj.weight"].T, x @ w[prefix + "up_proj.weight"].T
    return (silu(gate) * up) @ w[prefix + "down_proj.weight"].T


def route(cfg, w, p, x):
    """x [T, hidden] -> (indices [T, k], weights [T, k])."""
    logits = x @ w[p + "gate.weight"].T  # [T, E]
    k, n_exp = cfg["num_experts_per_tok"], cfg["n_routed_experts"]
    n_group, topk_group = cfg.get("n_group"), cfg.get("topk_group")
    bias_key = p + "gate.e_score_correction_bias"
    if cfg["model_type"] == "deepseek_v3":
        scores = 1 / (1 + np.exp(-logits))
        choice = scores + w[bias_key]
        group_score = np.sort(choice.reshape(len(x), n_group, -1), -1)[..., -2:].sum(-1)  # top-2 sum
    else:
        scores = np.exp(logits - logits.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
        choice = scores
        group_score = scores.reshape(len(x), n_group, -1).max(-1) if cfg.get("topk_method") == "group_limited_greedy" else None
    if group_score is not None:
        kept = np.argsort(-group_score, -1)[:, :topk_group]
        mask = np.zeros_like(group_score, dtype=bool)
        np.put_along_axis(mask, kept, True, -1)
        choice = np.where(np.repeat(mask, n_exp // n_group, -1), choice, -np.inf)
    idx = np.argsort(-choice, -1, kind="stable")[:, :k]
    weights = np.take_along_axis(scores, idx, -1)
    if cfg["model_type"] == "deepseek_v3" and cfg.get("norm_topk_prob"):
        weights = weights / (weights.sum(-1, keepdims=True) + 1e-20)
    return idx, weights * cfg["routed_scaling_factor"]


def moe(cfg, w, p, x):
    idx, weights = route(cfg, w, p, x)
    out = swiglu(x, w, p + "shared_experts.")
    for t in range(len(x)):
        for j in range(idx.shape[1]):
            out[t] += weights[t, j] * swiglu(x[t : t + 1], w, f"{p}experts.{idx[t, j]}.")[0]
    return out


def attention(cfg, w, p, x, positions, rope):
    inv_freq, attention_factor, scale = rope
    T, H = len(x), cfg["num_attention_heads"]
    nope, rdim, vdim, kv_rank = cfg["qk_nope_head_dim"], cfg["qk_rope_head_dim"], cfg["v_head_dim"], cfg["kv_lora_rank"]
    if cfg.get("q_lora_rank"):
        q = rms_norm(x @ w[p + "q_a_proj.weight"].T, w[p + "q_a_layernorm.weight"], 1e-6) @ w[p + "q_b_proj.weight"].T
    else:
        q = x @ w[p + "q_proj.weight"].T
    q = q.reshape(T, H, nope + rdim)
    q_nope, q_pe = q[..., :nope], rotate_pairs(q[..., nope:], positions, inv_freq, attention_factor)
    latent = x @ w[p + "kv_a_proj_with_mqa.weight"].T  # [T, kv_rank + rope]
    c_kv = rms_norm(latent[:, :kv_rank], w[p + "kv_a_layernorm.weight"], 1e-6)  # eps fixed at 1e-6 in HF
    k_pe = rotate_pairs(latent[:, kv_rank:], positions, inv_freq, attention_factor)  # [T, rope], one for all heads
    kv = (c_kv @ w[p + "kv_b_proj.weight"].T).reshape(T, H, nope + vdim)
    k_nope, v = kv[..., :nope], kv[..., nope:]
    scores = (np.einsum("thd,shd->hts", q_nope, k_nope) + np.einsum("thd,sd->hts", q_pe, k_pe)) * scale
    scores = np.where(np.tril(np.ones((T, T), dtype=bool))[None], scores, -np.inf)
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    out = np.einsum("hts,shd->thd", probs, v).reshape(T, H * vdim)
    return out @ w[p + "o_proj.weight"].T


def forward(cfg, w, ids):
    """ids [T] -> (logits [T, vocab], hidden after layer 0 [T, hidden])."""
    rope, eps = rope_tables(cfg), cfg["rms_norm_eps"]
    positions = np.arange(len(ids), dtype=F)
    h, hidden0 = w["model.embed_tokens.weight"][ids], None
    for layer in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        h = h + attention(cfg, w, p + "self_attn.", rms_norm(h, w[p + "input_layernorm.weight"], eps), positions, rope)
        x = rms_norm(h, w[p + "post_attention_layernorm.weight"], eps)
        h = h + (moe(cfg, w, p + "mlp.", x) if layer >= cfg["first_k_dense_replace"] else swiglu(x, w, p + "mlp."))
        hidden0 = h.copy() if layer == 0 else hidden0
    return rms_norm(h, w["model.norm.weight"], eps) @ w["lm_head.weight"].T, hidden0


def main(golden_dir: Path) -> int:
    passed = failed = 0
    for folder in sorted(p for p in golden_dir.iterdir() if (p / "expected.json").exists()):
        cfg = json.loads((folder / "config.json").read_text())
        w = load_weights(folder, cfg)
        for case in json.loads((folder / "expected.json").read_text())["cases"]:
            ids = case["prompt_ids"] + case["greedy_tokens"][:-1]  # one no-cache pass covers prompt + decode
            logits, hidden0 = forward(cfg, w, np.array(ids))
            n = len(case["prompt_ids"])
            logit_diff = np.abs(logits[n - 1] - np.array(case["last_logits"])).max()
            hidden_diff = np.abs(hidden0[n - 1] - np.array(case["hidden_after_layer0_last"])).max()
            argmax_ok = logits[:n].argmax(-1).tolist() == case["position_argmax"]
            greedy_ok = logits[n - 1 :].argmax(-1).tolist() == case["greedy_tokens"]
            ok = argmax_ok and greedy_ok and logit_diff < 1e-3 and hidden_diff < 1e-4
            passed, failed = passed + ok, failed + (not ok)
            print(f"{'ok  ' if ok else 'FAIL'} {folder.name}/{case['name']}: last_logits max diff {logit_diff:.2e}, "
                  f"layer0 hidden max diff {hidden_diff:.2e}, argmax {argmax_ok}, greedy {greedy_ok}")
    print(f"independent: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
