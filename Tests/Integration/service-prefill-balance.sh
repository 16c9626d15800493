#!/usr/bin/env bash
# Decode's choice among prefill daemons is load-aware: of two prefills, one slow (1-token chunks,
# one request at a time), a run of requests 4 at a time goes mostly to the fast one (fewest prompt
# tokens in flight), where round-robin would split them evenly. Counted by each prefill's own
# /metrics (--metrics-listen); every request is verified and every page comes back.
source "$(dirname "$0")/common.bash"
py=$("$root/scripts/python-env" venv prometheus_client requests)
fast=$(free_port); slow=$(free_port); dp=$(free_port); fm=$(free_port); sm=$(free_port)
start_prefill "$fast" 2 --metrics-listen 127.0.0.1:"$fm" --no-enable-prefix-caching   # speeds set by compute alone
start_prefill "$slow" 2 --metrics-listen 127.0.0.1:"$sm" --chunk-tokens 1 --max-batch-requests 1 --no-enable-prefix-caching
"$bin/pd-decode" --model tiny --listen 127.0.0.1:"$dp" --prefill 127.0.0.1:"$fast",127.0.0.1:"$slow" \
  >"$work/decode-$dp.log" 2>&1 &
pids+=($!)
wait_healthy "$fast"; wait_healthy "$slow"; wait_healthy "$dp"
sleep 2   # both prefills probed ready by decode (every 2 s)
client generate --decode 127.0.0.1:"$dp" --prompt-lengths 200,300,400,250 --num-requests 16 --concurrency 4 \
  --max-new-tokens 2 --verify --model tiny --json >"$work/run.json" || fail "requests failed: $(tail -c 400 "$work/run.json")"
"$py" - "$fm" "$sm" <<'PY' || fail "prefill choice"
import sys, requests
from prometheus_client.parser import text_string_to_metric_families
def done(port):
    text = requests.get(f"http://127.0.0.1:{port}/metrics").text
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == "latentserve_prefill_requests_total" and s.labels.get("outcome") == "done")
fast, slow = done(sys.argv[1]), done(sys.argv[2])
assert fast + slow == 16, f"{fast} + {slow} prefills, expected 16"
assert slow <= 5 and fast > slow, f"fast prefill took {fast:.0f}, slow {slow:.0f}: not load-aware (round-robin gives 8 / 8)"
print(f"ok: 16 verified requests, 4 at a time: fast prefill took {fast:.0f}, slow (1-token chunks) {slow:.0f}")
PY
expect_pages_returned "$dp"
