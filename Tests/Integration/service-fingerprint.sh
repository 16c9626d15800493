#!/usr/bin/env bash
# A decode daemon and a prefill daemon serving different models refuse to exchange KV.
source "$(dirname "$0")/common.bash"
pp=$(free_port); dp=$(free_port)
start_prefill "$pp" 2                                   # tiny
MODEL="$root/Tests/DeepSeekModelTests/Golden/v3_qlora_yarn_moe" start_decode "$dp" "$pp"
wait_healthy "$pp"; wait_healthy "$dp"
if client generate --decode 127.0.0.1:"$dp" --prompt-ids 3,17,42 --max-new-tokens 4 >/dev/null 2>"$work/err.txt"; then
  fail "KV accepted across different models"
fi
grep -q "FAILED_PRECONDITION" "$work/err.txt" && grep -q "fingerprint" "$work/err.txt" || fail "unclear refusal: $(cat "$work/err.txt")"
kill -0 "$decode_pid" && kill -0 "$prefill_pid" || fail "a daemon exited"
echo "ok: mismatched model fingerprints refused with FAILED_PRECONDITION"
