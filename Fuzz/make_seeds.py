#!/usr/bin/env python3
"""Seed corpora for the harnesses that take files or text (fuzz-wire writes its own with the
project's encoders). Real inputs where there are any: the built-in tiny model's tokenizer.json and
chat template, llama.cpp's collection of real chat templates and its GBNF grammars (and those of
StructuredOutputTests' llama.cpp golden); small valid files otherwise.

Usage: make_seeds.py ROOT OUT LLAMA_CPP_SRC [TOKENIZER_FIXTURES]
  OUT/<harness>/ gets the seeds; ROOT is the repository; TOKENIZER_FIXTURES is where
  scripts/tokenizer-fixtures.py left its real tokenizer.json files (TokenizerTests make them), whose
  components the tokenizer seeds take whole, with a vocabulary cut small so each load is quick.
"""
import json, os, struct, sys

root, out, llama = sys.argv[1:4]
fixtures = sys.argv[4] if len(sys.argv) > 4 else None
tokenizer_dir = os.path.join(root, "Sources/DeepSeekModel/BuiltinTokenizers/tiny")


def write(harness, name, data):
    os.makedirs(os.path.join(out, harness), exist_ok=True)
    with open(os.path.join(out, harness, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# fuzz-kv-assembler: shape byte, token count, then ops (flags 0 = every field right: layer, token_start,
# token_count, payload). Whole streams for each dtype and page size, and one that ends with PrefillDone.
for dtype in (0, 1):
    for page in (0, 1, 3):
        width, layers, tokens = 2, 2, 5
        shape = dtype | page << 1 | (width - 1) << 3 | (layers - 1) << 5
        ops = b""
        for layer in range(layers):
            start = 0
            for count in (2, 3):
                ops += bytes([0, layer, start, count]) + bytes(range(count * width * (4 if dtype == 0 else 2)))
                start += count
        write("fuzz-kv-assembler", f"stream-{dtype}-{page}", bytes([shape, tokens]) + ops + bytes([3]))

# fuzz-safetensors: small files as the writer lays them out (8-byte length, JSON header, packed data).
def safetensors(tensors, metadata=None):
    header, data = {}, b""
    for name, dtype, shape, width in tensors:
        size = width
        for d in shape:
            size *= d
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + size]}
        data += bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    if metadata:
        header["__metadata__"] = metadata
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    return struct.pack("<Q", len(blob)) + blob + data


write("fuzz-safetensors", "f32", safetensors([("model.embed_tokens.weight", "F32", [4, 3], 4), ("norm.weight", "F32", [3], 4)],
                                              {"format": "pt"}))
write("fuzz-safetensors", "bf16-f16", safetensors([("a", "BF16", [2, 2], 2), ("b", "F16", [5], 2), ("empty", "F32", [0, 4], 4)]))
write("fuzz-safetensors", "fp8", safetensors([("w", "F8_E4M3", [4, 4], 1), ("w_scale_inv", "F32", [1, 1], 4), ("i", "I64", [2], 8)]))

# fuzz-gateway-request: first byte 0 = /v1/completions, 1 = /v1/chat/completions.
completions = [
    {"model": "tiny", "prompt": "The capital of France is", "max_tokens": 8, "temperature": 0},
    {"model": "tiny", "prompt": ["a", "b c"], "max_tokens": 4, "stop": ["\n", "."], "stream": True,
     "stream_options": {"include_usage": True}},
    {"model": "tiny", "prompt": [3, 17, 42], "top_p": 0.9, "top_k": 40, "seed": 7, "stop_token_ids": [2], "ignore_eos": True},
    {"model": "tiny", "prompt": [[3, 4], [5]], "n": 1, "logprobs": False, "presence_penalty": 0, "logit_bias": {}},
    {"model": "tiny", "prompt": ["ab", "cd"], "n": 3, "best_of": 3, "echo": True, "logprobs": 2, "prompt_logprobs": 1,
     "presence_penalty": -0.5, "frequency_penalty": 1.5, "repetition_penalty": 1.2, "min_tokens": 2, "max_tokens": 4,
     "logit_bias": {"7": 100, "9": -3.5}, "seed": 11, "temperature": 0.7},
    {"model": "tiny", "prompt": "scored text", "echo": True, "logprobs": 1, "max_tokens": 0, "truncate_prompt_tokens": 3,
     "add_special_tokens": False},
    {"model": "tiny", "prompt": "x y z", "min_p": 0.1, "allowed_token_ids": [3, 4, 5], "bad_words": ["y", " z w"],
     "temperature": 0.9, "seed": 3},
    {"model": "tiny", "prompt": "Pick", "structured_outputs": {"choice": ["yes", "no", "maybe 🤔"]}, "n": 2},
    {"model": "tiny", "prompt": "JSON:", "response_format": {"type": "json_object"}, "temperature": 0.8, "seed": 4},
    {"model": "tiny", "prompt": "JSON:", "structured_outputs": {"json_object": True}, "max_tokens": 12},
    {"model": "tiny", "prompt": "JSON:", "response_format": {"type": "json_schema", "json_schema": {"name": "w", "schema": {
        "type": "object", "properties": {"city": {"type": "string"}, "t": {"type": ["integer", "null"]},
                                         "tags": {"type": "array", "items": {"enum": ["a", 1, None]}, "maxItems": 3},
                                         "sub": {"$ref": "#/$defs/sub"}},
        "required": ["city"], "$defs": {"sub": {"anyOf": [{"type": "object", "properties": {"x": {"$ref": "#/$defs/sub"}}}, {"type": "boolean"}]}}}}}},
    {"model": "tiny", "prompt": "JSON:", "guided_json": "{\"type\": \"array\", \"items\": {\"type\": \"number\"}, \"minItems\": 1}"},
    {"model": "tiny", "prompt": "JSON:", "guided_json": {"type": "object", "properties": {"code": {"type": "string", "pattern": "^[A-Z]{2}-\\d+$"},
                                                                              "name": {"type": "string", "minLength": 1, "maxLength": 4}},
                                                     "required": ["code"]}},
    {"model": "tiny", "prompt": "JSON:", "guided_json": {"type": "object", "properties": {
        "day": {"type": "string", "format": "date"}, "at": {"type": "string", "format": "date-time"}, "v6": {"type": "string", "format": "ipv6"},
        "mail": {"type": "string", "format": "email"}, "host": {"type": "string", "format": "hostname", "maxLength": 20},
        "slug": {"type": "string", "pattern": "^[a-z]+(-[a-z]+)*$", "maxLength": 8}, "word": {"type": "string", "pattern": "(ab)+", "minLength": 5},
        "rating": {"type": "integer", "minimum": 1, "maximum": 5}, "share": {"type": "number", "exclusiveMinimum": -3, "maximum": 1}},
        "required": ["day"]}},
    {"model": "tiny", "prompt": "JSON:", "response_format": {"type": "json_schema", "json_schema": {"name": "t", "schema": {
        "type": "object", "properties": {"pair": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string", "format": "uuid"}], "minItems": 2},
                                         "stock": {"type": "object", "additionalProperties": {"type": "integer", "exclusiveMinimum": 0}},
                                         "meta": {}, "n": {"type": ["integer", "number"]}}, "required": ["pair"]}}},
     "structured_outputs": {"disable_any_whitespace": True}},
    {"model": "tiny", "prompt": "Date:", "structured_outputs": {"regex": r"(19|20)\d\d-(0[1-9]|1[0-2])-[0-3]\d( ?[^\n]{0,8}|[äé😀-😂]+)"}},
    {"model": "tiny", "prompt": "Answer:", "guided_regex": r"^(?:yes|no)(?P<n>, [\x41-\x5a]{1,3}\u00e9*)?\.$", "temperature": 1, "seed": 2},
]
chats = [
    {"model": "tiny", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]},
    {"model": "tiny", "messages": [{"role": "user", "content": "Hi"}], "store": False, "metadata": {"k": "v"}, "service_tier": "auto",
     "prompt_cache_key": "c", "safety_identifier": "u", "reasoning_effort": "low", "verbosity": "low", "modalities": ["text"],
     "prediction": {"type": "content", "content": "Hello"}, "audio": None},
    {"model": "tiny", "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": "there"}]}],
     "max_completion_tokens": 4, "add_generation_prompt": False, "tools": [], "response_format": {"type": "text"}},
    {"model": "tiny", "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
                                   {"role": "user", "content": "Again"}], "temperature": 0.5, "stream": True},
    {"model": "tiny", "messages": [{"role": "user", "content": "Weather?"},
                                   {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function",
                                    "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
                                   {"role": "tool", "tool_call_id": "c1", "content": "sunny"}],
     "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
     "tool_choice": "none", "parallel_tool_calls": False, "logprobs": True, "top_logprobs": 5, "n": 2},
    {"model": "tiny", "messages": [{"role": "user", "content": "Count"}, {"role": "assistant", "content": "One, "}],
     "continue_final_message": True, "add_generation_prompt": False, "echo": True, "add_special_tokens": True},
    {"model": "tiny", "messages": [{"role": "user", "content": "Weather?"}],
     "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {
         "type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}, "required": ["city"]}}},
               {"type": "function", "function": {"name": "get_time"}}],
     "tool_choice": "required", "parallel_tool_calls": False},
    {"model": "tiny", "messages": [{"role": "user", "content": "Weather?"}],
     "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"enum": ["a", "b"]}}}}}],
     "tool_choice": {"type": "function", "function": {"name": "get_weather"}}},
]
for i, body in enumerate(completions):
    write("fuzz-gateway-request", f"completion-{i}", b"\x00" + json.dumps(body).encode())
for i, body in enumerate(chats):
    write("fuzz-gateway-request", f"chat-{i}", b"\x01" + json.dumps(body).encode())

# fuzz-tokenizer: 0 + a tokenizer.json (the tiny one cut to its first 64 ids and their merges),
# 1 + text, 2 + token ids (u16 LE).
with open(os.path.join(tokenizer_dir, "tokenizer.json")) as f:
    tok = json.load(f)
vocab = {t: i for t, i in tok["model"]["vocab"].items() if i < 64}
def merge_parts(m):
    return m.split(" ") if isinstance(m, str) else m
tok["model"]["vocab"] = vocab
tok["model"]["merges"] = [m for m in tok["model"]["merges"] if all(p in vocab for p in merge_parts(m))
                          and "".join(merge_parts(m)) in vocab][:32]
tok["added_tokens"] = tok["added_tokens"][:3]
write("fuzz-tokenizer", "load-small", b"\x00" + json.dumps(tok).encode())


def cut_small(tj, keep_below=160):
    """A real tokenizer.json with every component as it is (normalizers, pre-tokenizer regexes, decoders,
    post-processor, model flags) and a vocabulary cut small: ids below `keep_below`, the byte-fallback
    tokens, two added tokens of each lstrip / rstrip / single_word / normalized / special combination plus
    those the post-processor names, and the merges among what is kept."""
    tj = json.loads(json.dumps(tj))
    post_ids = set()
    def collect(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("sep", "cls") and isinstance(v, list) and len(v) == 2:
                    post_ids.add(v[1])
                elif k == "ids" and isinstance(v, list):
                    post_ids.update(v)
                else:
                    collect(v)
        elif isinstance(node, list):
            for v in node:
                collect(v)
    collect(tj.get("post_processor"))
    by_flags, added = {}, []
    for a in tj["added_tokens"]:
        flags = tuple(a.get(k) for k in ("lstrip", "rstrip", "single_word", "normalized", "special"))
        if a["id"] in post_ids or by_flags.get(flags, 0) < 2:
            by_flags[flags] = by_flags.get(flags, 0) + 1
            added.append(a)
    tj["added_tokens"] = added
    added_ids = {a["id"] for a in added}
    model = tj["model"]
    model["vocab"] = {t: i for t, i in model["vocab"].items()
                      if i < keep_below or i in added_ids or (t.startswith("<0x") and len(t) == 6)}
    parts = lambda m: m.split(" ", 1) if isinstance(m, str) else m
    model["merges"] = [m for m in model["merges"]
                       if all(x in model["vocab"] for x in parts(m)) and "".join(parts(m)) in model["vocab"]][:64]
    return tj


if fixtures and os.path.isdir(fixtures):
    for variant in sorted(os.listdir(fixtures)):
        path = os.path.join(fixtures, variant, "tokenizer.json")
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                small = cut_small(json.load(f))
            write("fuzz-tokenizer", f"load-{variant}",
                  b"\x00" + json.dumps(small, ensure_ascii=False, separators=(",", ":")).encode())
        # A tiktoken folder (3 + tiktoken.model NUL module NUL tokenizer_config.json): its first 320 ranks
        # (the 256 bytes and Llama 3's first merges), its module, control names on the 8 control ids.
        vocab = os.path.join(fixtures, variant, "tiktoken.model")
        if os.path.isfile(vocab):
            with open(vocab, "rb") as f:
                lines = b"".join(f.readlines()[:320])
            with open(os.path.join(fixtures, variant, "tokenization_kimi.py"), "rb") as f:
                module = f.read().replace(b"num_reserved_special_tokens = 256", b"num_reserved_special_tokens = 6")
            config = {"added_tokens_decoder": {"320": {"content": "[BOS]"}, "322": {"content": "<|im_end|>", "lstrip": True}}}
            write("fuzz-tokenizer", f"tiktoken-{variant}", b"\x03" + lines + b"\x00" + module + b"\x00" + json.dumps(config).encode())
else:
    print(f"make_seeds: no tokenizer fixtures at {fixtures} (run TokenizerTests once to make them): "
          "fuzz-tokenizer starts from the tiny model's tokenizer only", file=sys.stderr)
for i, text in enumerate(["The capital of France is", "Héllo, wörld! 123 4567 \n\t  spaces", "<｜begin▁of▁sentence｜>hi",
                          "def f(x):\n    return x * 2\n", "日本語のテキスト 😀"]):
    write("fuzz-tokenizer", f"text-{i}", b"\x01" + text.encode())
write("fuzz-tokenizer", "ids", b"\x02" + b"".join(struct.pack("<H", i) for i in (0, 1, 3, 17, 42, 200, 511, 400, 7)))

# fuzz-chat-template: the tiny model's template and llama.cpp's collection of real templates.
with open(os.path.join(tokenizer_dir, "tokenizer_config.json")) as f:
    write("fuzz-chat-template", "tiny", json.load(f)["chat_template"])
templates = os.path.join(llama, "models", "templates")
for name in sorted(os.listdir(templates)):
    if name.endswith(".jinja"):
        with open(os.path.join(templates, name), "rb") as f:
            write("fuzz-chat-template", name, f.read())

# fuzz-grammar: llama.cpp's grammars/*.gbnf, then every grammar of the golden scripts/gbnf-golden made
# from llama.cpp's tests, each with a NUL and one of its cases as the bytes to walk.
grammars = os.path.join(llama, "grammars")
for name in sorted(os.listdir(grammars)):
    if name.endswith(".gbnf"):
        with open(os.path.join(grammars, name), "rb") as f:
            write("fuzz-grammar", name, f.read())
with open(os.path.join(root, "Tests/StructuredOutputTests/Golden/gbnf-llamacpp.json")) as f:
    for i, g in enumerate(json.load(f)["grammars"]):
        walk = g["cases"][0]["text"] if g["cases"] else ""
        write("fuzz-grammar", f"golden-{i}", g["text"].encode() + b"\0" + walk.encode())
