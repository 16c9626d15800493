"""Train the byte-level BPE tokenizer of a built-in model (tiny: 512 ids, bench: 32000 ids), deterministically.

Usage: python builtin_tokenizer.py VOCAB_SIZE OUT_DIR LLAMA_CPP_SRC
  LLAMA_CPP_SRC = `scripts/python-env llama-cpp-src` (the pinned llama-cpp-python sdist's llama.cpp tree).

The corpus is the pinned source tree's own text (every *.md, *.py, *.cpp, *.h file, sorted by path,
capped at 24 MiB): the same bytes on every machine, so the same merges. The tokenizer is shaped like
DeepSeek-V3's: DeepSeek's special tokens at the ids config.json names (BOS 0, EOS 1), a ByteLevel
pre-tokenizer/decoder, a post-processor that prepends BOS, and DeepSeek-V3.1's chat template from the
same tree. The built-in models' weights are random, so only the tokenizer's shape and size matter.
"""
import json
import os
import sys

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

vocab_size, out_dir, src = int(sys.argv[1]), sys.argv[2], sys.argv[3]

SPECIAL = [
    "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>",
    "<think>", "</think>", "<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>", "<｜tool▁call▁begin｜>",
    "<｜tool▁call▁end｜>", "<｜tool▁outputs▁begin｜>", "<｜tool▁outputs▁end｜>", "<｜tool▁output▁begin｜>",
    "<｜tool▁output▁end｜>", "<｜tool▁sep｜>",
]
BOS, EOS = SPECIAL[0], SPECIAL[1]


def corpus(limit=24 << 20):
    files = []
    for root, dirs, names in os.walk(src):
        dirs.sort()
        for n in sorted(names):
            if n.endswith((".md", ".py", ".cpp", ".h")):
                files.append(os.path.join(root, n))
    total = 0
    for path in sorted(files):
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", errors="replace")
        total += len(text)
        if total > limit:
            return
        yield text


tok = Tokenizer(models.BPE())
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
tok.decoder = decoders.ByteLevel()
trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL, show_progress=False,
                              initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), min_frequency=1)
tok.train_from_iterator(corpus(), trainer=trainer)
assert tok.get_vocab_size() == vocab_size, (tok.get_vocab_size(), vocab_size)
assert tok.token_to_id(BOS) == 0 and tok.token_to_id(EOS) == 1
tok.post_processor = processors.TemplateProcessing(single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B",
                                                   special_tokens=[(BOS, 0)])
os.makedirs(out_dir, exist_ok=True)
tok.save(os.path.join(out_dir, "tokenizer.json"))
with open(os.path.join(src, "models/templates/deepseek-ai-DeepSeek-V3.1.jinja")) as f:
    template = f.read()
config = {
    "tokenizer_class": "PreTrainedTokenizerFast", "add_bos_token": True, "add_eos_token": False,
    "bos_token": BOS, "eos_token": EOS, "pad_token": EOS, "model_max_length": 16384,
    "clean_up_tokenization_spaces": False, "legacy": True, "chat_template": template,
}
with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as f:
    json.dump(config, f, ensure_ascii=False, indent=2)
with open(os.path.join(out_dir, "generation_config.json"), "w") as f:
    json.dump({"bos_token_id": 0, "eos_token_id": 1}, f, indent=2)
print(out_dir, tok.get_vocab_size())
