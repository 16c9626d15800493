#!/usr/bin/env bash
# Text in, text out on the built-in `tiny` folder (real byte-level BPE + DeepSeek-V3.1's template),
# checked against independent references: HF `tokenizers` for ids and decoding, jinja2 set up as
# transformers' apply_chat_template for the chat prompt. pd-run --prompt / --messages, stop strings
# (text cut before the stop, finish reason stop), and the service pair via pd-client give the same.
source "$(dirname "$0")/common.bash"
py=$("$root/scripts/python-env" venv tokenizers jinja2) || fail "no python venv"
folder=$("$bin/pd-run" --model tiny --prompt-ids 3 --max-new-tokens 1 --json >/dev/null && ls -d "${LATENTSERVE_MODEL_CACHE:-$HOME/.cache/latentserve/models}"/tiny-v* | tail -1)
[ -f "$folder/tokenizer.json" ] || fail "no tokenizer in $folder"

cat >"$work/ref.py" <<'PY'
import json, sys
from tokenizers import Tokenizer
from chat_reference import render_chat
folder, mode = sys.argv[1], sys.argv[2]
tok = Tokenizer.from_file(folder + "/tokenizer.json")
if mode == "encode":                       # plain prompt: the post-processor adds BOS
    print(json.dumps(tok.encode(sys.argv[3]).ids))
elif mode == "decode":                     # skip_special_tokens, as vLLM by default
    print(json.dumps(tok.decode(json.loads(sys.argv[3]), skip_special_tokens=True)))
elif mode == "chat":                       # transformers' environment and context
    cfg = json.load(open(folder + "/tokenizer_config.json"))
    text = render_chat(cfg, json.load(open(sys.argv[3])))
    print(json.dumps({"text": text, "ids": tok.encode(text, add_special_tokens=False).ids}))
PY
ref() { PYTHONPATH="$root/Tests/Integration" "$py" "$work/ref.py" "$folder" "$@"; }

checks=0
check_prompt_texts tiny HF "The capital of France is" "  leading spaces and trailing  " "你好，世界！ 🙂👩‍👩‍👧 café" \
  $'tabs\tand\nnewlines\n\n' "x = [1, 22, 333]; print(x)"

# A chat: rendered text and ids equal transformers' apply_chat_template; the completion as text.
cat >"$work/messages.json" <<'JSON'
[{"role": "system", "content": "You are terse."},
 {"role": "user", "content": "Say \"hi\" in Chinese: 你好?"},
 {"role": "assistant", "content": "你好"},
 {"role": "user", "content": "And twice, with an emoji 🙂"}]
JSON
check_chat_text tiny HF "$work/messages.json"

# Stop strings: cut the greedy completion before a stop taken from its middle.
"$bin/pd-run" --model tiny --prompt "The capital of France is" --max-new-tokens 24 --ignore-eos --json >"$work/full.json"
full=$(json_field "$work/full.json" "json.dumps(j['text'])")
stop=$(json_field "$work/full.json" "j['text'][6:9]")
[ -n "$stop" ] || fail "completion too short to take a stop string from: $full"
"$bin/pd-run" --model tiny --prompt "The capital of France is" --max-new-tokens 24 --ignore-eos --stop "$stop" --json >"$work/stopped.json" \
  || fail "pd-run --stop failed"
want=$(python3 -c 'import json,sys; t=json.loads(sys.argv[1]); print(json.dumps(t[:t.find(sys.argv[2])]))' "$full" "$stop")
[ "$(json_field "$work/stopped.json" "json.dumps(j['text'])")" = "$want" ] || fail "stop '$stop': text $(json_field "$work/stopped.json" "j['text']") != $want"
[ "$(STOP="$stop" json_field "$work/stopped.json" "[j['finish_reason'], j['stop_reason']] == ['stop', __import__('os').environ['STOP']]")" = "True" ] \
  || fail "stop string did not give finish reason stop with stop_reason '$stop': $(cat "$work/stopped.json")"
[ "$(json_field "$work/stopped.json" "j['tokens'] == json.load(open('$work/full.json'))['tokens'][:len(j['tokens'])]")" = "True" ] \
  || fail "tokens before the stop differ from the full run"
checks=$((checks + 3))

# The service pair: the client tokenizes and decodes; same ids, tokens and text as pd-run.
pp=$(free_port); dp=$(free_port)
start_prefill "$pp" 2
start_decode "$dp" "$pp"
wait_healthy "$pp"; wait_healthy "$dp"
client generate --decode 127.0.0.1:"$dp" --model tiny --prompt "The capital of France is" --max-new-tokens 24 --ignore-eos --json >"$work/svc.json" \
  || fail "pd-client --prompt failed"
[ "$(json_field "$work/svc.json" "j['tokens'] == json.load(open('$work/full.json'))['tokens']")" = "True" ] || fail "service tokens differ from pd-run"
[ "$(json_field "$work/svc.json" "json.dumps(j['result']['text'])")" = "$full" ] || fail "service text differs from pd-run"
client generate --decode 127.0.0.1:"$dp" --model tiny --messages "$work/messages.json" --max-new-tokens 8 --json >"$work/svc-chat.json" \
  || fail "pd-client --messages failed"
[ "$(json_field "$work/svc-chat.json" "j['tokens'] == json.load(open('$work/chat.json'))['tokens']")" = "True" ] || fail "service chat tokens differ"
client generate --decode 127.0.0.1:"$dp" --model tiny --prompt "The capital of France is" --max-new-tokens 24 --ignore-eos --stop "$stop" --json \
  >"$work/svc-stop.json" || fail "pd-client --stop failed"
[ "$(json_field "$work/svc-stop.json" "json.dumps(j['result']['text'])")" = "$want" ] || fail "service stop text differs"
[ "$(STOP="$stop" json_field "$work/svc-stop.json" "[j['result']['finish_reason'], j['result']['stop_reason']] == ['stop', __import__('os').environ['STOP']]")" = "True" ] \
  || fail "service stop: finish reason stop with stop_reason '$stop': $(cat "$work/svc-stop.json")"
# A structured choice: pd-run and the service pair (the client builds the automaton, both daemons walk it)
# give the same tokens, and the text is one of the choices.
"$bin/pd-run" --model tiny --prompt "The capital of France is" --max-new-tokens 24 --choice "Paris" --choice "Lyon 🦁" --json   >"$work/choice.json" || fail "pd-run --choice failed"
client generate --decode 127.0.0.1:"$dp" --model tiny --prompt "The capital of France is" --max-new-tokens 24 --choice "Paris"   --choice "Lyon 🦁" --json >"$work/svc-choice.json" || fail "pd-client --choice failed"
[ "$(json_field "$work/svc-choice.json" "j['tokens'] == json.load(open('$work/choice.json'))['tokens'] and j['result']['text'] in ('Paris', 'Lyon 🦁') and j['result']['finish_reason'] == 'stop'")" = "True" ] \
  || fail "choice: service $(cat "$work/svc-choice.json") vs pd-run $(cat "$work/choice.json")"
# JSON mode, sampled: both daemons load the folder's vocabulary and mask with it; --verify replays the
# seed through pd-run's path (Generator) and must see the same tokens.
client generate --decode 127.0.0.1:"$dp" --model tiny --prompt "JSON please:" --max-new-tokens 32 --json-object --temperature 1 \
  --seed 9 --verify --json >"$work/svc-json.json" || fail "pd-client --json-object --verify failed: $(cat "$work/svc-json.json")"
[ "$(json_field "$work/svc-json.json" "j['verified'] and j['result']['text'].startswith('{')")" = "True" ] \
  || fail "json_object: $(cat "$work/svc-json.json")"
client generate --decode 127.0.0.1:"$dp" --model tiny --prompt "Describe a city:" --max-new-tokens 32 --temperature 1 --seed 4 --verify --json \
  --json-schema '{"type": "object", "properties": {"city": {"type": "string"}, "size": {"enum": ["small", "big"]}}, "required": ["size"]}' \
  >"$work/svc-schema.json" || fail "pd-client --json-schema --verify failed: $(cat "$work/svc-schema.json")"
[ "$(json_field "$work/svc-schema.json" "j['verified'] and j['result']['text'].startswith('{')")" = "True" ] \
  || fail "json_schema: $(cat "$work/svc-schema.json")"
# A regular expression, sampled, the same way; the text is one whole match by Python's re.
client generate --decode 127.0.0.1:"$dp" --model tiny --prompt "Answer:" --max-new-tokens 32 --temperature 1 --seed 5 --verify --json \
  --regex '(yes|no|maybe) [a-z]{2,5}(, [0-9]{1,3})?\.' >"$work/svc-regex.json" \
  || fail "pd-client --regex --verify failed: $(cat "$work/svc-regex.json")"
[ "$(json_field "$work/svc-regex.json" "j['verified'] and j['result']['finish_reason'] == 'stop' and __import__('re').fullmatch(r'(yes|no|maybe) [a-z]{2,5}(, [0-9]{1,3})?\.', j['result']['text']) is not None")" = "True" ] \
  || fail "regex: $(cat "$work/svc-regex.json")"
# A GBNF grammar (llama.cpp's format; words, each in brackets nested any depth) the same way; the text matches by Python's re, brackets balanced.
client generate --decode 127.0.0.1:"$dp" --model tiny --prompt "Answer:" --max-new-tokens 32 --temperature 1 --seed 6 --verify --json \
  --grammar $'root ::= ("yes" | "no") " " word ("," word){0,3} "."\nword ::= [a-z]{2,5} | "[" word "]"' >"$work/svc-grammar.json" \
  || fail "pd-client --grammar --verify failed: $(cat "$work/svc-grammar.json")"
[ "$(json_field "$work/svc-grammar.json" "j['verified'] and j['result']['finish_reason'] == 'stop' and __import__('re').fullmatch(r'(yes|no) (\[*)[a-z]{2,5}\]*(,\[*[a-z]{2,5}\]*){0,3}\.', j['result']['text']) is not None and j['result']['text'].count('[') == j['result']['text'].count(']')")" = "True" ] \
  || fail "grammar: $(cat "$work/svc-grammar.json")"
expect_pages_returned "$dp"
checks=$((checks + 13))
echo "ok: $checks text checks against HF tokenizers / jinja2 and between pd-run and the service pair"
