#!/usr/bin/env bash
# The model's EOS ends generation with finish reason stop and no stop_reason (vLLM's contract; pd-run
# and the daemon pair alike) unless the request ignores EOS; the same token given as a stop token id
# with --ignore-eos ends it with finish reason stop and stop_reason that id. The model: a copy of tiny
# whose generation_config.json names, as EOS, a token that tiny's free-running greedy generation emits.
source "$(dirname "$0")/common.bash"
export LATENTSERVE_MODEL_CACHE="$work/models"
ids=3,17,42,99,7
"$bin/pd-run" --model tiny --prompt-ids "$ids" --max-new-tokens 12 --ignore-eos --json >"$work/free.json" || fail "free run"
# The EOS: the first token (from index 2 on) not seen before it; generation must end right after it.
k=$(json_field "$work/free.json" "next(i for i, t in enumerate(j['tokens']) if i >= 2 and t not in j['tokens'][:i])")
eos=$(json_field "$work/free.json" "j['tokens'][$k]")
model="$work/tiny-eos"
mkdir -p "$model"
tiny=$(ls -d "$work"/models/tiny-v* | tail -1)
ln -s "$tiny/config.json" "$tiny/model.safetensors" "$model/"
echo "{\"eos_token_id\": [511, $eos]}" >"$model/generation_config.json"

"$bin/pd-run" --model "$model" --prompt-ids "$ids" --max-new-tokens 12 --json >"$work/eos.json" || fail "eos run"
[ "$(json_field "$work/eos.json" "j['finish_reason'] == 'stop' and 'stop_reason' not in j")" = "True" ] || fail "pd-run: EOS is not stop without stop_reason: $(cat "$work/eos.json")"
[ "$(json_field "$work/eos.json" "j['tokens'] == $(json_field "$work/free.json" "j['tokens'][:$k + 1]")")" = "True" ] \
  || fail "pd-run: did not stop right after the EOS"
"$bin/pd-run" --model "$model" --prompt-ids "$ids" --max-new-tokens 12 --ignore-eos --json >"$work/ignored.json" || fail "ignore-eos run"
[ "$(json_field "$work/ignored.json" "j['finish_reason'] == 'length' and len(j['tokens']) == 12")" = "True" ] || fail "pd-run: --ignore-eos"
"$bin/pd-run" --model "$model" --prompt-ids "$ids" --max-new-tokens 12 --ignore-eos --stop-ids "$eos" --json >"$work/stop-id.json" || fail "stop-id run"
[ "$(json_field "$work/stop-id.json" "j['finish_reason'] == 'stop' and j['stop_reason'] == $eos and j['tokens'] == json.load(open('$work/eos.json'))['tokens']")" = "True" ] \
  || fail "pd-run: stop id $eos: $(cat "$work/stop-id.json")"

pp=$(free_port); dp=$(free_port); mp=$(free_port)
MODEL="$model" start_prefill "$pp" 2
MODEL="$model" start_decode "$dp" "$pp" --metrics-listen 127.0.0.1:"$mp"
wait_healthy "$pp"; wait_healthy "$dp"
client generate --decode 127.0.0.1:"$dp" --prompt-ids "$ids" --max-new-tokens 12 --verify --model "$model" --json >"$work/served.json" \
  || fail "served eos run: $(cat "$work/served.json")"
[ "$(json_field "$work/served.json" "j['result']['finish_reason'] == 'stop' and 'stop_reason' not in j['result'] and j['result']['tokens'] == $(json_field "$work/eos.json" "j['tokens']")")" = "True" ] \
  || fail "daemons: $(cat "$work/served.json")"
client generate --decode 127.0.0.1:"$dp" --prompt-ids "$ids" --max-new-tokens 12 --ignore-eos --verify --model "$model" --json >"$work/served-ignored.json" \
  || fail "served ignore-eos run"
[ "$(json_field "$work/served-ignored.json" "j['result']['finish_reason'] == 'length' and len(j['result']['tokens']) == 12")" = "True" ] \
  || fail "daemons: --ignore-eos: $(cat "$work/served-ignored.json")"
client generate --decode 127.0.0.1:"$dp" --prompt-ids "$ids" --max-new-tokens 12 --ignore-eos --stop-token-ids "$eos" --verify --model "$model" --json \
  >"$work/served-stop-id.json" || fail "served stop-id run"
[ "$(json_field "$work/served-stop-id.json" "j['result']['finish_reason'] == 'stop' and j['result']['stop_reason'] == $eos and j['result']['tokens'] == json.load(open('$work/eos.json'))['tokens']")" = "True" ] \
  || fail "daemons: stop id $eos: $(cat "$work/served-stop-id.json")"
client stats --target 127.0.0.1:"$dp" >"$work/stats.json"
# Newest first: the stop-id request, the --ignore-eos one, the EOS one.
[ "$(json_field "$work/stats.json" "[(r['finish_reason'], r.get('stop_reason')) for r in j['recent'][:3]] == [('stop', $eos), ('length', None), ('stop', None)] and j['free_kv_pages'] == j['total_kv_pages']")" = "True" ] \
  || fail "stats: $(cat "$work/stats.json")"
# /metrics counts requests by finish reason: the EOS and the stop-id request under stop, none under eos.
python3 - "$mp" <<'PY' || fail "decode /metrics by finish reason"
import re, sys, urllib.request
text = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=10).read().decode()
counts = {m[1]: float(m[2]) for m in re.finditer(r'^latentserve_decode_requests_total\{finish_reason="(\w+)"\} (\S+)$', text, re.M)}
assert counts == {"stop": 2, "length": 1}, counts
PY
echo "ok: the model's EOS (generation_config.json) ends generation with finish reason stop and no stop_reason in pd-run and the daemons; as a stop id under --ignore-eos, stop with stop_reason $eos; --ignore-eos alone runs to the length"
