#!/usr/bin/env bash
# Bytes from an independent gRPC client (grpcio from PyPI, raw messages, no generated stubs):
# oversized and non-UTF-8 ids, garbage bodies and unknown dtypes are refused with INVALID_ARGUMENT
# naming the field, identical texts for every bad dtype; nothing is stored or leaked; health Watch
# streams SERVING to that client; the daemons keep serving correct tokens.
source "$(dirname "$0")/common.bash"
py=$("$root/scripts/python-env" venv grpcio) || fail "no grpcio venv"
pp=$(free_port); dp=$(free_port)
start_prefill "$pp" 2
start_decode "$dp" "$pp"
wait_healthy "$pp"; wait_healthy "$dp"

cat >"$work/probe.py" <<'PY'
import sys, grpc
import raw_grpc
from raw_grpc import field, vfield, varint
decode, prefill = sys.argv[1], sys.argv[2]

def call(target, method, body, stream=False):
    return raw_grpc.call(target, None, method, body, stream=stream, timeout=20)

failures = []
# The prefill's model fingerprint: InfoResponse field 1 (a valid request must be answered).
code, info = call(prefill, "/latentserve.v1.Prefill/Info", b"")
assert code == "OK" and info[0] == 0x0A, (code, info)
fingerprint = info[2:2 + info[1]]
def expect(name, result, code, *needles):
    got_code, detail = result
    ok = got_code == code and all(n in (detail or "") for n in needles)
    print(("ok  " if ok else "BAD ") + f"{name}: {got_code} {detail!r}"[:300])
    if not ok: failures.append(name)

prompt = field(1, bytes([3, 17, 42]))
gen = "/latentserve.v1.Decode/Generate"
expect("oversized client_request_id", call(decode, gen, prompt + vfield(2, 4) + field(4, b"x" * (40 << 20 >> 8))),
       "INVALID_ARGUMENT", "client_request_id", "at most 256 bytes")
expect("non-UTF-8 client_request_id", call(decode, gen, prompt + vfield(2, 4) + field(4, b"\xff\xfe\x00bad"), stream=True),
       "INVALID_ARGUMENT", "client_request_id", "valid UTF-8")
expect("garbage Stats body", call(decode, "/latentserve.v1.Decode/Stats", b"\xff\xff\xff\xff"), "INVALID_ARGUMENT", "StatsRequest")
expect("garbage Info body", call(prefill, "/latentserve.v1.Prefill/Info", b"\xff\xff\xff\xff"), "INVALID_ARGUMENT", "InfoRequest")
texts = []
for dtype in (0, 99):
    body = field(1, b"probe") + field(2, bytes([3, 17])) + field(3, fingerprint) + vfield(4, dtype) + vfield(6, 16)
    code, detail = call(prefill, "/latentserve.v1.Prefill/Prefill", body, stream=True)
    expect(f"Prefill dtype {dtype}", (code, detail), "INVALID_ARGUMENT", "PrefillRequest.dtype", "expected 1 (f32) or 2 (bf16)")
    texts.append((detail or "").split(", found")[0])
if texts[0] != texts[1]:
    print(f"BAD dtype texts differ: {texts}"); failures.append("dtype texts")
# An oversized body is refused without the server buffering all of it (memory quota).
with grpc.insecure_channel(decode, options=[("grpc.max_send_message_length", -1)]) as ch:
    stats = ch.unary_unary("/latentserve.v1.Decode/Stats", request_serializer=lambda b: b, response_deserializer=lambda b: b)
    try:
        stats(b"x" * (300 << 20), timeout=60); result = ("OK", "accepted")
    except grpc.RpcError as e:
        result = (e.code().name, e.details())
    expect("300 MiB body", result, "RESOURCE_EXHAUSTED")
with grpc.insecure_channel(decode) as ch:
    watch = ch.unary_stream("/grpc.health.v1.Health/Watch", request_serializer=lambda b: b, response_deserializer=lambda b: b)
    first = next(iter(watch(field(1, b"latentserve.v1.Decode"), timeout=10)))
    expect("health Watch", ("OK", "serving" if first == b"\x08\x01" else repr(first)), "OK", "serving")
sys.exit(1 if failures else 0)
PY
hwm() { awk '/VmHWM/ {print $2}' /proc/"$1"/status; }
hwm_before=$(hwm "$decode_pid")
PYTHONPATH="$root/Tests/Integration" "$py" "$work/probe.py" 127.0.0.1:"$dp" 127.0.0.1:"$pp" || fail "an untrusted input was not refused as it should be"

# Without the quota the 300 MiB body raised the peak by ~310 MB; with it by ~100 MB.
grown=$(( ($(hwm "$decode_pid") - hwm_before) / 1024 ))
[ "$grown" -lt 200 ] || fail "a refused 300 MiB message raised decode's peak RSS by $grown MB"
# The refused requests left nothing behind; the daemons still serve exact tokens.
client generate --decode 127.0.0.1:"$dp" --prompt-ids 3,17,42 --max-new-tokens 4 --ignore-eos --verify --model tiny >/dev/null \
  || fail "daemons stopped serving correctly"
client stats --target 127.0.0.1:"$dp" >"$work/stats.json"
[ "$(json_field "$work/stats.json" "j['free_kv_pages'] == j['total_kv_pages']")" = "True" ] || fail "pages leaked"
[ "$(json_field "$work/stats.json" "all(len(r['request_id']) <= 256 for r in j['recent'])")" = "True" ] || fail "an oversized id reached the stats"
kill -0 "$decode_pid" || fail "decode daemon exited"; kill -0 "$prefill_pid" || fail "prefill daemon exited"
echo "ok (peak RSS +${grown} MB for a refused 300 MiB body): untrusted ids, bodies and dtypes refused with INVALID_ARGUMENT naming the field; Watch serves grpcio; nothing leaked"
