#!/usr/bin/env bash
# Decode killed (SIGKILL) while the prefill daemon computes its requests (the calls that would stream
# their KV back are open): the prefill sees them cancelled, drops them from the running batch, stays
# up, and serves a new decode daemon exactly.
source "$(dirname "$0")/common.bash"
pp=$(free_port); dp=$(free_port)
start_prefill "$pp" 2 --chunk-tokens 2 --no-enable-prefix-caching   # slow: every prompt computes whole
start_decode "$dp" "$pp"
first_decode=$decode_pid
wait_healthy "$pp"; wait_healthy "$dp"
client generate --decode 127.0.0.1:"$dp" --prompt-lengths 3000 --max-new-tokens 2 --num-requests 2 --concurrency 2 \
  >"$work/inflight.txt" 2>&1 &
inflight=$!
# Kill the decode once both requests are in flight (the prefill takes ~2 s over these prompts).
# Timing: waits up to 5 s for both to be active, then 0.3 s more; were the requests done before the
# kill, `wait` below succeeds and the check fails (it cannot pass wrongly). The prefill's drop is
# awaited up to 30 s.
for _ in $(seq 100); do
  client stats --target 127.0.0.1:"$dp" >"$work/stats.json" 2>/dev/null || true
  [ "$(json_field "$work/stats.json" "j['active_requests']" 2>/dev/null)" = 2 ] && break
  sleep 0.05
done
sleep 0.3
kill -KILL "$first_decode"; wait "$first_decode" 2>/dev/null || true
if wait $inflight; then fail "requests succeeded although their decode daemon died"; fi
# The prefill sees the calls cancelled (the connection is gone) and lets the requests go, without dying.
for _ in $(seq 150); do grep -q "dropped cancelled request" "$work/prefill-$pp.log" && break; sleep 0.2; done
grep -q "dropped cancelled request" "$work/prefill-$pp.log" || fail "prefill did not drop the requests of the dead decode"
kill -0 "$prefill_pid" || fail "prefill daemon died with the decode"
dp2=$(free_port)
start_decode "$dp2" "$pp"
wait_healthy "$dp2"
client generate --decode 127.0.0.1:"$dp2" --prompt-ids 3,17,42,99,7 --max-new-tokens 6 --verify --model tiny >/dev/null \
  || fail "prefill did not serve a new decode daemon exactly"
client generate --decode 127.0.0.1:"$dp2" --prompt-lengths 200 --max-new-tokens 4 --num-requests 3 --concurrency 3 --verify --model tiny \
  >/dev/null || fail "concurrent requests after the restart failed"
echo "ok: decode killed with requests in the prefill; prefill dropped its requests, stayed up and served a new decode exactly"
