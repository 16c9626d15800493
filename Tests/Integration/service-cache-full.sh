#!/usr/bin/env bash
# A full KV cache answers RESOURCE_EXHAUSTED at once, never crashes; later requests succeed.
source "$(dirname "$0")/common.bash"
pp=$(free_port); dp=$(free_port)
start_prefill "$pp" 2
start_decode "$dp" "$pp" --kv-pages 8 --page-size 16        # 128 tokens in all
wait_healthy "$pp"; wait_healthy "$dp"
if client generate --decode 127.0.0.1:"$dp" --prompt-lengths 100 --max-new-tokens 100 2>"$work/err.txt" >/dev/null; then
  fail "a request needing 13 pages was accepted by an 8-page cache"
fi
grep -q "RESOURCE_EXHAUSTED" "$work/err.txt" || fail "expected RESOURCE_EXHAUSTED: $(cat "$work/err.txt")"
grep -q "KV cache full" "$work/err.txt" || fail "error should say the KV cache is full: $(cat "$work/err.txt")"
# Four requests of 4 pages each at once: at most two fit; the others are refused, none crash.
client generate --decode 127.0.0.1:"$dp" --prompt-lengths 40 --max-new-tokens 24 --num-requests 4 --concurrency 4 \
  >"$work/burst.txt" 2>"$work/burst.err" || true
grep -q "RESOURCE_EXHAUSTED" "$work/burst.err" || echo "note: the burst fit without refusals (timing)"
kill -0 "$decode_pid" || fail "decode daemon exited"
client generate --decode 127.0.0.1:"$dp" --prompt-lengths 20 --max-new-tokens 10 --verify --model tiny >/dev/null || fail "later request failed"
client stats --target 127.0.0.1:"$dp" >"$work/stats.json"
[ "$(json_field "$work/stats.json" "j['free_kv_pages'] == 8")" = "True" ] || fail "pages leaked: $(cat "$work/stats.json")"
echo "ok: oversized request refused with RESOURCE_EXHAUSTED; later requests served; no page leaked"
