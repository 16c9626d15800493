#!/usr/bin/env bash
# Cancellation: a client leaving mid-stream frees its pages; a request cancelled while queued at
# the prefill daemon is dropped from its queue.
source "$(dirname "$0")/common.bash"
pp=$(free_port); dp=$(free_port)
start_prefill "$pp" 2 --chunk-tokens 2 --max-batch-requests 1   # slow, one request at a time
start_decode "$dp" "$pp"
wait_healthy "$pp"; wait_healthy "$dp"

# 1. Cancel mid-decode.
client generate --decode 127.0.0.1:"$dp" --prompt-lengths 5 --max-new-tokens 3000 --ignore-eos --cancel-after-tokens 3 --json >"$work/c.json" \
  || fail "cancel run failed"
[ "$(json_field "$work/c.json" "j['result']['finish_reason']")" = "cancelled by client" ] || fail "not cancelled: $(cat "$work/c.json")"
for _ in $(seq 50); do
  client stats --target 127.0.0.1:"$dp" >"$work/stats.json"
  [ "$(json_field "$work/stats.json" "j['free_kv_pages'] == j['total_kv_pages'] and j['active_requests'] == 0")" = "True" ] && break
  sleep 0.2
done
[ "$(json_field "$work/stats.json" "j['free_kv_pages'] == j['total_kv_pages']")" = "True" ] || fail "pages not freed after cancel"
[ "$(json_field "$work/stats.json" "j['recent'][0]['finish_reason']")" = "cancelled" ] || fail "stats: $(cat "$work/stats.json")"

# 2. Cancel while queued at prefill: a long chunked prompt occupies the prefill, a second request gives up.
client generate --decode 127.0.0.1:"$dp" --prompt-lengths 3000 --max-new-tokens 2 >"$work/long.txt" 2>&1 &
long=$!
sleep 0.3
if client generate --decode 127.0.0.1:"$dp" --prompt-lengths 9 --max-new-tokens 2 --timeout 0.3 >/dev/null 2>"$work/short.err"; then
  echo "note: the short request finished within its deadline (prefill was quick)"
else
  grep -qE "DEADLINE_EXCEEDED|CANCELLED" "$work/short.err" || fail "unexpected error: $(cat "$work/short.err")"
  for _ in $(seq 100); do grep -q "dropped cancelled request" "$work/prefill-$pp.log" && break; sleep 0.1; done
  grep -q "dropped cancelled request" "$work/prefill-$pp.log" || fail "prefill did not drop the cancelled request"
fi
wait $long || fail "the long request failed: $(cat "$work/long.txt")"
for _ in $(seq 50); do
  client stats --target 127.0.0.1:"$dp" >"$work/stats.json"
  [ "$(json_field "$work/stats.json" "j['free_kv_pages'] == j['total_kv_pages']")" = "True" ] && break
  sleep 0.2
done
[ "$(json_field "$work/stats.json" "j['free_kv_pages'] == j['total_kv_pages']")" = "True" ] || fail "pages leaked"

# 3. Cancel while its (chunked) batch is running: the prefill drops it between steps.
if client generate --decode 127.0.0.1:"$dp" --prompt-lengths 3000 --max-new-tokens 2 --timeout 0.5 >/dev/null 2>"$work/inbatch.err"; then
  echo "note: the long request finished within 0.5 s"
else
  for _ in $(seq 100); do grep -q "dropped cancelled request from its batch" "$work/prefill-$pp.log" && break; sleep 0.1; done
  grep -q "dropped cancelled request from its batch" "$work/prefill-$pp.log" || fail "prefill did not drop the request from its batch"
fi
client generate --decode 127.0.0.1:"$dp" --prompt-ids 5,6,7 --max-new-tokens 3 --verify --model tiny >/dev/null || fail "not serving after cancels"
# Requests their clients ended (cancel, deadline) are the clients' choice: logged, but not as errors.
if grep -E " (error|critical) pd-decode" "$work/decode-$dp.log"; then fail "client-ended requests logged as daemon errors"; fi
echo "ok: mid-stream cancel freed pages; cancelled requests dropped from the prefill queue and from a running batch"
