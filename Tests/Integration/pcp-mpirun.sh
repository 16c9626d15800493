#!/usr/bin/env bash
# PCP prefill under real MPI: pd-run with mpirun -np 2 and -np 3 (oversubscribed, one BLAS thread
# per rank) against the single-process run; a golden HF checkpoint under PCP; chunked prefill;
# each GEMM backend; a bad model folder ends the job with one clear line, not a hang.
source "$(dirname "$0")/common.bash"
golden="$root/Tests/DeepSeekModelTests/Golden"

compare() { logits_close "$1" "$2" 1e-5 "$3"; }  # A.json B.json WHAT: last_logits within 1e-5 relative, same tokens

prompt() { python3 -c "print(','.join(str((i * 131 + $2) % 512) for i in range($1)))"; }
for n in 1 5 6 7 97 300; do
  ids=$(prompt "$n" 5)
  "$bin/pd-run" --model tiny --prompt-ids "$ids" --max-new-tokens 8 --json >"$work/single.json" || fail "single-process run (n=$n)"
  for p in 2 3; do
    mpirun -np $p --oversubscribe --bind-to none "$bin/pd-run" --model tiny --prompt-ids "$ids" --max-new-tokens 8 --json \
      >"$work/pcp.json" 2>"$work/pcp.err" || fail "mpirun -np $p (n=$n): $(cat "$work/pcp.err")"
    [ "$(json_field "$work/pcp.json" "j['pcp_ranks']")" = "$p" ] || fail "pcp_ranks"
    [ "$(json_field "$work/pcp.json" "j['latent_allgathers']")" = "3" ] || fail "one all-gather per layer expected"
    compare "$work/single.json" "$work/pcp.json" "n=$n P=$p"
  done
done

# Chunked prefill under PCP equals the unchunked single-process run.
ids=$(prompt 150 9)
"$bin/pd-run" --model tiny --prompt-ids "$ids" --max-new-tokens 8 --json >"$work/single.json"
mpirun -np 2 --oversubscribe --bind-to none "$bin/pd-run" --model tiny --prompt-ids "$ids" --max-new-tokens 8 --chunk-tokens 32 --json \
  >"$work/chunked.json" || fail "chunked run"
compare "$work/single.json" "$work/chunked.json" "chunked 150 tokens by 32, P=2"

# A golden HF checkpoint under PCP: the 300-token prompt of v3_qlora_yarn_moe (greedy tokens made
# without an EOS stop, hence --ignore-eos).
case_dir="$golden/v3_qlora_yarn_moe"
ids=$(json_field "$case_dir/expected.json" "','.join(map(str, max(j['cases'], key=lambda c: len(c['prompt_ids']))['prompt_ids']))")
mpirun -np 3 --oversubscribe --bind-to none "$bin/pd-run" --model "$case_dir" --prompt-ids "$ids" --max-new-tokens 16 --ignore-eos --json \
  >"$work/golden.json" || fail "golden run under PCP"
logits_close "$case_dir/expected.json" "$work/golden.json" 1e-3 "golden v3_qlora_yarn_moe, 300 tokens, P=3, vs transformers" \
  "max(j['cases'], key=lambda c: len(c['prompt_ids']))"

# Checkpoints stored as BF16 and as FP8 blocks, weights kept as stored (mapped): P = 2, 3, 4 under
# mpirun match transformers' fp32 logits on the values the files encode within 1e-4 relative.
for stored in v3_bf16_hub v3_fp8; do
  case_dir="$golden/$stored"
  ids=$(json_field "$case_dir/expected.json" "','.join(map(str, max(j['cases'], key=lambda c: len(c['prompt_ids']))['prompt_ids']))")
  for p in 2 3 4; do
    mpirun -np $p --oversubscribe --bind-to none "$bin/pd-run" --model "$case_dir" --prompt-ids "$ids" --max-new-tokens 16 --ignore-eos --json \
      >"$work/stored.json" || fail "$stored under PCP, P=$p"
    logits_close "$case_dir/expected.json" "$work/stored.json" 1e-4 "$stored, P=$p, vs transformers" \
      "max(j['cases'], key=lambda c: len(c['prompt_ids']))"
  done
done

# Each GEMM backend (the CPU picks one by itself; LATENTSERVE_GEMM forces it): the BF16 checkpoint in
# one process and at P = 2 against transformers; an unknown backend is one clear line.
case_dir="$golden/v3_bf16_hub"
ids=$(json_field "$case_dir/expected.json" "','.join(map(str, max(j['cases'], key=lambda c: len(c['prompt_ids']))['prompt_ids']))")
for gemm in openblas onednn; do
  LATENTSERVE_GEMM=$gemm "$bin/pd-run" --model "$case_dir" --prompt-ids "$ids" --max-new-tokens 16 --ignore-eos --json \
    >"$work/gemm.json" || fail "LATENTSERVE_GEMM=$gemm, one process"
  logits_close "$case_dir/expected.json" "$work/gemm.json" 1e-4 "v3_bf16_hub, LATENTSERVE_GEMM=$gemm, vs transformers" \
    "max(j['cases'], key=lambda c: len(c['prompt_ids']))"
  mpirun -np 2 --oversubscribe --bind-to none -x LATENTSERVE_GEMM=$gemm "$bin/pd-run" --model "$case_dir" --prompt-ids "$ids" \
    --max-new-tokens 16 --ignore-eos --json >"$work/gemm.json" || fail "LATENTSERVE_GEMM=$gemm, P=2"
  logits_close "$case_dir/expected.json" "$work/gemm.json" 1e-4 "v3_bf16_hub, LATENTSERVE_GEMM=$gemm, P=2, vs transformers" \
    "max(j['cases'], key=lambda c: len(c['prompt_ids']))"
done
if LATENTSERVE_GEMM=mkl "$bin/pd-run" --model tiny --prompt-ids 1,2 >"$work/gemm.out" 2>"$work/gemm.err"; then fail "LATENTSERVE_GEMM=mkl accepted"; fi
grep -q "LATENTSERVE_GEMM=mkl is not one of auto, openblas, onednn" "$work/gemm.err" || fail "unclear error: $(cat "$work/gemm.err")"
[ "$(wc -l <"$work/gemm.err")" -eq 1 ] || fail "more than one line: $(cat "$work/gemm.err")"

# A bad model folder: every rank fails the same way; one clear line, non-zero exit, no hang.
start=$(date +%s)
if timeout 60 mpirun -np 2 --oversubscribe --bind-to none "$bin/pd-run" --model "$work/no-such-model" --prompt-ids 1,2 \
    >"$work/bad.out" 2>"$work/bad.err"; then fail "bad model folder accepted"; fi
[ $(( $(date +%s) - start )) -lt 60 ] || fail "bad model folder hung the job"
grep -q "no-such-model" "$work/bad.err" || fail "unclear error: $(cat "$work/bad.err")"
echo "ok: PCP under mpirun matches single-process runs, the golden checkpoints (f32, BF16, FP8 kept as stored; both GEMM backends), and chunked prefill"
