#!/usr/bin/env bash
# The binaries built here on other CPUs, emulated by qemu-user: on a Haswell (AVX2 + FMA, no
# AVX-512) pd-run picks the AVX2 kernels by itself and computes exactly what this machine computes
# with LATENTSERVE_ISA=avx2 (OpenBLAS pinned to its Haswell kernels on both sides: it dispatches by
# CPU too); on a Westmere (no AVX) or a Haswell without F16C pd-run refuses in one line, and
# pd-client still works.
source "$(dirname "$0")/common.bash"
command -v qemu-x86_64 >/dev/null || fail "qemu-x86_64 not found (scripts/setup installs qemu-user)"
emulate() { local cpu=$1; shift; qemu-x86_64 -cpu "$cpu" "$@" 2> >(grep -v "^qemu-x86_64: warning" >&2); }
export OPENBLAS_CORETYPE=Haswell
run=(--model tiny --prompt-ids 3,17,42 --max-new-tokens 16 --json --threads 1)

LATENTSERVE_ISA=avx2 "$bin/pd-run" "${run[@]}" >"$work/native.json"
emulate Haswell "$bin/pd-run" "${run[@]}" >"$work/haswell.json"
same=$(python3 -c "
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
print(all(a[k] == b[k] for k in ('tokens', 'logprobs', 'last_logits')))" "$work/native.json" "$work/haswell.json")
[ "$same" = True ] || fail "pd-run on an emulated Haswell differs from the AVX2 kernels here"

# refuses CPU WHAT: pd-run exits non-zero on the emulated CPU with the one line "this CPU lacks WHAT: …".
refuses() {
  if emulate "$1" "$bin/pd-run" "${run[@]}" >/dev/null 2>"$work/err.txt"; then fail "pd-run started on $1"; fi
  grep -qF "pd-run: this CPU lacks $2: the model kernels need AVX2, FMA and F16C (x86-64-v3)" "$work/err.txt" \
    || fail "unclear refusal on $1: $(cat "$work/err.txt")"
  [ "$(grep -vc '^$' "$work/err.txt")" -eq 1 ] || fail "refusal on $1 is not one line: $(cat "$work/err.txt")"
}
refuses Westmere avx2,fma,f16c
refuses Haswell,-f16c f16c     # the f16 / FP8 weight kernels convert with vcvtph2ps

pp=$(free_port)
start_prefill "$pp" 1
wait_healthy "$pp"
# Up to 3 tries: under emulation gRPC's connection handshake now and then times out.
ok=0
for _ in 1 2 3; do
  emulate Westmere "$bin/pd-client" health --target 127.0.0.1:"$pp" --timeout 30 >"$work/health.txt" 2>"$work/err.txt" && { ok=1; break; }
done
[ $ok -eq 1 ] && grep -q serving "$work/health.txt" || fail "pd-client does not run on a CPU without AVX: $(cat "$work/err.txt")"
echo "ok: emulated Haswell runs the AVX2 kernels bit-identically; emulated Westmere and Haswell without F16C: pd-run refuses in one line; pd-client works on Westmere"
