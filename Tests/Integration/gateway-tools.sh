#!/usr/bin/env bash
# Tool calls through pd-gateway (--tool-call-parser deepseek_v31) and the real `openai` SDK, in front of
# a stand-in decode daemon (grpcio, Tests/Integration/gateway_tools.py) that streams the token ids of a
# scripted DeepSeek-V3.1 tool-call text on tiny's tokenizer; checked against HF tokenizers and jinja2.
source "$(dirname "$0")/common.bash"
py=$("$root/scripts/python-env" venv openai tokenizers jinja2 requests grpcio) || fail "no python venv"
"$bin/pd-run" --model tiny --prompt-ids 3 --max-new-tokens 1 --json >/dev/null || fail "pd-run could not write tiny"
PYTHONPATH="$root/Tests/Integration" BIN=$bin MODEL_DIR=$(gateway_model_dir tiny) WORK=$work \
  timeout 300 "$py" "$root/Tests/Integration/gateway_tools.py" || fail "tool-call checks"
