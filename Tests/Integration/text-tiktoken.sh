#!/usr/bin/env bash
# Text in, text out with a tiktoken tokenizer, as Moonshot's Moonlight and Kimi-K2 ship it
# (tiktoken.model + tokenization_kimi.py + tokenizer_config.json, no tokenizer.json): the `tiny`
# model's weights beside the first 510 ranks of Llama 3's real tiktoken vocabulary (llama.cpp's
# ggml-vocab-llama-bpe.gguf), Kimi's pre-tokenizer pattern and two control tokens (ids 510, 511),
# written by scripts/tokenizer-fixtures.py's `write_tiktoken_folder`, as the XCTest fixture is.
# Against independent references — tiktoken for ids and text, jinja2 for the chat prompt — through
# pd-run, and through the service pair and pd-gateway (raw HTTP: /tokenize, /detokenize, a chat).
source "$(dirname "$0")/common.bash"
py=$("$root/scripts/python-env" venv tiktoken==0.14.0 tokenizers==0.23.3 gguf jinja2) || fail "no python venv"
src=$("$root/scripts/python-env" llama-cpp-src) || fail "no llama.cpp source"
"$bin/pd-run" --model tiny --prompt-ids 3 --max-new-tokens 1 --json >/dev/null || fail "pd-run could not write tiny"
tiny=$(ls -d "${LATENTSERVE_MODEL_CACHE:-$HOME/.cache/latentserve/models}"/tiny-v* | tail -1)
folder="$work/kimi-tiny"
mkdir -p "$folder"
cp "$tiny/config.json" "$tiny/model.safetensors" "$folder/"

cat >"$work/ref.py" <<'PY'
import base64, importlib.util, json, os, sys
import tiktoken
from chat_reference import render_chat
spec = importlib.util.spec_from_file_location("fixtures", os.environ["FIXTURES"])  # Kimi's pattern, the folder writer
fixtures = importlib.util.module_from_spec(spec); spec.loader.exec_module(fixtures)
CONTROL = {"<|im_end|>": 510, "<|im_middle|>": 511}
folder, mode = sys.argv[1], sys.argv[2]

if mode == "make":                        # the folder's tokenizer files: Llama 3's first 510 ranks
    ranks = dict(list(fixtures.llama3_ranks(sys.argv[3]).items())[:510])
    fixtures.write_tiktoken_folder(
        folder, ranks, 0, {i: c for c, i in CONTROL.items()}, "<|im_end|>", "<|im_end|>",
        "{% for m in messages %}{{ m['role'] }}<|im_middle|>{{ m['content'] }}<|im_end|>{% endfor %}"
        "{% if add_generation_prompt %}assistant<|im_middle|>{% endif %}", {"eos_token_id": 510})
    sys.exit()

ranks = {}
for line in open(os.path.join(folder, "tiktoken.model"), "rb"):
    tok, rank = line.split()
    ranks[base64.b64decode(tok)] = int(rank)
enc = tiktoken.Encoding("kimi-tiny", pat_str=fixtures.KIMI_PAT, mergeable_ranks=ranks, special_tokens=CONTROL)
if mode == "encode":
    print(json.dumps(enc.encode(sys.argv[3], allowed_special="all")))
elif mode == "decode":                    # skip_special_tokens, as vLLM by default
    print(json.dumps(enc.decode([i for i in json.loads(sys.argv[3]) if i not in CONTROL.values()])))
elif mode == "chat":
    cfg = json.load(open(os.path.join(folder, "tokenizer_config.json")))
    text = render_chat(cfg, json.load(open(sys.argv[3])))
    print(json.dumps({"text": text, "ids": enc.encode(text, allowed_special="all")}))
PY
ref() { FIXTURES="$root/scripts/tokenizer-fixtures.py" PYTHONPATH="$root/Tests/Integration" "$py" "$work/ref.py" "$folder" "$@"; }
ref make "$src" || fail "could not write the tiktoken folder"
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
