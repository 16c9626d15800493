"""Reference outputs for one prompt: full-prompt logits, per-position argmax, layer-0 hidden state and a
16-token greedy continuation through the HF KV cache, plus the top-1/top-2 margins seen on the way."""

import numpy as np
import torch
from transformers import DynamicCache

from routing_margins import RoutingMarginRecorder

GREEDY_TOKENS = 16


def f32_list(tensor: torch.Tensor) -> list:
    """Floats as the shortest decimal strings that round-trip to the same float32 (full f32 precision)."""
    flat = tensor.detach().to(torch.float32).reshape(-1).numpy()
    return [float(np.format_float_positional(v, unique=True, trim="-")) for v in flat]


def top1_margin(logits: torch.Tensor) -> torch.Tensor:
    """[..., vocab] -> [...]: top-1 minus top-2 logit."""
    top = logits.topk(2, dim=-1).values
    return top[..., 0] - top[..., 1]


@torch.no_grad()
def run_prompt(model, name: str, prompt_ids: list) -> tuple[dict, dict]:
    """Returns (expected.json entry, margins) for one prompt."""
    ids = torch.tensor([prompt_ids], dtype=torch.long)
    layer0_out = {}
    hook = model.model.layers[0].register_forward_hook(
        lambda mod, args, out: layer0_out.__setitem__("h", out[0] if isinstance(out, tuple) else out)
    )
    with RoutingMarginRecorder(model) as routing:
        try:
            full = model(input_ids=ids, use_cache=False).logits[0]  # [n, vocab]
        finally:
            hook.remove()
        hidden0 = layer0_out["h"].reshape(len(prompt_ids), -1)[-1]  # [hidden]

        # Greedy decode through the HF cache: prefill once, then one token per step.
        cache = DynamicCache(config=model.config)
        step_logits = model(input_ids=ids, cache=cache, use_cache=True).logits[0, -1]
        greedy, step_max_abs, step_margins = [], [], []
        for step in range(GREEDY_TOKENS):
            token = int(step_logits.argmax())
            greedy.append(token)
            step_max_abs.append(step_logits.abs().max())
            step_margins.append(top1_margin(step_logits))
            if step + 1 < GREEDY_TOKENS:
                step_in = torch.tensor([[token]], dtype=torch.long)
                step_logits = model(input_ids=step_in, cache=cache, use_cache=True).logits[0, -1]

    entry = {
        "name": name,
        "prompt_ids": list(prompt_ids),
        "last_logits": f32_list(full[-1]),
        "position_argmax": [int(i) for i in full.argmax(dim=-1)],
        "greedy_tokens": greedy,
        "greedy_step_logits_max_abs": f32_list(torch.stack(step_max_abs)),
        "hidden_after_layer0_last": f32_list(hidden0),
    }
    margins = {
        "min_position_top1_margin": float(top1_margin(full).min()),
        "min_greedy_top1_margin": float(torch.stack(step_margins).min()),
        "min_routing_gap": routing.min_gap,
    }
    return entry, margins
