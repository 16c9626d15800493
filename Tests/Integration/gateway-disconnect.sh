#!/usr/bin/env bash
# An HTTP client that closes its socket cancels its request all the way to prefill, streamed or not:
# gateway → decode → 2-rank prefill on tiny, the prefill slowed by 1-token chunks so a 3000-token
# prompt is still in prefill when the client leaves. Raw sockets (Python) close at chosen moments:
# during prefill (whole and streamed) and during decode (whole; mid-stream is in gateway-openai.sh).
# Checked on the daemons' own reports: prefill's /metrics counts the request cancelled, decode's
# Stats shows it cancelled before its max_tokens and every KV page free, the gateway counts it 499.
source "$(dirname "$0")/common.bash"
py=$("$root/scripts/python-env" venv prometheus_client requests)
pp=$(free_port); dp=$(free_port); gp=$(free_port); pmp=$(free_port)
start_prefill "$pp" 2 --chunk-tokens 1 --no-enable-prefix-caching --metrics-listen 127.0.0.1:"$pmp"   # every prompt computes whole: the timing relies on it
start_decode "$dp" "$pp"
wait_healthy "$pp"; wait_healthy "$dp"
start_gateway "$gp" 127.0.0.1:"$dp"
wait_gateway "$gp"
GATEWAY=127.0.0.1:$gp DECODE=127.0.0.1:$dp PREFILL_METRICS=127.0.0.1:$pmp BIN=$bin \
  "$py" "$root/Tests/Integration/gateway_disconnect.py" || fail "disconnect checks"
expect_pages_returned "$dp"
