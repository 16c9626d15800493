#!/usr/bin/env bash
# On a CPU without AVX2 + FMA + F16C (simulated with LATENTSERVE_ISA=baseline) the processes that run the
# model refuse to start with one clear line; pd-client, which never runs the kernels, still works.
source "$(dirname "$0")/common.bash"
want="LATENTSERVE_ISA=baseline: the model kernels need AVX2, FMA and F16C (x86-64-v3)"

# refuses NAME COMMAND...: exits non-zero and says `want` on stderr, in one line.
refuses() {
  local name=$1; shift
  if LATENTSERVE_ISA=baseline "$@" >"$work/out.txt" 2>"$work/err.txt"; then fail "$name started without AVX2"; fi
  grep -qF "$want" "$work/err.txt" || fail "$name: unclear refusal: $(cat "$work/err.txt")"
}
refuses pd-run "$bin/pd-run" --model tiny --prompt-ids 3,17,42 --max-new-tokens 2
refuses pd-bench "$bin/pd-bench" decode --model tiny --context 8 --steps 1 --batch 1
refuses pd-decode "$bin/pd-decode" --model tiny --listen 127.0.0.1:"$(free_port)" --prefill 127.0.0.1:"$(free_port)"
refuses pd-prefill mpirun -np 1 --oversubscribe --bind-to none "$bin/pd-prefill" --model tiny --listen 127.0.0.1:"$(free_port)"

pp=$(free_port)
start_prefill "$pp" 1
wait_healthy "$pp"
LATENTSERVE_ISA=baseline client health --target 127.0.0.1:"$pp" --timeout 5 >/dev/null 2>"$work/err.txt" \
  || fail "pd-client refused to run: $(cat "$work/err.txt")"
echo "ok: pd-run, pd-bench, pd-decode and pd-prefill refuse a CPU without AVX2 + FMA + F16C in one line; pd-client runs"
