#!/usr/bin/env bash
# The guide's "no per-token allocation in decode" on the release build: warm decode steps (batch 1,
# 8, 20 and 40, dense and MoE, f32 / bf16 / f16 / FP8), the sgemm paths beyond the skinny kernels and
# the sampler (greedy, top-k / top-p, every logits processor, json_object and JSON Schema masks)
# allocate nothing of ours, with either GEMM backend. See Tests/AllocationCheck/main.swift.
source "$(dirname "$0")/common.bash"
for backend in openblas onednn; do
  LATENTSERVE_GEMM=$backend "$bin/allocation-check" "$root/Tests/DeepSeekModelTests/Golden" "$work/models" >"$work/out.txt" 2>&1 \
    || fail "allocation-check (LATENTSERVE_GEMM=$backend): $(grep -E "FAIL|rror" "$work/out.txt" | head -5)"
  grep -q "^allocation-check: all passed$" "$work/out.txt" \
    || fail "allocation-check (LATENTSERVE_GEMM=$backend) printed no verdict: $(tail -3 "$work/out.txt")"
  echo "ok: LATENTSERVE_GEMM=$backend: $(grep -c '^ok:' "$work/out.txt") checks, nothing of ours allocates in a warm decode step or a split sgemm"
done
