"""Rewrite a transformers-5 config.json (rope_parameters, dtype) into the Hub style of DeepSeek-V3 checkpoints
(rope_scaling with "type", top-level rope_theta, torch_dtype, plus the Hub's extra router keys)."""

import json
from pathlib import Path

# Keys transformers 5 writes that the DeepSeek-V3 Hub config.json does not have.
_DROP = {"rope_parameters", "dtype", "head_dim", "qk_head_dim", "rope_interleave", "output_router_logits", "pad_token_id"}


def rewrite_as_hub_config(folder: Path, torch_dtype: str) -> dict:
    path = folder / "config.json"
    native = json.loads(path.read_text())
    rope = dict(native["rope_parameters"])
    rope_theta = rope.pop("rope_theta")
    rope_type = rope.pop("rope_type")
    hub = {k: v for k, v in native.items() if k not in _DROP}
    if rope_type != "default":
        hub["rope_scaling"] = dict(sorted({**rope, "type": rope_type}.items()))
    else:
        hub["rope_scaling"] = None
    hub["rope_theta"] = rope_theta
    hub["torch_dtype"] = torch_dtype
    # Present in deepseek-ai/DeepSeek-V3's config.json; transformers ignores them.
    hub.update({"moe_layer_freq": 1, "scoring_func": "sigmoid", "topk_method": "noaux_tc", "ep_size": 1,
                "aux_loss_alpha": 0.001, "seq_aux": True})
    hub = dict(sorted(hub.items()))
    path.write_text(json.dumps(hub, indent=2) + "\n")
    return hub
