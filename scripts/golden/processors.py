"""Golden data for the logits processors and top logprobs: transformers' `generate` (greedy, float32) on
one committed golden folder with repetition_penalty, sequence_bias (OpenAI's logit_bias), min_new_tokens
(vLLM's min_tokens) and a processor for vLLM's presence / frequency penalties, which transformers lacks
(written from vLLM's `apply_penalties`: logits -= frequency * count; logits -= presence * (count > 0),
over the generated tokens only). Per step it records the token and the 5 most likely tokens with their
log-probabilities under the raw logits (`output_logits`, before any processor: vLLM's default logprobs).

Also vLLM's prompt_logprobs of each of the folder's prompts: a full-prompt forward, log_softmax at every
position, the log-probability and rank (1 + the tokens strictly more likely) of the prompt's next token, and
the 5 most likely tokens.

Usage: python processors.py GOLDEN_DIR      (writes GOLDEN_DIR/v3_qlora_yarn_moe/processors.json)
Greedy choices must beat the runner-up of the processed scores by MIN_MARGIN; the script fails otherwise.
"""

import json
import sys
from pathlib import Path

import torch
from transformers import GenerationConfig, LogitsProcessor, LogitsProcessorList

from cases import CASES
from generate import load_saved
from reference import f32_list

FOLDER = "v3_qlora_yarn_moe"
TOP = 5
MIN_MARGIN = 1e-3
NEW_TOKENS = 12


class PresenceFrequencyPenalty(LogitsProcessor):
    """vLLM's presence and frequency penalties over the tokens generated after `prompt_length`."""

    def __init__(self, prompt_length: int, presence: float, frequency: float):
        self.prompt_length, self.presence, self.frequency = prompt_length, presence, frequency

    def __call__(self, input_ids, scores):
        counts = torch.zeros_like(scores)
        generated = input_ids[:, self.prompt_length:]
        counts.scatter_add_(1, generated, torch.ones_like(generated, dtype=scores.dtype))
        scores = scores - self.frequency * counts
        return scores - self.presence * (counts > 0).to(scores.dtype)


# name, prompt length (a prompt of the folder's cases), sampling fields as our SamplingParams spells them
RUNS = [
    ("repetition", 33, {"repetition_penalty": 1.6}),
    ("presence_frequency", 7, {"presence_penalty": 0.9, "frequency_penalty": 0.7}),
    # EOS (id 1) pushed to the top by its bias, held off by min_tokens: it comes at step min_tokens.
    ("min_tokens_bias", 7, {"logit_bias": {"1": 30.0, "5": -3.0}, "min_tokens": 6}),
    ("all", 1, {"repetition_penalty": 1.3, "presence_penalty": 0.5, "frequency_penalty": -0.4,
                "logit_bias": {"17": 1.5}, "min_tokens": 3}),
]


@torch.no_grad()
def run(model, eos: int, prompt: list, fields: dict) -> dict:
    ids = torch.tensor([prompt])
    config = GenerationConfig(do_sample=False, max_new_tokens=NEW_TOKENS, eos_token_id=eos, pad_token_id=0,
                              repetition_penalty=fields.get("repetition_penalty", 1.0),
                              min_new_tokens=fields.get("min_tokens", 0),
                              sequence_bias={(int(k),): v for k, v in fields.get("logit_bias", {}).items()} or None,
                              output_logits=True, output_scores=True, return_dict_in_generate=True)
    extra = LogitsProcessorList()
    if fields.get("presence_penalty", 0) or fields.get("frequency_penalty", 0):
        extra.append(PresenceFrequencyPenalty(len(prompt), fields.get("presence_penalty", 0.0), fields.get("frequency_penalty", 0.0)))
    out = model.generate(ids, generation_config=config, logits_processor=extra)
    tokens = out.sequences[0, len(prompt):].tolist()
    steps, margin = [], float("inf")
    for token, raw, processed in zip(tokens, out.logits, out.scores):
        logprobs = torch.log_softmax(raw[0].to(torch.float32), dim=-1)
        top = logprobs.topk(TOP)
        best2 = processed[0].topk(2).values
        margin = min(margin, float(best2[0] - best2[1]))
        steps.append({"token": token, "logprob": f32_list(logprobs[token])[0],
                      "top_ids": top.indices.tolist(), "top_logprobs": f32_list(top.values)})
    return {"tokens": tokens, "steps": steps, "min_margin": margin}


@torch.no_grad()
def prompt_logprobs(model, prompt: list) -> dict:
    logprobs = torch.log_softmax(model(input_ids=torch.tensor([prompt]), use_cache=False).logits[0].to(torch.float32), dim=-1)
    out = {"prompt_ids": prompt, "logprobs": [], "ranks": [], "top_ids": [], "top_logprobs": []}
    for p in range(len(prompt) - 1):
        row, target = logprobs[p], prompt[p + 1]
        top = row.topk(TOP)
        out["logprobs"].append(f32_list(row[target])[0])
        out["ranks"].append(int((row > row[target]).sum()) + 1)
        out["top_ids"].append(top.indices.tolist())
        out["top_logprobs"].append(f32_list(top.values))
    return out


def main(argv: list) -> None:
    golden = Path(argv[1])
    folder = golden / FOLDER
    case = next(c for c in CASES if c.name == FOLDER)
    expected = json.loads((folder / "expected.json").read_text())
    prompts = {len(c["prompt_ids"]): c["prompt_ids"] for c in expected["cases"]}
    eos = json.loads((folder / "config.json").read_text())["eos_token_id"]
    model = load_saved(case, folder)
    runs = []
    for name, length, fields in RUNS:
        result = run(model, eos, prompts[length], fields)
        if result["min_margin"] < MIN_MARGIN:
            sys.exit(f"processors: {name}: greedy margin {result['min_margin']:.3g} < {MIN_MARGIN}")
        print(f"processors: {name}: {len(result['tokens'])} tokens, min margin {result['min_margin']:.3g}")
        runs.append({"name": name, "prompt_ids": prompts[length], "max_new_tokens": NEW_TOKENS, "eos_token_id": eos,
                     "sampling": fields, **result})
    import transformers
    doc = {"transformers_version": transformers.__version__, "torch_version": torch.__version__, "top": TOP, "runs": runs,
           "prompt_logprobs": [prompt_logprobs(model, c["prompt_ids"]) for c in expected["cases"]]}
    (folder / "processors.json").write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv)
