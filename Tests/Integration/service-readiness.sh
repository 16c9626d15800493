#!/usr/bin/env bash
# Health is readiness: decode answers NOT_SERVING while no prefill daemon serving its model is
# reachable, SERVING once one is (the prober asks every 2 s), NOT_SERVING again when it goes away;
# requests sent while not ready fail fast with UNAVAILABLE, and nothing leaks.
# Timing tolerated: each change must show within 10 s (probe period 2 s + 1 s Info deadline + load).
source "$(dirname "$0")/common.bash"
pp=$(free_port); dp=$(free_port)
start_decode "$dp" "$pp"

health() { client health --target 127.0.0.1:"$dp" --timeout 1 >/dev/null 2>&1; }
wait_for() {  # STATE(serving|not): polls every 0.2 s for at most 10 s
  for _ in $(seq 50); do
    if health; then [ "$1" = serving ] && return 0; else [ "$1" = not ] && return 0; fi
    sleep 0.2
  done
  fail "decode health did not become $1 within 10 s"
}
# The decode process answers at all (liveness) before we read its readiness.
for _ in $(seq 150); do
  out=$(client health --target 127.0.0.1:"$dp" --timeout 1 2>&1) && break
  echo "$out" | grep -q "NOT_SERVING\|notServing\|not serving" && break
  sleep 0.2
done
health && fail "decode says SERVING with no prefill daemon"
start=$(date +%s.%N)
if client generate --decode 127.0.0.1:"$dp" --prompt-ids 3,17 --max-new-tokens 2 >"$work/out.txt" 2>"$work/err.txt"; then
  fail "a request succeeded with no prefill daemon"
fi
grep -q UNAVAILABLE "$work/err.txt" || fail "expected UNAVAILABLE, got: $(cat "$work/err.txt")"

start_prefill "$pp" 2
wait_for serving
client generate --decode 127.0.0.1:"$dp" --prompt-ids 3,17,42 --max-new-tokens 4 --ignore-eos --verify --model tiny >/dev/null \
  || fail "not serving exact tokens once ready"

kill -TERM "$prefill_pid"; wait "$prefill_pid" 2>/dev/null || true
wait_for not
client stats --target 127.0.0.1:"$dp" >"$work/stats.json"
[ "$(json_field "$work/stats.json" "j['free_kv_pages'] == j['total_kv_pages']")" = "True" ] || fail "pages leaked"
kill -0 "$decode_pid" || fail "decode daemon exited"
echo "ok: NOT_SERVING without prefill, SERVING once one answers, NOT_SERVING after it left; UNAVAILABLE meanwhile; no leak"
