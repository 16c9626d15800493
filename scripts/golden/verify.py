"""Re-check every golden folder: reload it with from_pretrained and confirm expected.json reproduces.

Usage: python verify.py GOLDEN_DIR
Per prompt it checks: last-position logits and layer-0 hidden state (max abs diff), per-position argmax,
the greedy tokens from a fresh cached decode, the same tokens from model.generate, and that a no-cache
forward over prompt + generated tokens picks the same tokens (cache vs. full recompute).
Exits non-zero on any mismatch; the last line is "verify: N passed, N failed".
"""

import json
import sys
from pathlib import Path

import torch
from transformers import AutoConfig, GenerationConfig

from generate import load_saved
from reference import GREEDY_TOKENS, run_prompt
from cases import CASES

FLOAT_TOLERANCE = 1e-4  # same library, same weights: differences are only reduction order


def max_abs_diff(a: list, b: list) -> float:
    return float((torch.tensor(a) - torch.tensor(b)).abs().max())


def check_prompt(model, want: dict) -> list:
    problems = []
    got, _ = run_prompt(model, want["name"], want["prompt_ids"])
    for key in ("last_logits", "hidden_after_layer0_last", "greedy_step_logits_max_abs"):
        diff = max_abs_diff(got[key], want[key])
        if diff > FLOAT_TOLERANCE:
            problems.append(f"{key}: max abs diff {diff:.3g} > {FLOAT_TOLERANCE}")
    for key in ("position_argmax", "greedy_tokens"):
        if got[key] != want[key]:
            problems.append(f"{key}: expected {want[key]}, found {got[key]}")

    ids = torch.tensor([want["prompt_ids"]])
    gen_cfg = GenerationConfig(do_sample=False, max_new_tokens=GREEDY_TOKENS, eos_token_id=None, pad_token_id=0)
    # Explicit all-ones mask: otherwise generate treats prompt tokens equal to pad_token_id as padding.
    generated = model.generate(ids, attention_mask=torch.ones_like(ids), generation_config=gen_cfg)
    generated = generated[0, ids.shape[1] :].tolist()
    if generated != want["greedy_tokens"]:
        problems.append(f"model.generate: expected {want['greedy_tokens']}, found {generated}")

    full = torch.tensor([want["prompt_ids"] + want["greedy_tokens"][:-1]])
    with torch.no_grad():
        recomputed = model(input_ids=full, use_cache=False).logits[0, ids.shape[1] - 1 :].argmax(-1).tolist()
    if recomputed != want["greedy_tokens"]:
        problems.append(f"no-cache recompute: expected {want['greedy_tokens']}, found {recomputed}")
    return problems


def check_hub_config(folder: Path) -> list:
    """The Hub-style config must parse to the same RoPE setup the native config would give."""
    cfg = AutoConfig.from_pretrained(folder)
    rope = cfg.rope_parameters
    problems = []
    if rope.get("rope_type") != "yarn" or rope.get("factor") != 4.0 or rope.get("rope_theta") != 10000.0:
        problems.append(f"hub config parsed to rope_parameters {rope}")
    if cfg.rope_interleave is not True:
        problems.append(f"hub config: rope_interleave should default to true, found {cfg.rope_interleave}")
    return problems


def main(golden_dir: Path) -> int:
    torch.set_num_threads(1)
    passed = failed = 0
    for case in CASES:
        folder = golden_dir / case.name
        expected = json.loads((folder / "expected.json").read_text())
        model = load_saved(case, folder)
        checks = [(f"{case.name}/{p['name']}", check_prompt(model, p)) for p in expected["cases"]]
        if case.bf16_sharded_hub:
            checks.append((f"{case.name}/hub_config", check_hub_config(folder)))
        for label, problems in checks:
            if problems:
                failed += 1
                print(f"FAIL {label}: " + "; ".join(problems))
            else:
                passed += 1
                print(f"ok   {label}")
    size = sum(f.stat().st_size for f in golden_dir.rglob("*") if f.is_file())
    print(f"golden folder size: {size / 1e6:.2f} MB")
    print(f"verify: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
