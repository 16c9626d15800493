// Decode attention's value side over a bf16 latent cache for AVX-512 (F + VL + BW + DQ): tiles of
// ≤ 6 heads × 64 columns (24 accumulators), each cache row's 64 bf16 converted once (a 16-bit shift)
// and used by every head of the tile; column tails are masked. Rows go in blocks of
// CK_KV_ROW_BLOCK so a tile's column strip stays in L1 across the head groups. Bit-identical to
// the scalar definition (kv_bf16_common.h). 512-bit vectors here (unlike the weight kernels): the
// strip is read from L1, and the cache's rows start 64-byte aligned (pages are; 576 · 2 bytes is
// 18 lines).
#include "kv_bf16_common.h"
#pragma STDC FP_CONTRACT OFF

#define AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,fma")))
#define INLINE static inline __attribute__((always_inline))

/// 16 bf16 at p as f32; lanes outside `mask` are zero (and not read).
INLINE AVX512 __m512 bf16x16(const uint16_t *p, __mmask16 mask) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(mask, p)), 16));
}

/// Heads h0..<h0+G, columns c..<c+64 (lanes per `mask[4]`), rows j0..<j1.
INLINE AVX512 void tile(const int G, const float *p, long ldp, const uint16_t *v, long ldv, long j0, long j1, long c,
                        const __mmask16 *mask, float *o, long ldo, int fromZero) {
    __m512 acc[CK_KV_HEAD_GROUP][4];
    for (int g = 0; g < G; g++)
        for (int q = 0; q < 4; q++)
            acc[g][q] = fromZero ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(mask[q], o + g * ldo + c + 16 * q);
    for (long j = j0; j < j1; j++) {
        const uint16_t *row = v + j * ldv + c;
        __m512 u[4];
        for (int q = 0; q < 4; q++) u[q] = bf16x16(row + 16 * q, mask[q]);
        for (int g = 0; g < G; g++) {
            const __m512 s = _mm512_set1_ps(p[g * ldp + j]);
            for (int q = 0; q < 4; q++) acc[g][q] = _mm512_fmadd_ps(s, u[q], acc[g][q]);
        }
    }
    for (int g = 0; g < G; g++)
        for (int q = 0; q < 4; q++) _mm512_mask_storeu_ps(o + g * ldo + c + 16 * q, mask[q], acc[g][q]);
}

AVX512 void ck_bf16_weighted_rows_avx512(const float *p, long heads, long ldp, const uint16_t *v, long count, long ldv,
                                         long n, float *o, long ldo, int accumulate) {
    if (heads <= 0 || n <= 0) return;
    if (count <= 0) {
        if (!accumulate) for (long h = 0; h < heads; h++) memset(o + h * ldo, 0, (size_t)n * sizeof(float));
        return;
    }
    for (long j0 = 0; j0 < count; j0 += CK_KV_ROW_BLOCK) {
        const long j1 = j0 + CK_KV_ROW_BLOCK < count ? j0 + CK_KV_ROW_BLOCK : count;
        const int fromZero = j0 == 0 && !accumulate;
        for (long c = 0; c < n; c += 64) {
            __mmask16 mask[4];
            for (int q = 0; q < 4; q++) {
                const long left = n - c - 16 * q;
                mask[q] = left >= 16 ? (__mmask16)0xFFFF : left <= 0 ? (__mmask16)0 : (__mmask16)((1u << left) - 1);
            }
            for (long h = 0; h < heads; h += CK_KV_HEAD_GROUP) {
                const float *ph = p + h * ldp;
                float *oh = o + h * ldo;
                switch (heads - h < CK_KV_HEAD_GROUP ? heads - h : CK_KV_HEAD_GROUP) {
                case 1: tile(1, ph, ldp, v, ldv, j0, j1, c, mask, oh, ldo, fromZero); break;
                case 2: tile(2, ph, ldp, v, ldv, j0, j1, c, mask, oh, ldo, fromZero); break;
                case 3: tile(3, ph, ldp, v, ldv, j0, j1, c, mask, oh, ldo, fromZero); break;
                case 4: tile(4, ph, ldp, v, ldv, j0, j1, c, mask, oh, ldo, fromZero); break;
                case 5: tile(5, ph, ldp, v, ldv, j0, j1, c, mask, oh, ldo, fromZero); break;
                default: tile(6, ph, ldp, v, ldv, j0, j1, c, mask, oh, ldo, fromZero); break;
                }
            }
        }
    }
}
