#!/usr/bin/env bash
# Automatic prefix caching end to end, through the real `openai` SDK: a 2-rank prefill with it (16-token
# pages, a 1536-token cache so later prompts evict earlier pages) and a 1-rank prefill without it, each
# behind its own decode daemon and gateway. Repeated, multi-turn and streamed chats report
# prompt_tokens_details.cached_tokens and answer exactly what the stack without the cache answers; a
# cache_salt shares pages only under the same salt; prompt_logprobs requests reuse nothing; the
# prefill's prefix-cache counters add up.
source "$(dirname "$0")/common.bash"
py=$("$root/scripts/python-env" venv openai prometheus_client requests)
pp=$(free_port); dp=$(free_port); gp=$(free_port); pmp=$(free_port)
rp=$(free_port); rdp=$(free_port); rgp=$(free_port); rmp=$(free_port)
start_prefill "$pp" 2 --page-size 16 --cache-tokens 1536 --metrics-listen 127.0.0.1:"$pmp"
start_prefill "$rp" 1 --no-enable-prefix-caching --metrics-listen 127.0.0.1:"$rmp"
start_decode "$dp" "$pp"
start_decode "$rdp" "$rp"
wait_healthy "$pp"; wait_healthy "$dp"; wait_healthy "$rp"; wait_healthy "$rdp"
start_gateway "$gp" 127.0.0.1:"$dp" --enable-prompt-tokens-details
start_gateway "$rgp" 127.0.0.1:"$rdp"
wait_gateway "$gp"; wait_gateway "$rgp"

CACHED=127.0.0.1:$gp PLAIN=127.0.0.1:$rgp PREFILL_METRICS=$pmp PLAIN_PREFILL_METRICS=$rmp PAGE=16 CACHE_TOKENS=1536 \
  "$py" "$root/Tests/Integration/prefix_cache.py" || fail "prefix cache checks"
expect_pages_returned "$dp"
expect_pages_returned "$rdp"
echo "ok: prefix caching end to end (see the checks above)"
