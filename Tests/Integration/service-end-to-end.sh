#!/usr/bin/env bash
# Decode + 2-rank prefill + 8 concurrent requests of mixed lengths: every token sequence equals
# the reference greedy generation (pd-run's code path) for the same prompt; stats show the pages back.
source "$(dirname "$0")/common.bash"
pp=$(free_port); dp=$(free_port)
start_prefill "$pp" 2
start_decode "$dp" "$pp"
wait_healthy "$pp"; wait_healthy "$dp"
# --ignore-eos: the token counts below rely on the length (the reference ignores EOS too).
client generate --decode 127.0.0.1:"$dp" --prompt-lengths 1,3,4,5,17,40,97,160 --num-requests 8 --concurrency 8 \
  --max-new-tokens 12 --ignore-eos --verify --model tiny --json >"$work/out.json" || fail "generate/verify failed"
[ "$(json_field "$work/out.json" "j['verified']")" = "True" ] || fail "not verified"
[ "$(json_field "$work/out.json" "len(j['results'])")" = "8" ] || fail "expected 8 results"
[ "$(json_field "$work/out.json" "all(len(r['tokens']) == 12 for r in j['results'])")" = "True" ] || fail "token counts"
[ "$(json_field "$work/out.json" "all(r['kv_bytes'] > 0 for r in j['results'])")" = "True" ] || fail "kv bytes missing"
# Stop ids: the sequence ends at the first one the model emits (finish reason stop), as the
# reference generation with the same stop ids does.
stop=$(json_field "$work/out.json" "j['results'][7]['tokens'][5]")
client generate --decode 127.0.0.1:"$dp" --prompt-lengths 1,3,4,5,17,40,97,160 --num-requests 8 --concurrency 8 \
  --max-new-tokens 12 --ignore-eos --stop-token-ids "$stop" --verify --model tiny --json >"$work/stop.json" || fail "stop-id generate/verify failed"
[ "$(json_field "$work/stop.json" "j['results'][7]['finish_reason']")" = "stop" ] || fail "no stop: $(cat "$work/stop.json")"
[ "$(json_field "$work/stop.json" "j['results'][7]['tokens'][-1] == $stop and len(j['results'][7]['tokens']) <= 6")" = "True" ] \
  || fail "stop id not honoured: $(cat "$work/stop.json")"
# Seeded sampling: the prefill daemon draws the first token, decode continues the same stream, so
# the tokens equal one process's seeded generation (and a concurrent batch does not change them).
client generate --decode 127.0.0.1:"$dp" --prompt-lengths 1,5,40,160 --num-requests 8 --concurrency 8 --max-new-tokens 16 \
  --temperature 0.9 --top-k 40 --top-p 0.9 --seed 11 --verify --model tiny --json >"$work/seeded.json" || fail "seeded generate/verify failed"
[ "$(json_field "$work/seeded.json" "j['verified']")" = "True" ] || fail "seeded sampling not verified"
# The logits processors: the prefill daemon applies them to the first token (repetition over the
# prompt, min_tokens), decode to the rest, counting the first token: greedy and seeded, as one process.
for mode in "" "--temperature 0.8 --seed 5"; do
  # shellcheck disable=SC2086
  client generate --decode 127.0.0.1:"$dp" --prompt-lengths 1,5,40,160 --num-requests 4 --concurrency 4 --max-new-tokens 16 $mode \
    --repetition-penalty 1.4 --presence-penalty 0.5 --frequency-penalty 0.3 --min-tokens 5 --logit-bias 1:3,7:-2 \
    --verify --model tiny --json >"$work/processors.json" || fail "processors ($mode) generate/verify failed: $(cat "$work/processors.json")"
  [ "$(json_field "$work/processors.json" "j['verified'] and all(len(r['tokens']) >= 5 for r in j['results'])")" = "True" ] \
    || fail "processors ($mode) not verified: $(cat "$work/processors.json")"
done
# Logprobs through the daemon pair (the 2-rank prefill computes the prompt's and the first token's,
# decode the rest) equal pd-run's in one process: values within 1e-4 relative, the same top tokens.
ids="9,400,33,7,250,18,5,77,301,44,12,6,2,93,180,27,61,8,444,3"
client generate --decode 127.0.0.1:"$dp" --prompt-ids "$ids" --max-new-tokens 8 --ignore-eos --top-logprobs 3 --prompt-logprobs 2 \
  --json >"$work/lp-service.json" || fail "logprobs generate failed"
"$bin/pd-run" --model tiny --prompt-ids "$ids" --max-new-tokens 8 --ignore-eos --top-logprobs 3 --prompt-logprobs 2 --json \
  >"$work/lp-run.json" || fail "pd-run logprobs failed"
python3 - "$work/lp-service.json" "$work/lp-run.json" <<'PY' || fail "service logprobs differ from pd-run's"
import json, sys
service, run = json.load(open(sys.argv[1]))["result"], json.load(open(sys.argv[2]))
close = lambda a, b: abs(a - b) <= 1e-4 * max(1.0, abs(b))
assert service["tokens"] == run["tokens"], (service["tokens"], run["tokens"])
assert all(close(a, b) for a, b in zip(service["logprobs"], run["logprobs"])) and len(service["logprobs"]) == 8, service["logprobs"]
for got, want in zip(service["top_logprobs"], run["top_logprobs"]):
    assert [t["token_id"] for t in got] == [t["token_id"] for t in want] and all(close(a["logprob"], b["logprob"]) for a, b in zip(got, want)), (got, want)
assert len(service["prompt_logprobs"]) == len(run["prompt_logprobs"]) == 19
for got, want in zip(service["prompt_logprobs"], run["prompt_logprobs"]):
    assert close(got["logprob"], want["logprob"]) and got["rank"] == want["rank"] and \
        [t["token_id"] for t in got["top_logprobs"]] == [t["token_id"] for t in want["top_logprobs"]], (got, want)
PY
# bf16 on the wire: the same greedy tokens on this model, checked two ways: against the f32
# reference generation (--verify, pd-run's code path) and against the f32-wire daemon's own run of
# the same prompts.
dp2=$(free_port)
start_decode "$dp2" "$pp" --wire-dtype bf16
wait_healthy "$dp2"
client generate --decode 127.0.0.1:"$dp2" --prompt-lengths 7,33 --num-requests 2 --concurrency 2 --max-new-tokens 4 \
  --verify --model tiny --json >"$work/bf16.json" || fail "bf16 generate/verify failed: $(cat "$work/bf16.json")"
[ "$(json_field "$work/bf16.json" "j['verified']")" = "True" ] || fail "bf16 wire: tokens differ from the f32 reference"
client generate --decode 127.0.0.1:"$dp" --prompt-lengths 7,33 --num-requests 2 --concurrency 2 --max-new-tokens 4 \
  --json >"$work/f32.json" || fail "f32 generate failed"
tokens_of='[r["tokens"] for r in j["results"]]'
bf16_tokens=$(json_field "$work/bf16.json" "$tokens_of")
f32_tokens=$(json_field "$work/f32.json" "$tokens_of")
[ "$bf16_tokens" = "$f32_tokens" ] && [ "$(json_field "$work/f32.json" "len(j['results']) == 2 and all(len(r['tokens']) == 4 for r in j['results'])")" = "True" ] \
  || fail "bf16 wire tokens $bf16_tokens differ from the f32 wire's $f32_tokens"
# Both decode daemons: no request left, every page back.
expect_pages_returned "$dp" "f32-wire decode daemon"
expect_pages_returned "$dp2" "bf16-wire decode daemon"
echo "ok: 8 concurrent mixed-length requests verified (greedy, with a stop id, seeded sampling, with logits processors; logprobs, top and prompt logprobs as pd-run's); bf16 wire equals the f32 reference and the f32 wire; all pages returned on both daemons"
