#!/usr/bin/env bash
# Prefill killed with requests in flight: they end with a clear error, decode stays up and serves
# again once a prefill daemon is back on the same address. Then a single non-zero rank is lost: the
# whole prefill job must end promptly (no rank 0 left accepting calls it cannot compute).
source "$(dirname "$0")/common.bash"
pp=$(free_port); dp=$(free_port)
start_prefill "$pp" 2 --chunk-tokens 2 --no-enable-prefix-caching   # slow: every prompt computes whole
first_prefill=$prefill_pid
start_decode "$dp" "$pp" --prefill-timeout 30
wait_healthy "$pp"; wait_healthy "$dp"
client generate --decode 127.0.0.1:"$dp" --prompt-lengths 3000 --max-new-tokens 2 --num-requests 2 --concurrency 2 \
  >"$work/inflight.txt" 2>"$work/inflight.err" &
inflight=$!
# Timing: 3000 tokens in chunks of 2 keep the prefill busy for seconds; the kill comes 0.5 s in.
# Were the requests done by then, `wait` below succeeds and the check fails (it cannot pass wrongly).
sleep 0.5
kill -KILL "$first_prefill"; pkill -KILL -f "pd-prefill --model ${MODEL:-tiny} --listen 127.0.0.1:$pp" || true
start=$(date +%s)
if wait $inflight; then fail "in-flight requests succeeded although prefill died"; fi
[ $(( $(date +%s) - start )) -le 30 ] || fail "in-flight requests took too long to fail"
grep -q "UNAVAILABLE" "$work/inflight.err" && grep -q "prefill" "$work/inflight.err" \
  || fail "unclear error (expected UNAVAILABLE naming the prefill): $(cat "$work/inflight.err")"
kill -0 "$decode_pid" || fail "decode daemon died with the prefill"
# No prefill: new requests fail fast and clearly.
if client generate --decode 127.0.0.1:"$dp" --prompt-ids 1,2,3 --max-new-tokens 2 --timeout 20 2>"$work/none.err" >/dev/null; then
  fail "served without a prefill daemon"
fi
grep -q "UNAVAILABLE" "$work/none.err" || fail "expected UNAVAILABLE: $(cat "$work/none.err")"
# Back again.
start_prefill "$pp" 2
wait_healthy "$pp"
ok=0
for _ in $(seq 20); do
  client generate --decode 127.0.0.1:"$dp" --prompt-ids 3,17,42,99 --max-new-tokens 6 --verify --model tiny >/dev/null 2>&1 && { ok=1; break; }
  sleep 0.5
done
[ $ok -eq 1 ] || fail "decode did not serve again after prefill came back"   # 20 tries over ~10 s: reconnect backoff
expect_pages_returned "$dp"

# One rank lost (not rank 0, not mpirun): the whole prefill job must end, not hang with rank 0
# still accepting calls it can no longer compute, and the in-flight requests fail clearly.
stop_prefill_job() { kill -KILL "$prefill_pid" 2>/dev/null || true; pkill -KILL -f "pd-prefill --model ${MODEL:-tiny} --listen 127.0.0.1:$pp" || true; }
stop_prefill_job
for _ in $(seq 50); do pgrep -f "pd-prefill --model ${MODEL:-tiny} --listen 127.0.0.1:$pp" >/dev/null || break; sleep 0.1; done
start_prefill "$pp" 2 --chunk-tokens 2 --no-enable-prefix-caching   # slow: every prompt computes whole
wait_healthy "$pp"
client generate --decode 127.0.0.1:"$dp" --prompt-lengths 3000 --max-new-tokens 2 --num-requests 2 --concurrency 2 \
  >"$work/rank-lost.txt" 2>"$work/rank-lost.err" &
inflight=$!
sleep 0.5   # as above: the requests are still in the prefill when rank 1 dies, or `wait` succeeds and the check fails
rank1=""
for pid in $(pgrep -f "^$bin/pd-prefill --model ${MODEL:-tiny} --listen 127.0.0.1:$pp"); do
  tr '\0' '\n' <"/proc/$pid/environ" | grep -qx "OMPI_COMM_WORLD_RANK=1" && rank1=$pid
done
[ -n "$rank1" ] || fail "prefill rank 1 not found"
kill -KILL "$rank1"
start=$(date +%s)
if wait $inflight; then fail "in-flight requests succeeded although a prefill rank died"; fi
grep -qE "UNAVAILABLE" "$work/rank-lost.err" || fail "unclear error after a lost rank: $(cat "$work/rank-lost.err")"
for _ in $(seq 100); do pgrep -f "pd-prefill --model ${MODEL:-tiny} --listen 127.0.0.1:$pp" >/dev/null || break; sleep 0.2; done
pgrep -f "pd-prefill --model ${MODEL:-tiny} --listen 127.0.0.1:$pp" >/dev/null && fail "prefill job still running 20 s after losing a rank"
[ $(( $(date +%s) - start )) -le 30 ] || fail "losing a rank took too long to surface"
kill -0 "$decode_pid" || fail "decode daemon died with the prefill rank"
expect_pages_returned "$dp" "decode daemon after losing a prefill rank"
echo "ok: in-flight requests failed clearly when prefill died (whole job, then one rank); decode stayed up and served again"
