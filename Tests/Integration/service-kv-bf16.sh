#!/usr/bin/env bash
# A bf16 latent KV cache on the decode daemon (--kv-dtype bf16): twice the pages in the same bytes
# (--kv-cache-bytes), and exactly the tokens of the reference generation with --kv-dtype bf16
# (pd-run's code path: prefill over f32 as the prefill daemon runs it, the prompt's rows rounded to
# bf16 where the daemon stores them, decode over bf16) — greedy, seeded, and whether the prompt KV
# came over an f32 or a bf16 wire (the rounding happens at one point either way).
source "$(dirname "$0")/common.bash"
pp=$(free_port); d32=$(free_port); d16=$(free_port); d16w=$(free_port)
start_prefill "$pp" 2
# tiny: 3 layers × 16 tokens × 48 values = 9216 bytes per f32 page, 4608 per bf16 page.
bytes=$((9216 * 300))
start_decode "$d32" "$pp" --kv-cache-bytes "$bytes"
start_decode "$d16" "$pp" --kv-cache-bytes "$bytes" --kv-dtype bf16
start_decode "$d16w" "$pp" --kv-pages 600 --kv-dtype bf16 --wire-dtype bf16
for p in "$pp" "$d32" "$d16" "$d16w"; do wait_healthy "$p"; done

client stats --target 127.0.0.1:"$d32" >"$work/s32.json"; client stats --target 127.0.0.1:"$d16" >"$work/s16.json"
pages32=$(json_field "$work/s32.json" "j['total_kv_pages']"); pages16=$(json_field "$work/s16.json" "j['total_kv_pages']")
[ "$pages32" = 300 ] && [ "$pages16" = 600 ] || fail "--kv-cache-bytes $bytes: f32 $pages32 pages, bf16 $pages16 (expected 300 and 600)"
grep -q "kv_dtype=bf16 kv_pages=600" "$work/decode-$d16.log" || fail "the bf16 daemon does not log its KV dtype and pages"

# Greedy, 8 concurrent mixed lengths, against the bf16-KV reference.
client generate --decode 127.0.0.1:"$d16" --prompt-lengths 1,3,5,17,40,97,160,33 --num-requests 8 --concurrency 8 \
  --max-new-tokens 12 --ignore-eos --verify --model tiny --kv-dtype bf16 --json >"$work/greedy.json" \
  || fail "bf16 KV greedy generate/verify failed: $(cat "$work/greedy.json")"
[ "$(json_field "$work/greedy.json" "j['verified'] and len(j['results']) == 8 and all(len(r['tokens']) == 12 for r in j['results'])")" = "True" ] \
  || fail "bf16 KV: tokens differ from pd-run --kv-dtype bf16's: $(cat "$work/greedy.json")"
# Seeded sampling continues the prefill's stream over the bf16 cache as the reference does.
client generate --decode 127.0.0.1:"$d16" --prompt-lengths 5,40,160 --num-requests 3 --concurrency 3 --max-new-tokens 16 \
  --temperature 0.9 --top-k 40 --top-p 0.9 --seed 11 --verify --model tiny --kv-dtype bf16 --json >"$work/seeded.json" \
  || fail "bf16 KV seeded generate/verify failed"
[ "$(json_field "$work/seeded.json" "j['verified']")" = "True" ] || fail "bf16 KV: seeded tokens differ from the reference"

# pd-run --kv-dtype bf16 itself (the CLI) gives the daemon's tokens, over either wire.
ids=5,99,300,7,42,511,0,13,260,77,3,401,402,403,404,405,406,407,408,409,410
"$bin/pd-run" --model tiny --prompt-ids "$ids" --max-new-tokens 24 --ignore-eos --kv-dtype bf16 --json >"$work/run16.json" \
  || fail "pd-run --kv-dtype bf16 failed"
"$bin/pd-run" --model tiny --prompt-ids "$ids" --max-new-tokens 24 --ignore-eos --json >"$work/run32.json" || fail "pd-run failed"
for port in "$d16" "$d16w"; do
  client generate --decode 127.0.0.1:"$port" --prompt-ids "$ids" --max-new-tokens 24 --ignore-eos --json >"$work/gen-$port.json" \
    || fail "generate on $port failed"
  want=$(json_field "$work/run16.json" "j['tokens']"); got=$(json_field "$work/gen-$port.json" "j['result']['tokens']")
  [ "$got" = "$want" ] || fail "decode on $port: $got, pd-run --kv-dtype bf16: $want"
done
[ "$(json_field "$work/run16.json" "j['kv_dtype']")" = bf16 ] || fail "pd-run --json does not report kv_dtype bf16"
# The prefill is f32 in both: the first token and the prompt's last logits are the same bits.
[ "$(json_field "$work/run16.json" "j['last_logits'] == json.load(open('$work/run32.json'))['last_logits']")" = "True" ] \
  || fail "pd-run --kv-dtype bf16 changed the prefill's logits"

for p in "$d32" "$d16" "$d16w"; do expect_pages_returned "$p"; done
echo "ok: --kv-cache-bytes $bytes holds $pages32 f32 / $pages16 bf16 pages; bf16-KV decode equals pd-run --kv-dtype bf16 (greedy 8 concurrent, seeded, f32 and bf16 wire); the prefill's logits unchanged"
