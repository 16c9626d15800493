"""Golden folders whose weights are stored the way released checkpoints ship them, and the outputs
transformers computes in float32 from exactly the weights those files encode:
- bf16 / f16: every tensor in that dtype (e_score_correction_bias stays F32, as on the Hub), upcast.
- fp8: DeepSeek-V3's layout. Decoder-layer linear weights are F8_E4M3 (torch.float8_e4m3fn) with an
  F32 `<name>_scale_inv` per block (scale_inv = amax / 448 of the block, q = e4m3(w / scale_inv),
  partial blocks at the edges) and `quantization_config` in config.json; embedding, lm_head, norms and
  the router stay BF16. The reference runs on q.float() * scale_inv per block.

Usage: python stored_dtypes.py OUT_DIR [names...]
Each case re-stores one of cases.py's configurations; seeds are searched as generate.py does.
"""

import json
import shutil
import sys
import tempfile
from pathlib import Path

import torch
import transformers
from safetensors.torch import load_file, save_file

from cases import CASES
from generate import MAX_SEED_TRIES, MIN_ROUTING_GAP, MIN_TOP1_MARGIN, load_saved, prompts_for, rope_summary, to_json
from reference import run_prompt
from tiny_model import build_model

FP8_MAX = 448.0
# Small blocks so the tiny shapes span several of them, with partial blocks at the edges
# (kv_a_proj_with_mqa: 48 rows = 1.5 blocks of 32; v_head_dim 24 puts W_UV rows off the block grid).
FP8_BLOCK = [32, 16]

# (name, cases.py case it re-stores, storage, prompt lengths)
STORED = [
    ("v2_bf16", "v2_noqlora_softmax", "bf16", [1, 7, 33]),
    ("v3_f16", "v3_qlora_yarn_moe", "f16", [1, 7, 33]),
    ("v2_f16", "v2_group_limited", "f16", [1, 7, 33]),
    ("v3_fp8", "v3_qlora_yarn_moe", "fp8", [1, 7, 33]),
    ("v2_fp8", "v2_noqlora_softmax", "fp8", [1, 7, 33]),
]


def is_fp8_weight(name: str, tensor: torch.Tensor) -> bool:
    """Linear weights inside decoder layers, as DeepSeek-V3's checkpoint quantizes them (not the router)."""
    return (name.startswith("model.layers.") and name.endswith(".weight") and tensor.dim() == 2
            and not name.endswith("norm.weight") and not name.endswith("mlp.gate.weight"))


def quantize_fp8(w: torch.Tensor):
    """[rows, cols] f32 -> (q float8_e4m3fn [rows, cols], scale_inv f32 [ceil(rows/br), ceil(cols/bc)])."""
    br, bc = FP8_BLOCK
    rows, cols = w.shape
    scale = torch.ones((rows + br - 1) // br, (cols + bc - 1) // bc, dtype=torch.float32)
    q = torch.empty(rows, cols, dtype=torch.float8_e4m3fn)
    for i in range(scale.shape[0]):
        for j in range(scale.shape[1]):
            block = w[i * br:(i + 1) * br, j * bc:(j + 1) * bc]
            amax = float(block.abs().max())
            s = torch.tensor(amax / FP8_MAX if amax > 0 else 1.0, dtype=torch.float32)
            scale[i, j] = s
            q[i * br:(i + 1) * br, j * bc:(j + 1) * bc] = (block / s).to(torch.float8_e4m3fn)
    return q, scale


def dequantize_fp8(q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    br, bc = FP8_BLOCK
    full = scale.repeat_interleave(br, 0).repeat_interleave(bc, 1)[: q.shape[0], : q.shape[1]]
    return q.to(torch.float32) * full


def restore(source: dict, storage: str):
    """(tensors as stored, the f32 values they encode)."""
    stored, values = {}, {}
    for name, t in source.items():
        if name.endswith("e_score_correction_bias"):
            stored[name], values[name] = t, t
        elif storage == "fp8" and is_fp8_weight(name, t):
            q, s = quantize_fp8(t)
            stored[name], stored[name + "_scale_inv"] = q, s
            values[name] = dequantize_fp8(q, s)
        else:
            dt = torch.float16 if storage == "f16" else torch.bfloat16
            stored[name] = t.to(dt)
            values[name] = stored[name].to(torch.float32)
    return stored, values


def write_folder(folder: Path, config: dict, tensors: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(folder / "model.safetensors"), metadata={"format": "pt"})


def try_seed(case, storage: str, lengths: list, seed: int, folder: Path, scratch: Path):
    build_model(case.arch, case.config, seed).save_pretrained(scratch / "f32")
    config = json.loads((scratch / "f32" / "config.json").read_text())
    stored, values = restore(load_file(str(scratch / "f32" / "model.safetensors")), storage)
    write_folder(scratch / "ref", config, values)
    model = load_saved(case, scratch / "ref")
    entries, worst = [], {}
    prompts = [p for n, p in zip(case.prompt_lengths, prompts_for(case, seed)) if n in lengths]
    for prompt in prompts:
        entry, margins = run_prompt(model, f"prompt_{len(prompt)}", prompt)
        entries.append(entry)
        for key, value in margins.items():
            worst[key] = min(worst.get(key, float("inf")), value)
    ok = (worst["min_position_top1_margin"] > MIN_TOP1_MARGIN and worst["min_greedy_top1_margin"] > MIN_TOP1_MARGIN
          and worst["min_routing_gap"] > MIN_ROUTING_GAP)
    if ok:
        if folder.exists():
            shutil.rmtree(folder)
        config["dtype"] = {"bf16": "bfloat16", "f16": "float16", "fp8": "bfloat16"}[storage]
        if storage == "fp8":
            config["quantization_config"] = {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                                             "weight_block_size": FP8_BLOCK}
        write_folder(folder, config, stored)
    return ok, entries, worst, rope_summary(model)


def generate(name: str, base: str, storage: str, lengths: list, out_dir: Path) -> None:
    case = next(c for c in CASES if c.name == base)
    folder = out_dir / name
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(case.base_seed, case.base_seed + MAX_SEED_TRIES):
            ok, entries, worst, rope = try_seed(case, storage, lengths, seed, folder, Path(tmp))
            print(f"{name}: seed {seed} {'ok' if ok else 'rejected'} {worst}", flush=True)
            if ok:
                break
        else:
            raise SystemExit(f"{name}: no seed in {MAX_SEED_TRIES} tries gives clear margins")
    expected = {
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "model": name,
        "architecture": "DeepseekV3ForCausalLM" if case.arch == "v3" else "DeepseekV2ForCausalLM",
        "weights_dtype": storage + (f" blocks {FP8_BLOCK} + F32 weight_scale_inv; BF16 elsewhere" if storage == "fp8" else ""),
        "seed": seed,
        "notes": [f"{base}'s configuration stored as {storage}; outputs from the f32 values the files encode"],
        "margins": worst,
        "rope": rope,
        "cases": entries,
    }
    (folder / "expected.json").write_text(to_json(expected) + "\n")


def main(argv: list) -> None:
    out_dir = Path(argv[1])
    wanted = set(argv[2:])
    torch.set_num_threads(1)
    for name, base, storage, lengths in STORED:
        if not wanted or name in wanted:
            generate(name, base, storage, lengths, out_dir)


if __name__ == "__main__":
    main(sys.argv)
