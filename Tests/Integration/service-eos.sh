#!/usr/bin/env bash
# The model's EOS ends generation with finish reason eos (pd-run and the daemon pair alike) unless
# the request ignores EOS: a copy of tiny whose generation_config.json names, as EOS, a token that
# tiny's free-running greedy generation emits.
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
[ "$(json_field "$work/eos.json" "j['finish_reason']")" = "eos" ] || fail "pd-run: no eos: $(cat "$work/eos.json")"
[ "$(json_field "$work/eos.json" "j['tokens'] == $(json_field "$work/free.json" "j['tokens'][:$k + 1]")")" = "True" ] \
  || fail "pd-run: did not stop right after the EOS"
"$bin/pd-run" --model "$model" --prompt-ids "$ids" --max-new-tokens 12 --ignore-eos --json >"$work/ignored.json" || fail "ignore-eos run"
[ "$(json_field "$work/ignored.json" "j['finish_reason'] == 'length' and len(j['tokens']) == 12")" = "True" ] || fail "pd-run: --ignore-eos"

pp=$(free_port); dp=$(free_port)
MODEL="$model" start_prefill "$pp" 2
MODEL="$model" start_decode "$dp" "$pp"
wait_healthy "$pp"; wait_healthy "$dp"
client generate --decode 127.0.0.1:"$dp" --prompt-ids "$ids" --max-new-tokens 12 --verify --model "$model" --json >"$work/served.json" \
  || fail "served eos run: $(cat "$work/served.json")"
[ "$(json_field "$work/served.json" "j['result']['finish_reason'] == 'eos' and j['result']['tokens'] == $(json_field "$work/eos.json" "j['tokens']")")" = "True" ] \
  || fail "daemons: $(cat "$work/served.json")"
client generate --decode 127.0.0.1:"$dp" --prompt-ids "$ids" --max-new-tokens 12 --ignore-eos --verify --model "$model" --json >"$work/served-ignored.json" \
  || fail "served ignore-eos run"
[ "$(json_field "$work/served-ignored.json" "j['result']['finish_reason'] == 'length' and len(j['result']['tokens']) == 12")" = "True" ] \
  || fail "daemons: --ignore-eos: $(cat "$work/served-ignored.json")"
client stats --target 127.0.0.1:"$dp" >"$work/stats.json"
[ "$(json_field "$work/stats.json" "j['recent'][1]['finish_reason'] == 'eos' and j['free_kv_pages'] == j['total_kv_pages']")" = "True" ] \
  || fail "stats: $(cat "$work/stats.json")"
echo "ok: the model's EOS (generation_config.json) ends generation with reason eos in pd-run and the daemons; --ignore-eos runs to the length"
