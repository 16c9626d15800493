#!/usr/bin/env bash
# pd-gateway through the real `openai` Python SDK (venv from PyPI): gateway → decode → 2-rank prefill
# on tiny. Completions and chat completions, whole and streamed, equal an independent reference
# (HF tokenizers / jinja2 prompt ids → pd-client straight to decode → HF tokenizers decode); usage,
# stop strings, EOS, errors, disconnect (pages back), /metrics parsed by prometheus_client.
source "$(dirname "$0")/common.bash"
py=$("$root/scripts/python-env" venv openai tokenizers jinja2 prometheus_client requests)
pp=$(free_port); dp=$(free_port); gp=$(free_port)
start_prefill "$pp" 2
start_decode "$dp" "$pp"
wait_healthy "$pp"; wait_healthy "$dp"
start_gateway "$gp" 127.0.0.1:"$dp"
wait_gateway "$gp"

GATEWAY=127.0.0.1:$gp DECODE=127.0.0.1:$dp BIN=$bin MODEL_NAME=tiny MODEL_DIR=$(gateway_model_dir tiny) \
  "$py" "$root/Tests/Integration/gateway_openai.py" || fail "gateway checks"
expect_pages_returned "$dp"
