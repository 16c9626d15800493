// What the latent-cache value kernels (kv_weighted_*.c) share: the row block and the scalar
// definition every variant reproduces bit for bit.
//
// Decode attention's value side is o[h, c] = Σ_j p[h, j] · V[j, c] over cache rows V stored as f32 or
// bf16: for each output element one FMA chain in j order, starting from 0 (or from o when
// accumulating). Vectors only run several (h, c) chains side by side, never reassociate a chain, so
// the AVX2 and AVX-512 variants and ck_kv_weighted_rows_scalar give the same bits, and a sequence split
// into page runs (accumulate) gives the same bits as one run.
#ifndef CK_KV_WEIGHTED_COMMON_H
#define CK_KV_WEIGHTED_COMMON_H
#include "weight_common.h"
#pragma STDC FP_CONTRACT OFF

/// Cache rows per pass over the heads: a 64-column strip of 128 bf16 rows is 16 KiB (f32: 32 KiB),
/// which stays in L1 while every head group reads it.
#define CK_KV_ROW_BLOCK 128
/// Heads whose chains run side by side (accumulators: 6 × the column vectors of a tile).
#define CK_KV_HEAD_GROUP 6

/// Element (j, c) of cache rows v (ldv elements apart) of dtype dt (CK_WEIGHT_F32 or CK_WEIGHT_BF16).
static inline __attribute__((always_inline)) float ck_kv_value(const int dt, const void *v, long ldv, long j, long c) {
    return dt == CK_WEIGHT_F32 ? ((const float *)v)[j * ldv + c] : ck_bf16_float(((const uint16_t *)v)[j * ldv + c]);
}

/// The definition: o[h, c] (= or +=) Σ_j p[h·ldp + j] · V[j, c], one fmaf per term in j order.
static inline __attribute__((always_inline)) void ck_kv_weighted_scalar(const int dt, const float *p, long heads, long ldp,
                                                                       const void *v, long count, long ldv, long c0, long c1,
                                                                       float *o, long ldo, int accumulate) {
    for (long h = 0; h < heads; h++) {
        for (long c = c0; c < c1; c++) {
            float acc = accumulate ? o[h * ldo + c] : 0.0f;
            for (long j = 0; j < count; j++) acc = fmaf(p[h * ldp + j], ck_kv_value(dt, v, ldv, j, c), acc);
            o[h * ldo + c] = acc;
        }
    }
}

/// count = 0: o is zeroed, or kept when accumulating. Returns whether there was nothing else to do.
static inline __attribute__((always_inline)) int ck_kv_weighted_empty(long heads, long count, long n, float *o, long ldo,
                                                                      int accumulate) {
    if (heads <= 0 || n <= 0) return 1;
    if (count > 0) return 0;
    if (!accumulate) for (long h = 0; h < heads; h++) memset(o + h * ldo, 0, (size_t)n * sizeof(float));
    return 1;
}
#endif
