#!/usr/bin/env bash
# pd-gateway through the real `openai` Python SDK (venv from PyPI): gateway → decode → 2-rank prefill
# on tiny. Completions and chat completions, whole and streamed, equal an independent reference
# (HF tokenizers / jinja2 prompt ids → pd-client straight to decode → HF tokenizers decode); usage,
# stop strings, EOS, errors, disconnect (pages back), /metrics parsed by prometheus_client; then
# pd-decode's and pd-prefill's own --metrics-listen against one request sent straight to decode.
source "$(dirname "$0")/common.bash"
py=$("$root/scripts/python-env" venv openai tokenizers jinja2 prometheus_client requests jsonschema)
pp=$(free_port); dp=$(free_port); gp=$(free_port); mp=$(free_port); pmp=$(free_port)
start_prefill "$pp" 2 --metrics-listen 127.0.0.1:"$pmp"
start_decode "$dp" "$pp" --metrics-listen 127.0.0.1:"$mp"
wait_healthy "$pp"; wait_healthy "$dp"
start_gateway "$gp" 127.0.0.1:"$dp"
wait_gateway "$gp"

PYTHONPATH="$root/Tests/Integration" GATEWAY=127.0.0.1:$gp DECODE=127.0.0.1:$dp BIN=$bin MODEL_NAME=tiny MODEL_DIR=$(gateway_model_dir tiny) \
  "$py" "$root/Tests/Integration/gateway_openai.py" || fail "gateway checks"
expect_pages_returned "$dp"

# pd-decode's and pd-prefill's /metrics: one request straight to decode moves their counters by exactly
# that request.
"$py" - "$mp" "$bin" "$dp" "$pmp" <<'PY' || fail "pd-decode / pd-prefill --metrics-listen"
import json, subprocess, sys, requests
from prometheus_client.parser import text_string_to_metric_families
port, bin, dp, prefill_port = sys.argv[1:]
def scrape(port=port):
    samples = {}
    for family in text_string_to_metric_families(requests.get(f"http://127.0.0.1:{port}/metrics").text):
        for s in family.samples:
            key = s.name + "".join(f"{{{k}={v}}}" for k, v in sorted(s.labels.items()) if k != "le")
            if "le" not in s.labels:
                samples[key] = s.value
    return samples
before, prefill_before = scrape(), scrape(prefill_port)
subprocess.run([f"{bin}/pd-client", "generate", "--decode", f"127.0.0.1:{dp}", "--prompt-ids", "3,17,42",
                "--max-new-tokens", "7", "--ignore-eos"], check=True, capture_output=True)
after, prefill_after = scrape(), scrape(prefill_port)
delta = lambda k: after.get(k, 0) - before.get(k, 0)
prefill_delta = {k: prefill_after.get(k, 0) - prefill_before.get(k, 0) for k in (
    "latentserve_prefill_requests_total{outcome=done}", "latentserve_prefill_prompt_tokens_total",
    "latentserve_prefill_batches_total", "latentserve_prefill_queue_time_seconds_count", "latentserve_prefill_compute_seconds_count")}
assert prefill_delta == dict(zip(prefill_delta, [1, 3, 1, 1, 1])), f"prefill deltas {prefill_delta}"
assert prefill_after["latentserve_prefill_queue_requests"] == 0 and prefill_after["latentserve_prefill_queue_tokens"] == 0, prefill_after
stats = json.loads(subprocess.run([f"{bin}/pd-client", "stats", "--target", f"127.0.0.1:{dp}"], check=True,
                                  capture_output=True, text=True).stdout)
want = {"latentserve_decode_requests_total{finish_reason=length}": 1, "latentserve_decode_prompt_tokens_total": 3,
        "latentserve_decode_generation_tokens_total": 7, "latentserve_decode_time_to_first_token_seconds_count": 1,
        "latentserve_decode_e2e_request_latency_seconds_count": 1, "latentserve_kv_transfer_seconds_count": 1}
got = {k: delta(k) for k in want}
assert got == want, f"deltas {got} != {want}"
assert delta("latentserve_kv_transfer_bytes_total") > 0, "no KV bytes counted"
assert after["latentserve_decode_requests_running"] == 0, after["latentserve_decode_requests_running"]
assert after["latentserve_kv_pages_free"] == stats["free_kv_pages"] == stats["total_kv_pages"], (after, stats)
assert after["latentserve_kv_pages_used"] == 0, after["latentserve_kv_pages_used"]
print(f"ok: pd-decode and pd-prefill /metrics parse; one request moved their counters by exactly that request; "
      f"decode's page gauges match Stats, prefill's queue is empty")
PY

# Overload: a gateway limited to 1 request in flight answers 429 with Retry-After to a second one;
# with no decode ready, 503 with Retry-After (and /health 503).
gp2=$(free_port)
start_gateway "$gp2" 127.0.0.1:"$dp" --max-requests 1
wait_gateway "$gp2"
: >"$work/held.txt"
curl -sN http://127.0.0.1:"$gp2"/v1/completions -H 'content-type: application/json' \
  -d '{"model": "tiny", "prompt": "hold", "max_tokens": 3000, "temperature": 0, "ignore_eos": true, "stream": true}' >"$work/held.txt" &
held=$!
for _ in $(seq 100); do [ "$(grep -c '^data: ' "$work/held.txt")" -ge 1 ] && break; sleep 0.05; done
curl -s -D "$work/429.headers" -o "$work/429.json" http://127.0.0.1:"$gp2"/v1/completions -H 'content-type: application/json' \
  -d '{"model": "tiny", "prompt": "second", "max_tokens": 4}'
kill "$held" 2>/dev/null || true; wait "$held" 2>/dev/null || true
grep -q '^HTTP/1.1 429' "$work/429.headers" && grep -qi '^retry-after: 1' "$work/429.headers" \
  && [ "$(json_field "$work/429.json" "j['error']['type']")" = rate_limit_error ] \
  || fail "over the limit: $(cat "$work/429.headers" "$work/429.json")"
expect_pages_returned "$dp" "decode daemon after the held stream was dropped"
kill -TERM "$decode_pid"
for _ in $(seq 100); do [ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:"$gp"/health)" = 503 ] && break; sleep 0.1; done
[ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:"$gp"/health)" = 503 ] || fail "gateway /health not 503 without a decode"
curl -s -D "$work/503.headers" -o "$work/503.json" http://127.0.0.1:"$gp"/v1/completions -H 'content-type: application/json' \
  -d '{"model": "tiny", "prompt": "nobody home", "max_tokens": 4}'
grep -q '^HTTP/1.1 503' "$work/503.headers" && grep -qi '^retry-after: 1' "$work/503.headers" \
  || fail "no decode: $(cat "$work/503.headers" "$work/503.json")"
echo "ok: 429 + Retry-After over --max-requests, 503 + Retry-After (and /health 503) with no decode ready"
