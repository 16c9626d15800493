#!/usr/bin/env bash
# Priority scheduling (pd-decode --scheduling-policy priority, vLLM's request `priority`, lower
# first): on an 8-page cache a burst of low-priority requests is preempted for a high-priority one
# sent after them, which is never preempted itself; every request is served exactly (pd-run's code
# path). A decode without the policy refuses a non-zero priority with INVALID_ARGUMENT naming the
# flag, and the gateway passes the field on (its 400 carries that line; priority 0 is served).
source "$(dirname "$0")/common.bash"
pp=$(free_port); fp=$(free_port); qp=$(free_port); gp=$(free_port); mp=$(free_port)
start_prefill "$pp" 2
start_decode "$fp" "$pp"
start_decode "$qp" "$pp" --kv-pages 8 --page-size 16 --scheduling-policy priority --max-queued-requests 16 \
  --max-queue-seconds 300 --metrics-listen 127.0.0.1:"$mp"
wait_healthy "$pp"; wait_healthy "$fp"; wait_healthy "$qp"

if client generate --decode 127.0.0.1:"$fp" --prompt-lengths 8 --max-new-tokens 4 --priority 3 >/dev/null 2>"$work/fcfs.err"; then
  fail "a first-come-first-served decode accepted priority 3"
fi
grep -q "INVALID_ARGUMENT" "$work/fcfs.err" && grep -q "start pd-decode with --scheduling-policy priority" "$work/fcfs.err" \
  || fail "unclear refusal: $(cat "$work/fcfs.err")"
start_gateway "$gp" 127.0.0.1:"$fp"
wait_gateway "$gp"
code=$(curl -s -o "$work/http.json" -w '%{http_code}' http://127.0.0.1:"$gp"/v1/completions -H 'content-type: application/json' \
  -d '{"model": "tiny", "prompt": "Hello", "max_tokens": 4, "priority": 2}')
[ "$code" = 400 ] && grep -q "scheduling-policy priority" "$work/http.json" || fail "gateway: expected a 400 naming the flag, got $code $(cat "$work/http.json")"
code=$(curl -s -o "$work/http.json" -w '%{http_code}' http://127.0.0.1:"$gp"/v1/completions -H 'content-type: application/json' \
  -d '{"model": "tiny", "prompt": "Hello", "max_tokens": 4, "priority": 0}')
[ "$code" = 200 ] || fail "gateway: priority 0 refused: $code $(cat "$work/http.json")"
echo "ok: without --scheduling-policy priority a non-zero priority is refused by name (gRPC INVALID_ARGUMENT, HTTP 400)"

# Five low-priority requests of 8 pages each fill the cache, then a high-priority one of 8 pages joins.
preemptions() { metric_value "$mp" latentserve_decode_preemptions_total; }
for attempt in 1 2 3; do
  before=$(preemptions)
  client generate --decode 127.0.0.1:"$qp" --prompt-lengths 8,9,10 --max-new-tokens 112 --ignore-eos --num-requests 5 \
    --concurrency 5 --priority 10 --verify --model tiny --json >"$work/low.json" 2>"$work/low.err" &
  low=$!
  sleep 1
  client generate --decode 127.0.0.1:"$qp" --prompt-lengths 11 --max-new-tokens 112 --ignore-eos --priority=-1 \
    --verify --model tiny --json >"$work/high.json" 2>"$work/high.err" || fail "high-priority request: $(cat "$work/high.err")"
  wait "$low" || fail "low-priority burst: $(cat "$work/low.err")"
  [ "$(json_field "$work/low.json" "j['verified'] and all(r.get('error') is None for r in j['results'])")" = "True" ] \
    || fail "low-priority burst not served exactly: $(cat "$work/low.json")"
  [ "$(json_field "$work/high.json" "j['verified']")" = "True" ] || fail "high-priority request not served exactly"
  high_id=$(json_field "$work/high.json" "j['result']['request_id']")
  if grep -q "request $high_id preempted" "$work/decode-$qp.log"; then fail "the high-priority request $high_id was preempted"; fi
  [ "$(preemptions)" -gt "$before" ] && break
  echo "attempt $attempt: no preemption (the requests barely overlapped); again"
done
[ "$(preemptions)" -gt 0 ] || fail "3 bursts of 6 × 8 pages on 8 pages and no preemption"
expect_pages_returned "$qp"
echo "ok: priority: $(preemptions) preemptions of low-priority requests, the priority -1 request never preempted; all served exactly"
