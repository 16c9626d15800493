// Decode attention's value side over f32 or bf16 latent-cache rows for AVX2 + FMA: tiles of ≤ 6 heads
// × 16 columns (12 accumulators of the 16 registers), each cache row's 16 values loaded (bf16: a
// 16-bit shift) once and used by every head of the tile; a column tail under 16 runs the scalar
// definition. Rows go in blocks of CK_KV_ROW_BLOCK so a strip stays in L1 across the head groups.
// Bit-identical to the scalar definition (kv_weighted_common.h).
#include "kv_weighted_common.h"
#pragma STDC FP_CONTRACT OFF

#define AVX2 __attribute__((target("avx2,fma")))
#define INLINE static inline __attribute__((always_inline))

/// Cache row j's 8 values from column c as f32.
INLINE AVX2 __m256 values8(const int dt, const void *v, long ldv, long j, long c) {
    if (dt == CK_WEIGHT_F32) return _mm256_loadu_ps((const float *)v + j * ldv + c);
    const __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)v + j * ldv + c));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

/// Heads h0..<h0+G, columns c..<c+16, rows j0..<j1.
INLINE AVX2 void tile(const int dt, const int G, const float *p, long ldp, const void *v, long ldv, long j0, long j1, long c,
                      float *o, long ldo, int fromZero) {
    __m256 acc[CK_KV_HEAD_GROUP][2];
    for (int g = 0; g < G; g++)
        for (int q = 0; q < 2; q++) acc[g][q] = fromZero ? _mm256_setzero_ps() : _mm256_loadu_ps(o + g * ldo + c + 8 * q);
    for (long j = j0; j < j1; j++) {
        const __m256 u0 = values8(dt, v, ldv, j, c), u1 = values8(dt, v, ldv, j, c + 8);
        for (int g = 0; g < G; g++) {
            const __m256 s = _mm256_broadcast_ss(p + g * ldp + j);
            acc[g][0] = _mm256_fmadd_ps(s, u0, acc[g][0]);
            acc[g][1] = _mm256_fmadd_ps(s, u1, acc[g][1]);
        }
    }
    for (int g = 0; g < G; g++)
        for (int q = 0; q < 2; q++) _mm256_storeu_ps(o + g * ldo + c + 8 * q, acc[g][q]);
}

INLINE AVX2 void weighted_rows(const int dt, const float *p, long heads, long ldp, const void *v, long count, long ldv,
                               long n, float *o, long ldo, int accumulate) {
    const long vectorColumns = n & ~15L;
    for (long j0 = 0; j0 < count; j0 += CK_KV_ROW_BLOCK) {
        const long j1 = j0 + CK_KV_ROW_BLOCK < count ? j0 + CK_KV_ROW_BLOCK : count;
        const int fromZero = j0 == 0 && !accumulate;
        for (long c = 0; c < vectorColumns; c += 16) {
            for (long h = 0; h < heads; h += CK_KV_HEAD_GROUP) {
                const float *ph = p + h * ldp;
                float *oh = o + h * ldo;
                switch (heads - h < CK_KV_HEAD_GROUP ? heads - h : CK_KV_HEAD_GROUP) {
                case 1: tile(dt, 1, ph, ldp, v, ldv, j0, j1, c, oh, ldo, fromZero); break;
                case 2: tile(dt, 2, ph, ldp, v, ldv, j0, j1, c, oh, ldo, fromZero); break;
                case 3: tile(dt, 3, ph, ldp, v, ldv, j0, j1, c, oh, ldo, fromZero); break;
                case 4: tile(dt, 4, ph, ldp, v, ldv, j0, j1, c, oh, ldo, fromZero); break;
                case 5: tile(dt, 5, ph, ldp, v, ldv, j0, j1, c, oh, ldo, fromZero); break;
                default: tile(dt, 6, ph, ldp, v, ldv, j0, j1, c, oh, ldo, fromZero); break;
                }
            }
        }
    }
    // Columns past the last 16: the definition itself (same chains, same bits).
    if (vectorColumns < n) ck_kv_weighted_scalar(dt, p, heads, ldp, v, count, ldv, vectorColumns, n, o, ldo, accumulate);
}

AVX2 void ck_kv_weighted_rows_avx2(const float *p, long heads, long ldp, const void *v, int dtype, long count, long ldv,
                                   long n, float *o, long ldo, int accumulate) {
    if (ck_kv_weighted_empty(heads, count, n, o, ldo, accumulate)) return;
    if (dtype == CK_WEIGHT_F32) weighted_rows(CK_WEIGHT_F32, p, heads, ldp, v, count, ldv, n, o, ldo, accumulate);
    else weighted_rows(CK_WEIGHT_BF16, p, heads, ldp, v, count, ldv, n, o, ldo, accumulate);
}
