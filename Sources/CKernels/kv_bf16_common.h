// What the bf16 latent-cache kernels (kv_bf16_*.c) share: the row block and the scalar definition
// every variant reproduces bit for bit.
//
// Decode attention's value side over a bf16 cache is o[h, c] = Σ_j p[h, j] · V[j, c]: for each
// output element one FMA chain in j order, starting from 0 (or from o when accumulating). Vectors
// only run several (h, c) chains side by side, never reassociate a chain, so the AVX2 and AVX-512
// variants and ck_bf16_weighted_rows_scalar give the same bits, and a sequence split into page runs
// (accumulate) gives the same bits as one run.
#ifndef CK_KV_BF16_COMMON_H
#define CK_KV_BF16_COMMON_H
#include "weight_common.h"
#pragma STDC FP_CONTRACT OFF

/// Cache rows per pass over the heads: a 64-column strip of 128 bf16 rows is 16 KiB, which stays in
/// L1 while every head group reads it.
#define CK_KV_ROW_BLOCK 128
/// Heads whose chains run side by side (accumulators: 6 × the column vectors of a tile).
#define CK_KV_HEAD_GROUP 6

/// The definition: o[h, c] (= or +=) Σ_j p[h·ldp + j] · V[j, c], one fmaf per term in j order.
static inline __attribute__((always_inline)) void ck_kv_weighted_scalar(const float *p, long heads, long ldp, const uint16_t *v,
                                                                       long count, long ldv, long c0, long c1, float *o, long ldo,
                                                                       int accumulate) {
    for (long h = 0; h < heads; h++) {
        for (long c = c0; c < c1; c++) {
            float acc = accumulate ? o[h * ldo + c] : 0.0f;
            for (long j = 0; j < count; j++) acc = fmaf(p[h * ldp + j], ck_bf16_float(v[j * ldv + c]), acc);
            o[h * ldo + c] = acc;
        }
    }
}
#endif
