#!/usr/bin/env bash
# Text in, text out with a tiktoken tokenizer, as Moonshot's Moonlight and Kimi-K2 ship it
# (tiktoken.model + tokenization_kimi.py + tokenizer_config.json, no tokenizer.json): the `tiny`
# model's weights beside the first 510 ranks of Llama 3's real tiktoken vocabulary (llama.cpp's
# ggml-vocab-llama-bpe.gguf), Kimi's pre-tokenizer pattern and two control tokens (ids 510, 511).
# Against independent references — tiktoken for ids and text, jinja2 for the chat prompt — through
# pd-run, and through the service pair and pd-gateway (raw HTTP: /tokenize, /detokenize, a chat).
source "$(dirname "$0")/common.bash"
py=$("$root/scripts/python-env" venv tiktoken==0.14.0 gguf jinja2) || fail "no python venv"
src=$("$root/scripts/python-env" llama-cpp-src) || fail "no llama.cpp source"
"$bin/pd-run" --model tiny --prompt-ids 3 --max-new-tokens 1 --json >/dev/null || fail "pd-run could not write tiny"
tiny=$(ls -d "${LATENTSERVE_MODEL_CACHE:-$HOME/.cache/latentserve/models}"/tiny-v* | tail -1)
folder="$work/kimi-tiny"
mkdir -p "$folder"
cp "$tiny/config.json" "$tiny/model.safetensors" "$folder/"

cat >"$work/ref.py" <<'PY'
import base64, json, os, sys
import tiktoken
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.ext import loopcontrols
PARTS = [r"""[\p{Han}]+""",
         r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
         r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
         r"""\p{N}{1,3}""", r""" ?[^\s\p{L}\p{N}]+[\r\n]*""", r"""\s*[\r\n]+""", r"""\s+(?!\S)""", r"""\s+"""]
CONTROL = {"<|im_end|>": 510, "<|im_middle|>": 511}
folder, mode = sys.argv[1], sys.argv[2]

def ranks():
    out = {}
    for line in open(os.path.join(folder, "tiktoken.model"), "rb"):
        tok, rank = line.split()
        out[base64.b64decode(tok)] = int(rank)
    return out

if mode == "make":                        # the folder's tokenizer files
    import gguf
    def byte_decoder():
        bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
        cs, n = bs[:], 0
        for b in range(256):
            if b not in bs:
                bs.append(b); cs.append(256 + n); n += 1
        return {chr(c): b for b, c in zip(bs, cs)}
    dec = byte_decoder()
    tokens = gguf.GGUFReader(sys.argv[3]).fields["tokenizer.ggml.tokens"].contents()[:510]
    with open(os.path.join(folder, "tiktoken.model"), "w") as f:
        for i, t in enumerate(tokens):
            f.write(f"{base64.b64encode(bytes(dec[c] for c in t)).decode()} {i}\n")
    with open(os.path.join(folder, "tokenization_kimi.py"), "w") as f:
        f.write("class TikTokenTokenizer:\n    num_reserved_special_tokens = 0\n    pat_str = \"|\".join(\n        [\n"
                + "".join(f'            r"""{p}""",\n' for p in PARTS) + "        ]\n    )\n")
    json.dump({"added_tokens_decoder": {str(i): {"content": c, "special": True} for c, i in CONTROL.items()},
               "auto_map": {"AutoTokenizer": ["tokenization_kimi.TikTokenTokenizer", None]},
               "eos_token": "<|im_end|>", "bos_token": "<|im_end|>",
               "chat_template": "{% for m in messages %}{{ m['role'] }}<|im_middle|>{{ m['content'] }}<|im_end|>{% endfor %}"
                                "{% if add_generation_prompt %}assistant<|im_middle|>{% endif %}"},
              open(os.path.join(folder, "tokenizer_config.json"), "w"))
    json.dump({"eos_token_id": 510}, open(os.path.join(folder, "generation_config.json"), "w"))
    sys.exit()

enc = tiktoken.Encoding("kimi-tiny", pat_str="|".join(PARTS), mergeable_ranks=ranks(), special_tokens=CONTROL)
if mode == "encode":
    print(json.dumps(enc.encode(sys.argv[3], allowed_special="all")))
elif mode == "decode":                    # skip_special_tokens, as vLLM by default
    print(json.dumps(enc.decode([i for i in json.loads(sys.argv[3]) if i not in CONTROL.values()])))
elif mode == "chat":
    cfg = json.load(open(os.path.join(folder, "tokenizer_config.json")))
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    text = env.from_string(cfg["chat_template"]).render(messages=json.load(open(sys.argv[3])), add_generation_prompt=True)
    print(json.dumps({"text": text, "ids": enc.encode(text, allowed_special="all")}))
PY
ref() { "$py" "$work/ref.py" "$folder" "$@"; }
ref make "$src/models/ggml-vocab-llama-bpe.gguf" || fail "could not write the tiktoken folder"
[ ! -e "$folder/tokenizer.json" ] || fail "the folder must have no tokenizer.json"

checks=0
check_prompt_texts "$folder" tiktoken "The capital of France is" "  leading spaces and trailing  " \
  "你好，世界！ 🙂 I'M HERE, they'll see" $'tabs\tand\nnewlines\n\n' "x = [1, 22, 333]; ok<|im_end|>then"

cat >"$work/messages.json" <<'JSON'
[{"role": "system", "content": "You are terse."},
 {"role": "user", "content": "Say \"hi\" in Chinese: 你好?"},
 {"role": "assistant", "content": "你好"},
 {"role": "user", "content": "And twice 🙂"}]
JSON
check_chat_text "$folder" "tiktoken / jinja2" "$work/messages.json"

# The service pair behind pd-gateway, all on this folder: the gateway tokenizes with it.
export MODEL="$folder"
pp=$(free_port); dp=$(free_port); gp=$(free_port)
start_prefill "$pp" 2
start_decode "$dp" "$pp"
wait_healthy "$pp"; wait_healthy "$dp"
start_gateway "$gp" 127.0.0.1:"$dp"
wait_gateway "$gp"
http() { curl -sS --max-time 30 -H 'content-type: application/json' -d "$2" "http://127.0.0.1:$gp$1"; }
prompt="你好，世界！ They'RE here: 12345"
http /tokenize "$(python3 -c 'import json,sys; print(json.dumps({"model": sys.argv[1], "prompt": sys.argv[2], "add_special_tokens": False}))' "$folder" "$prompt")" >"$work/tok.json"
[ "$(json_field "$work/tok.json" "json.dumps(j['tokens'])")" = "$(ref encode "$prompt")" ] || fail "/tokenize differs from tiktoken: $(cat "$work/tok.json")"
ids=$(ref encode "$prompt")
http /detokenize "$(python3 -c 'import json,sys; print(json.dumps({"model": sys.argv[1], "tokens": json.loads(sys.argv[2])}))' "$folder" "$ids")" >"$work/detok.json"
[ "$(json_field "$work/detok.json" "json.dumps(j['prompt'])")" = "$(ref decode "$ids")" ] || fail "/detokenize differs from tiktoken: $(cat "$work/detok.json")"
http /v1/chat/completions "$(python3 -c 'import json,sys; print(json.dumps({"model": sys.argv[1], "messages": json.load(open(sys.argv[2])), "max_tokens": 8, "temperature": 0}))' "$folder" "$work/messages.json")" >"$work/gw-chat.json"
[ "$(json_field "$work/gw-chat.json" "json.dumps(j['choices'][0]['message']['content'])")" = "$(json_field "$work/chat.json" "json.dumps(j['text'])")" ] \
  || fail "gateway chat completion differs from pd-run's: $(cat "$work/gw-chat.json")"
[ "$(json_field "$work/gw-chat.json" "j['usage']['prompt_tokens'] == len(json.load(open('$work/chat-ref.json'))['ids'])")" = "True" ] \
  || fail "gateway chat prompt_tokens differ from tiktoken's count"
expect_pages_returned "$dp"
checks=$((checks + 5))
echo "ok: $checks text checks of a tiktoken folder against tiktoken / jinja2, through pd-run, the service pair and pd-gateway"
