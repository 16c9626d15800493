// Decode attention's value side over a bf16 latent cache for AVX2 + FMA: tiles of ≤ 6 heads × 16
// columns (12 accumulators of the 16 registers), each cache row's 16 bf16 converted once (a 16-bit
// shift) and used by every head of the tile; a column tail under 16 runs the scalar definition.
// Rows go in blocks of CK_KV_ROW_BLOCK so a strip stays in L1 across the head groups.
// Bit-identical to the scalar definition (kv_bf16_common.h).
#include "kv_bf16_common.h"
#pragma STDC FP_CONTRACT OFF

#define AVX2 __attribute__((target("avx2,fma")))
#define INLINE static inline __attribute__((always_inline))

/// 8 bf16 at p as f32.
INLINE AVX2 __m256 bf16x8(const uint16_t *p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}

/// Heads h0..<h0+G, columns c..<c+16, rows j0..<j1.
INLINE AVX2 void tile(const int G, const float *p, long ldp, const uint16_t *v, long ldv, long j0, long j1, long c,
                      float *o, long ldo, int fromZero) {
    __m256 acc[CK_KV_HEAD_GROUP][2];
    for (int g = 0; g < G; g++)
        for (int q = 0; q < 2; q++) acc[g][q] = fromZero ? _mm256_setzero_ps() : _mm256_loadu_ps(o + g * ldo + c + 8 * q);
    for (long j = j0; j < j1; j++) {
        const uint16_t *row = v + j * ldv + c;
        const __m256 u0 = bf16x8(row), u1 = bf16x8(row + 8);
        for (int g = 0; g < G; g++) {
            const __m256 s = _mm256_broadcast_ss(p + g * ldp + j);
            acc[g][0] = _mm256_fmadd_ps(s, u0, acc[g][0]);
            acc[g][1] = _mm256_fmadd_ps(s, u1, acc[g][1]);
        }
    }
    for (int g = 0; g < G; g++)
        for (int q = 0; q < 2; q++) _mm256_storeu_ps(o + g * ldo + c + 8 * q, acc[g][q]);
}

AVX2 void ck_bf16_weighted_rows_avx2(const float *p, long heads, long ldp, const uint16_t *v, long count, long ldv,
                                     long n, float *o, long ldo, int accumulate) {
    if (heads <= 0 || n <= 0) return;
    if (count <= 0) {
        if (!accumulate) for (long h = 0; h < heads; h++) memset(o + h * ldo, 0, (size_t)n * sizeof(float));
        return;
    }
    const long vectorColumns = n & ~15L;
    for (long j0 = 0; j0 < count; j0 += CK_KV_ROW_BLOCK) {
        const long j1 = j0 + CK_KV_ROW_BLOCK < count ? j0 + CK_KV_ROW_BLOCK : count;
        const int fromZero = j0 == 0 && !accumulate;
        for (long c = 0; c < vectorColumns; c += 16) {
            for (long h = 0; h < heads; h += CK_KV_HEAD_GROUP) {
                const float *ph = p + h * ldp;
                float *oh = o + h * ldo;
                switch (heads - h < CK_KV_HEAD_GROUP ? heads - h : CK_KV_HEAD_GROUP) {
                case 1: tile(1, ph, ldp, v, ldv, j0, j1, c, oh, ldo, fromZero); break;
                case 2: tile(2, ph, ldp, v, ldv, j0, j1, c, oh, ldo, fromZero); break;
                case 3: tile(3, ph, ldp, v, ldv, j0, j1, c, oh, ldo, fromZero); break;
                case 4: tile(4, ph, ldp, v, ldv, j0, j1, c, oh, ldo, fromZero); break;
                case 5: tile(5, ph, ldp, v, ldv, j0, j1, c, oh, ldo, fromZero); break;
                default: tile(6, ph, ldp, v, ldv, j0, j1, c, oh, ldo, fromZero); break;
                }
            }
        }
    }
    // Columns past the last 16: the definition itself (same chains, same bits).
    if (vectorColumns < n) ck_kv_weighted_scalar(p, heads, ldp, v, count, ldv, vectorColumns, n, o, ldo, accumulate);
}
