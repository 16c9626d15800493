#!/usr/bin/env bash
# The OpenAI SDK against 1 gateway → 2 decodes → 2 prefill daemons (each `mpirun -np 2`) on tiny:
# completions and chat completions, whole and streamed, sent concurrently, equal `pd-run --prompt` /
# `--messages` greedy output (text, finish_reason, usage); both decodes and both prefills serve
# (their own Stats and /metrics), and every page comes back on both decodes.
source "$(dirname "$0")/common.bash"
py=$("$root/scripts/python-env" venv openai prometheus_client requests)
pa=$(free_port); pb=$(free_port); pma=$(free_port); pmb=$(free_port); da=$(free_port); db=$(free_port); gp=$(free_port)
dma=$(free_port); dmb=$(free_port)
start_prefill "$pa" 2 --metrics-listen 127.0.0.1:"$pma"
start_prefill "$pb" 2 --metrics-listen 127.0.0.1:"$pmb"
for port in "$da:$dma" "$db:$dmb"; do
  "$bin/pd-decode" --model tiny --listen 127.0.0.1:"${port%:*}" --prefill 127.0.0.1:"$pa",127.0.0.1:"$pb" \
    --metrics-listen 127.0.0.1:"${port#*:}" \
    --log-level "${LOG_LEVEL:-info}" >"$work/decode-${port%:*}.log" 2>&1 &
  pids+=($!)
done
for port in "$pa" "$pb" "$da" "$db"; do wait_healthy "$port" 120; done
start_gateway "$gp" 127.0.0.1:"$da",127.0.0.1:"$db"
wait_gateway "$gp"

GATEWAY=127.0.0.1:$gp DECODE_METRICS=127.0.0.1:$dma,127.0.0.1:$dmb PREFILL_METRICS=127.0.0.1:$pma,127.0.0.1:$pmb BIN=$bin WORK=$work \
  "$py" "$root/Tests/Integration/gateway_xpyd.py" || fail "gateway → 2 decodes → 2 prefills"
expect_pages_returned "$da" "first decode"
expect_pages_returned "$db" "second decode"
