#!/usr/bin/env bash
# Routing and failover: gateway → 2 decodes → one 2-rank prefill on tiny. One decode is killed while
# requests run: those waiting for their first token are retried on the other, new requests all
# succeed through it, no page leaks on the survivor. Then
# SIGTERM drains the gateway: a stream in flight finishes, the process exits 0.
source "$(dirname "$0")/common.bash"
py=$("$root/scripts/python-env" venv openai prometheus_client requests)
pp=$(free_port); d1=$(free_port); d2=$(free_port); gp=$(free_port)
start_prefill "$pp" 2 --chunk-tokens 2 --max-batch-requests 1 --no-enable-prefix-caching   # slow: long prompts wait for their first token
start_decode "$d1" "$pp"; victim=$decode_pid
start_decode "$d2" "$pp"
wait_healthy "$pp"; wait_healthy "$d1"; wait_healthy "$d2"
start_gateway "$gp" "127.0.0.1:$d1,127.0.0.1:$d2"
wait_gateway "$gp"
GATEWAY=127.0.0.1:$gp DECODES=127.0.0.1:$d1,127.0.0.1:$d2 VICTIM_PID=$victim BIN=$bin MODEL_NAME=tiny \
  "$py" "$root/Tests/Integration/gateway_failover.py" || fail "failover"
expect_pages_returned "$d2" "surviving decode"

# SIGTERM drains: the stream in flight completes, then the gateway exits 0.
: >"$work/drain.txt"
curl -sN http://127.0.0.1:"$gp"/v1/completions -H 'content-type: application/json' \
  -d '{"model": "tiny", "prompt": "drain me", "max_tokens": 300, "temperature": 0, "ignore_eos": true, "stream": true}' \
  >"$work/drain.txt" &
reader=$!
for _ in $(seq 100); do [ "$(grep -c '^data: ' "$work/drain.txt")" -ge 2 ] && break; sleep 0.05; done
kill -TERM "$gateway_pid"
wait "$reader" || fail "the stream in flight failed during the drain"
tail -n 1 "$work/drain.txt" | grep -q '^data: \[DONE\]' || tail -n 2 "$work/drain.txt" | grep -q '\[DONE\]' \
  || fail "drained stream did not end with [DONE]: $(tail -c 300 "$work/drain.txt")"
[ "$(grep -c '"finish_reason":"length"' "$work/drain.txt")" = 1 ] || fail "drained stream has no finish_reason length"
for _ in $(seq 100); do kill -0 "$gateway_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$gateway_pid" 2>/dev/null && fail "gateway still running 10 s after SIGTERM with nothing in flight"
rc=0; wait "$gateway_pid" || rc=$?
[ $rc = 0 ] || fail "gateway exited $rc after SIGTERM"
expect_pages_returned "$d2" "surviving decode after the drain"
echo "ok: SIGTERM drained the gateway (the stream in flight finished with [DONE], exit 0)"
