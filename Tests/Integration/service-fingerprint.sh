#!/usr/bin/env bash
# A decode daemon and a prefill daemon serving different models refuse to exchange KV: another
# architecture, and the same checkpoint with one weight changed by one ulp (the fingerprint hashes
# weight contents). An exact copy of the prefill's model in another folder is accepted.
source "$(dirname "$0")/common.bash"
pp=$(free_port)
start_prefill "$pp" 2                                   # tiny
wait_healthy "$pp"

# expect_refused DECODE_PORT LABEL
expect_refused() {
  if client generate --decode 127.0.0.1:"$1" --prompt-ids 3,17,42 --max-new-tokens 4 >/dev/null 2>"$work/err.txt"; then
    fail "KV accepted across different models ($2)"
  fi
  grep -q "FAILED_PRECONDITION" "$work/err.txt" && grep -q "fingerprint" "$work/err.txt" || fail "unclear refusal ($2): $(cat "$work/err.txt")"
}

dp=$(free_port)
MODEL="$root/Tests/DeepSeekModelTests/Golden/v3_qlora_yarn_moe" start_decode "$dp" "$pp"
wait_answering "$dp"
# Readiness: no prefill serves its model, so it never reports SERVING (probes every 2 s).
sleep 3
client health --target 127.0.0.1:"$dp" --timeout 2 >/dev/null 2>&1 && fail "decode says SERVING next to a prefill of another model"
grep -q "serves another model" "$work/decode-$dp.log" || fail "decode did not log the model mismatch"
expect_refused "$dp" "another architecture"

# Copies of the tiny checkpoint the prefill daemon materialized (the newest format version).
tiny=$(ls -d "${LATENTSERVE_MODEL_CACHE:-$HOME/.cache/latentserve/models}"/tiny-v* | sort -V | tail -1)
mkdir "$work/tiny-copy" "$work/tiny-tweaked"
cp "$tiny/config.json" "$tiny/model.safetensors" "$work/tiny-copy/"
cp "$tiny/config.json" "$tiny/model.safetensors" "$work/tiny-tweaked/"
python3 - "$work/tiny-tweaked/model.safetensors" <<'PY'
import json, struct, sys
path = sys.argv[1]
with open(path, "r+b") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    entry = json.loads(f.read(n))["model.norm.weight"]
    f.seek(8 + n + entry["data_offsets"][0])
    (bits,) = struct.unpack("<I", f.read(4))
    f.seek(-4, 1)
    f.write(struct.pack("<I", bits + 1))                # the next float up: one ulp
PY
cmp -s "$tiny/model.safetensors" "$work/tiny-tweaked/model.safetensors" && fail "weight not changed"

dp2=$(free_port)
MODEL="$work/tiny-copy" start_decode "$dp2" "$pp"
wait_healthy "$dp2"
client generate --decode 127.0.0.1:"$dp2" --prompt-ids 3,17,42 --max-new-tokens 4 >/dev/null 2>"$work/err.txt" \
  || fail "the same weights in another folder refused: $(cat "$work/err.txt")"

dp3=$(free_port)
MODEL="$work/tiny-tweaked" start_decode "$dp3" "$pp"
wait_answering "$dp3"
expect_refused "$dp3" "one weight differs"

# --weights-memory auto, as the serving lines report it: the two prefill ranks share this host, so
# they map the files; a decode daemon alone with its model copies it onto huge pages (where the
# kernel offers them).
alone=mmap
grep -q '\[never\]' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null || alone=huge-pages
grep -q "serving Prefill.*weights_memory=mmap" "$work/prefill-$pp.log" || fail "prefill ranks on one host did not keep the mapping"
grep -q "serving Generate.*weights_memory=$alone" "$work/decode-$dp2.log" || fail "decode did not take $alone: $(grep serving "$work/decode-$dp2.log")"
kill -0 "$decode_pid" && kill -0 "$prefill_pid" || fail "a daemon exited"
echo "ok: mismatched model fingerprints (architecture, one weight) refused with FAILED_PRECONDITION; a copy accepted"
