// Decode attention's value side over f32 or bf16 latent-cache rows for AVX-512 (F + VL + BW + DQ):
// tiles of ≤ 6 heads × 64 columns (24 accumulators), each cache row's 64 values loaded (bf16: a
// 16-bit shift) once and used by every head of the tile; column tails are masked. Rows go in blocks
// of CK_KV_ROW_BLOCK so a tile's column strip stays in L1 across the head groups. Bit-identical to
// the scalar definition (kv_weighted_common.h). 512-bit vectors here (unlike the weight kernels):
// the strip is read from L1, and the cache's rows start 64-byte aligned (pages are; a 576-value row
// is 18 lines in bf16, 36 in f32).
#include "kv_weighted_common.h"
#pragma STDC FP_CONTRACT OFF

#define AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,fma")))
#define INLINE static inline __attribute__((always_inline))

/// Cache row j's 16 values from column c as f32; lanes outside `mask` are zero (and not read).
INLINE AVX512 __m512 values16(const int dt, const void *v, long ldv, long j, long c, __mmask16 mask) {
    if (dt == CK_WEIGHT_F32) return _mm512_maskz_loadu_ps(mask, (const float *)v + j * ldv + c);
    const __m256i h = _mm256_maskz_loadu_epi16(mask, (const uint16_t *)v + j * ldv + c);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/// Heads h0..<h0+G, columns c..<c+64 (lanes per `mask[4]`), rows j0..<j1.
INLINE AVX512 void tile(const int dt, const int G, const float *p, long ldp, const void *v, long ldv, long j0, long j1, long c,
                        const __mmask16 *mask, float *o, long ldo, int fromZero) {
    __m512 acc[CK_KV_HEAD_GROUP][4];
    for (int g = 0; g < G; g++)
        for (int q = 0; q < 4; q++)
            acc[g][q] = fromZero ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(mask[q], o + g * ldo + c + 16 * q);
    for (long j = j0; j < j1; j++) {
        __m512 u[4];
        for (int q = 0; q < 4; q++) u[q] = values16(dt, v, ldv, j, c + 16 * q, mask[q]);
        for (int g = 0; g < G; g++) {
            const __m512 s = _mm512_set1_ps(p[g * ldp + j]);
            for (int q = 0; q < 4; q++) acc[g][q] = _mm512_fmadd_ps(s, u[q], acc[g][q]);
        }
    }
    for (int g = 0; g < G; g++)
        for (int q = 0; q < 4; q++) _mm512_mask_storeu_ps(o + g * ldo + c + 16 * q, mask[q], acc[g][q]);
}

INLINE AVX512 void weighted_rows(const int dt, const float *p, long heads, long ldp, const void *v, long count, long ldv,
                                 long n, float *o, long ldo, int accumulate) {
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
                case 1: tile(dt, 1, ph, ldp, v, ldv, j0, j1, c, mask, oh, ldo, fromZero); break;
                case 2: tile(dt, 2, ph, ldp, v, ldv, j0, j1, c, mask, oh, ldo, fromZero); break;
                case 3: tile(dt, 3, ph, ldp, v, ldv, j0, j1, c, mask, oh, ldo, fromZero); break;
                case 4: tile(dt, 4, ph, ldp, v, ldv, j0, j1, c, mask, oh, ldo, fromZero); break;
                case 5: tile(dt, 5, ph, ldp, v, ldv, j0, j1, c, mask, oh, ldo, fromZero); break;
                default: tile(dt, 6, ph, ldp, v, ldv, j0, j1, c, mask, oh, ldo, fromZero); break;
                }
            }
        }
    }
}

AVX512 void ck_kv_weighted_rows_avx512(const float *p, long heads, long ldp, const void *v, int dtype, long count, long ldv,
                                       long n, float *o, long ldo, int accumulate) {
    if (ck_kv_weighted_empty(heads, count, n, o, ldo, accumulate)) return;
    if (dtype == CK_WEIGHT_F32) weighted_rows(CK_WEIGHT_F32, p, heads, ldp, v, count, ldv, n, o, ldo, accumulate);
    else weighted_rows(CK_WEIGHT_BF16, p, heads, ldp, v, count, ldv, n, o, ldo, accumulate);
}
