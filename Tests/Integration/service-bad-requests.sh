#!/usr/bin/env bash
# Malformed requests get INVALID_ARGUMENT naming the field; the daemon keeps serving.
source "$(dirname "$0")/common.bash"
pp=$(free_port); dp=$(free_port)
start_prefill "$pp" 2
start_decode "$dp" "$pp"
wait_healthy "$pp"; wait_healthy "$dp"

expect_invalid() {  # FIELD ARGS...: the request must fail with INVALID_ARGUMENT mentioning FIELD
  local field=$1; shift
  if client generate --decode 127.0.0.1:"$dp" "$@" >"$work/out.txt" 2>"$work/err.txt"; then fail "accepted: $*"; fi
  grep -q "INVALID_ARGUMENT" "$work/err.txt" || fail "no INVALID_ARGUMENT for $*: $(cat "$work/err.txt")"
  grep -q "$field" "$work/err.txt" || fail "error does not name $field: $(cat "$work/err.txt")"
}
expect_invalid prompt_token_ids --prompt-ids "" --max-new-tokens 4
expect_invalid prompt_token_ids --prompt-ids 3,512 --max-new-tokens 4          # tiny's vocab is 512
expect_invalid max_new_tokens --prompt-ids 3,17 --max-new-tokens 0
expect_invalid max_new_tokens --prompt-ids 3,17 --max-new-tokens 4095          # past the 4096 context
expect_invalid sampling.top_p --prompt-ids 3,17 --max-new-tokens 4 --top-p 2
expect_invalid sampling.temperature --prompt-ids 3,17 --max-new-tokens 4 --temperature=-1
# A schema or pattern the daemon cannot serve: compiled once at admission, refused by field.
expect_invalid sampling.json_schema --prompt-ids 3,17 --max-new-tokens 4 --json-schema '{"type": "string", "format": "uri-reference"}'
expect_invalid sampling.regex --prompt-ids 3,17 --max-new-tokens 4 --regex 'a(?=b)'
expect_invalid sampling.disable_any_whitespace --prompt-ids 3,17 --max-new-tokens 4 --regex 'ab' --disable-any-whitespace
expect_invalid "sampling.grammar: line 1 column 10: unterminated string" --prompt-ids 3,17 --max-new-tokens 4 --grammar 'root ::= "ab'
expect_invalid "sampling.grammar: rule 'root' is left-recursive" --prompt-ids 3,17 --max-new-tokens 4 --grammar 'root ::= root "a" | "b"'
# Still serving, and nothing leaked.
client generate --decode 127.0.0.1:"$dp" --prompt-ids 3,17,42 --max-new-tokens 4 --verify --model tiny >/dev/null || fail "daemon stopped serving"
expect_pages_returned "$dp"
kill -0 "$decode_pid" || fail "decode daemon exited"
echo "ok: 11 malformed requests refused with INVALID_ARGUMENT naming the field; daemon still serving"
