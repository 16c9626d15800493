#!/usr/bin/env bash
# Cancellation: a client leaving mid-stream frees its pages; a request cancelled while queued at
# the prefill daemon is dropped from its queue.
source "$(dirname "$0")/common.bash"
pp=$(free_port); dp=$(free_port)
start_prefill "$pp" 2 --chunk-tokens 1 --max-batch-requests 1 --no-enable-prefix-caching   # slow, one request at a time, every prompt whole
start_decode "$dp" "$pp"
wait_healthy "$pp"; wait_healthy "$dp"

# 1. Cancel mid-decode.
client generate --decode 127.0.0.1:"$dp" --prompt-lengths 5 --max-new-tokens 3000 --ignore-eos --cancel-after-tokens 3 --json >"$work/c.json" \
  || fail "cancel run failed"
[ "$(json_field "$work/c.json" "j['result']['finish_reason']")" = "cancelled by client" ] || fail "not cancelled: $(cat "$work/c.json")"
expect_pages_returned "$dp" "decode daemon after a mid-stream cancel"
[ "$(json_field "$work/stats-$dp.json" "j['recent'][0]['finish_reason']")" = "cancelled" ] || fail "stats: $(cat "$work/stats-$dp.json")"

# 2. Cancel while queued at prefill: three long chunked prompts occupy the prefill (one request at a
# time), a fourth request gives up after 0.3 s while it waits, and the prefill drops it from its queue.
# Timing: each long prompt takes the prefill 0.5–1 s (4000 steps of 1 token; release build, Zen 4:
# the step of one token attends in the absorbed form); if they happened to be done before the short
# one's deadline, the queue path was not exercised: retried, 3 rounds at most, then the check fails.
# A short request that fails any other way fails at once.
dropped_from_queue() { grep -c "dropped cancelled request from the queue" "$work/prefill-$pp.log" || true; }
queued_cancel=0
for attempt in 1 2 3; do
  before=$(dropped_from_queue)
  client generate --decode 127.0.0.1:"$dp" --prompt-lengths 4000 --num-requests 3 --concurrency 3 --max-new-tokens 2 \
    >"$work/long.txt" 2>&1 &
  long=$!
  # The short request must reach the prefill while the long ones occupy it: wait for them to be active.
  for _ in $(seq 50); do
    client stats --target 127.0.0.1:"$dp" >"$work/stats.json" 2>/dev/null || true
    [ "$(json_field "$work/stats.json" "j['active_requests']" 2>/dev/null)" = 3 ] && break
    sleep 0.05
  done
  if client generate --decode 127.0.0.1:"$dp" --prompt-lengths 9 --max-new-tokens 2 --timeout 0.3 >/dev/null 2>"$work/short.err"; then
    echo "round $attempt: the short request finished within its deadline (the prefill was quick); again"
  else
    grep -q "DEADLINE_EXCEEDED" "$work/short.err" || fail "unexpected error: $(cat "$work/short.err")"
    queued_cancel=1
  fi
  wait $long || fail "the long requests failed: $(cat "$work/long.txt")"
  if [ $queued_cancel -eq 1 ]; then   # the prefill meets the cancelled request when it takes it from the queue
    for _ in $(seq 100); do [ "$(dropped_from_queue)" -gt "$before" ] && break; sleep 0.1; done
    [ "$(dropped_from_queue)" -gt "$before" ] || fail "prefill did not drop the cancelled request from its queue"
  fi
  expect_pages_returned "$dp"
  [ $queued_cancel -eq 1 ] && break
done
[ $queued_cancel -eq 1 ] || fail "3 rounds and the short request never waited in the prefill queue past its deadline"

# 3. Cancel while its (chunked) batch is running: the prefill drops it between steps.
# Timing: 4000 tokens in chunks of 1 take the prefill 0.5–1 s, the deadline is 0.25 s; a request
# that finished within it did not exercise the path: retried, 3 rounds at most, then the check fails.
dropped_from_batch() { grep -c "dropped cancelled request from its batch" "$work/prefill-$pp.log" || true; }
batch_cancel=0
for attempt in 1 2 3; do
  before=$(dropped_from_batch)
  if client generate --decode 127.0.0.1:"$dp" --prompt-lengths 4000 --max-new-tokens 2 --timeout 0.25 >/dev/null 2>"$work/inbatch.err"; then
    echo "round $attempt: the long request finished within 0.25 s; again"
  else
    grep -q "DEADLINE_EXCEEDED" "$work/inbatch.err" || fail "unexpected error: $(cat "$work/inbatch.err")"
    for _ in $(seq 100); do [ "$(dropped_from_batch)" -gt "$before" ] && break; sleep 0.1; done
    [ "$(dropped_from_batch)" -gt "$before" ] || fail "prefill did not drop the request from its batch"
    batch_cancel=1
  fi
  expect_pages_returned "$dp"
  [ $batch_cancel -eq 1 ] && break
done
[ $batch_cancel -eq 1 ] || fail "3 rounds and the 4000-token request never outlived its 0.25 s deadline"
client generate --decode 127.0.0.1:"$dp" --prompt-ids 5,6,7 --max-new-tokens 3 --verify --model tiny >/dev/null || fail "not serving after cancels"
# Requests their clients ended (cancel, deadline) are the clients' choice: logged, but not as errors.
if grep -E " (error|critical) pd-decode" "$work/decode-$dp.log"; then fail "client-ended requests logged as daemon errors"; fi
echo "ok: mid-stream cancel freed pages; cancelled requests dropped from the prefill queue and from a running batch"
