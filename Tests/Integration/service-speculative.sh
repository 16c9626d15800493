#!/usr/bin/env bash
# N-gram speculative decoding (pd-decode --speculative-config, vLLM's JSON): a decode daemon with it
# and one without, on the same prefill, serve the same greedy, seeded and structured (a GBNF grammar,
# JSON mode) requests (several at once) with the same tokens, log-probs and top log-probs; both equal
# pd-run's code path (--verify); the drafts are counted on /metrics and some are kept. A bad config
# stops pd-decode with one clear line.
source "$(dirname "$0")/common.bash"
pp=$(free_port); sp=$(free_port); dp=$(free_port); mp=$(free_port)

if "$bin/pd-decode" --model tiny --prefill 127.0.0.1:1 --speculative-config '{"method": "eagle", "num_speculative_tokens": 3}' \
    >"$work/bad.out" 2>&1; then
  fail "pd-decode started with a speculative method it does not have"
fi
grep -q -- "--speculative-config: method 'eagle' is not supported" "$work/bad.out" || fail "unclear error: $(cat "$work/bad.out")"
if "$bin/pd-decode" --model tiny --prefill 127.0.0.1:1 --speculative-config '{"method": "ngram"}' >"$work/bad.out" 2>&1; then
  fail "pd-decode started without num_speculative_tokens"
fi
grep -q -- "--speculative-config: 'num_speculative_tokens' is required" "$work/bad.out" || fail "unclear error: $(cat "$work/bad.out")"
echo "ok: bad speculative configs refused by name"

start_prefill "$pp" 2
start_decode "$sp" "$pp" --metrics-listen 127.0.0.1:"$mp" \
  --speculative-config '{"method": "ngram", "num_speculative_tokens": 4, "prompt_lookup_max": 3, "prompt_lookup_min": 1}'
start_decode "$dp" "$pp"
wait_healthy "$pp"; wait_healthy "$sp"; wait_healthy "$dp"

accepted() { metric_value "$mp" latentserve_decode_spec_decode_accepted_tokens_total; }
drafted() { metric_value "$mp" latentserve_decode_spec_decode_draft_tokens_total; }
# (--seed 0 is a seed, as vLLM's: --verify draws the reference from seed 0 too.)
# Each round: the same requests on both decodes (ARGS: pd-client's sampling options).
speculation_round() {
  local args="$*"
  before=$(accepted)
  for port in "$sp" "$dp"; do
    client generate --decode 127.0.0.1:"$port" --prompt-lengths 6,9,30 --max-new-tokens 48 --num-requests 6 \
      --concurrency 3 --top-logprobs 2 --verify --model tiny --json "$@" >"$work/run-$port.json" 2>"$work/run-$port.err" \
      || fail "requests ($args) on $port: $(cat "$work/run-$port.err")"
    [ "$(json_field "$work/run-$port.json" "j['verified']")" = "True" ] || fail "($args) on $port: tokens differ from pd-run's"
  done
  python3 - "$work/run-$sp.json" "$work/run-$dp.json" <<'PY' || fail "($args): speculative and plain decode differ"
import json, sys
fast, plain = (json.load(open(p))["results"] for p in sys.argv[1:])
assert len(fast) == len(plain) == 6
for i, (a, b) in enumerate(zip(fast, plain)):
    for key in ("tokens", "logprobs", "top_logprobs", "finish_reason"):
        assert a[key] == b[key], f"request {i}: {key} {a[key]} != {b[key]}"
PY
  echo "ok: ($args) 6 requests, 3 at a time: tokens, logprobs and top logprobs equal without speculation; drafts kept: $(( $(accepted) - before ))"
}
speculation_round --ignore-eos
speculation_round --ignore-eos --temperature 0.3 --top-k 20 --seed 5
speculation_round --ignore-eos --temperature 0.8 --top-p 0.9 --seed 17 --repetition-penalty 1.1
speculation_round --ignore-eos --temperature 1 --seed 0
# Structured outputs under drafts: the mask's state moves only with tokens kept. A GBNF grammar whose text
# repeats (drafts get kept), and JSON mode.
speculation_round --temperature 0.8 --seed 3 --grammar 'root ::= ("yes" | "no" | ", ")+ "."'
speculation_round --temperature 1 --seed 4 --json-object
[ "$(accepted)" -gt 0 ] || fail "no draft kept in any run (drafted $(drafted))"
[ "$(accepted)" -le "$(drafted)" ] || fail "more drafts kept than drafted"
grep -q "speculative decoding: ngram" "$work/decode-$sp.log" || fail "the decode log does not name its speculation"
expect_pages_returned "$sp"
echo "ok: $(accepted) of $(drafted) drafted tokens kept; pages all back"
