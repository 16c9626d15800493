#!/usr/bin/env bash
# A request whose deadline passes while its prefill runs stops costing prefill compute within one
# layer on every rank (an outside probe saw such requests run their whole prefill, delaying the
# next request's TTFT by the full prefill time). Model `bench` (4 layers): a 3000-token prompt.
# Timing tolerated: the follow-up request's TTFT must be below 60 % of an uncancelled 3000-token
# prefill measured in the same run (one layer of four plus load; the old behaviour gives ≥ 100 %).
source "$(dirname "$0")/common.bash"
MODEL=bench
pp=$(free_port); dp=$(free_port)
start_prefill "$pp" 2 --no-enable-prefix-caching   # every prompt computes whole: the timing relies on it
start_decode "$dp" "$pp" --kv-pages 2048
wait_healthy "$pp" 120; wait_healthy "$dp" 120

long() { client generate --decode 127.0.0.1:"$dp" --prompt-lengths 3000 --max-new-tokens 1 --ignore-eos "$@"; }
# The uncancelled cost of the prompt, measured now (warm).
long --json >"$work/full.json" || fail "the uncancelled 3000-token request failed"
full_ms=$(json_field "$work/full.json" "j['result']['ttft_ms']")

before=$(grep -c "dropped cancelled request from its batch" "$work/prefill-$pp.log" || true)
if long --timeout 0.5 >"$work/cut.txt" 2>&1; then fail "the request with a 0.5 s deadline succeeded"; fi
grep -q "DEADLINE_EXCEEDED\|deadline" "$work/cut.txt" || fail "expected a deadline error: $(cat "$work/cut.txt")"
client generate --decode 127.0.0.1:"$dp" --prompt-ids 3,17,42 --max-new-tokens 2 --ignore-eos --json >"$work/next.json" \
  || fail "the follow-up request failed"
next_ms=$(json_field "$work/next.json" "j['result']['ttft_ms']")
python3 -c "import sys; f, n = float(sys.argv[1]), float(sys.argv[2]); sys.exit(0 if n < 0.6 * f else 1)" "$full_ms" "$next_ms" \
  || fail "follow-up TTFT ${next_ms} ms is not below 60 % of a full 3000-token prefill (${full_ms} ms): the cancelled prefill ran on"
for _ in $(seq 50); do
  [ "$(grep -c "dropped cancelled request from its batch" "$work/prefill-$pp.log" || true)" -gt "$before" ] && break
  sleep 0.2
done
[ "$(grep -c "dropped cancelled request from its batch" "$work/prefill-$pp.log" || true)" -gt "$before" ] \
  || fail "the prefill never logged dropping the cancelled request"
expect_pages_returned "$dp"
kill -0 "$prefill_pid" || fail "prefill daemon exited"
echo "ok: full 3000-token prefill ${full_ms} ms; after a 0.5 s deadline the next request's TTFT was ${next_ms} ms"
