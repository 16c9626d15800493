// Skinny linear over bf16 / f16 / FP8 E4M3 weights for AVX-512 (F + VL + BW + DQ): 16 weights per
// vector converted in registers (see weight_common.h), masked loads for every tail, f32 FMAs.
// P weight rows are streamed side by side and each converted vector is used for all R ≤ 8 x rows:
// the weights are read once. bf16/f16: P = 4 for R ≤ 2 (enough independent loads in flight; 8 for
// one x row over rows of ≥ 8 KiB), else 2.
// FP8 keeps a block partial next to each total, so P·R ≤ 8 per pass: P = 4 for R ≤ 2, else 2, and
// from 5 x rows two passes of x rows (4, R − 4) over the same weight rows (re-read from L1/L2).
// Each row is prefetched once per 64-byte line, 32 KiB ahead.
#include "weight_common.h"
#pragma STDC FP_CONTRACT OFF

#define AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,f16c,fma")))
#define INLINE static inline __attribute__((always_inline))

INLINE AVX512 __mmask16 first_lanes(long n) { return (__mmask16)((1u << n) - 1); }

/// 16 FP8 weights at p as f32 q · 2^-8; `fix`: NaN codes become NaN (else the caller knows there
/// are none); lanes past a `masked` tail are zero.
INLINE AVX512 __m512 fp8_16(const char *p, int masked, __mmask16 mask, const int fix) {
    const __m128i b = masked ? _mm_maskz_loadu_epi8(mask, p) : _mm_loadu_si128((const __m128i *)p);
    const __m256i h = _mm256_and_si256(_mm256_slli_epi16(_mm256_cvtepi8_epi16(b), 7), _mm256_set1_epi16((short)CK_FP8_F16_FIELDS));
    const __m512 w = _mm512_cvtph_ps(h);
    if (!fix) return w;
    const __mmask16 nan = _mm_cmpeq_epi8_mask(_mm_or_si128(b, _mm_set1_epi8((char)0x80)), _mm_set1_epi8(-1));
    const __m512i wi = _mm512_castps_si512(w);
    return _mm512_castsi512_ps(_mm512_mask_or_epi32(wi, nan, wi, _mm512_set1_epi32((int)CK_QUIET_NAN_BITS)));
}

/// 16 bf16 / f16 weights at p as f32 (lanes past a `masked` tail zero).
INLINE AVX512 __m512 half16(const int dt, const char *p, int masked, __mmask16 mask) {
    const __m256i h = masked ? _mm256_maskz_loadu_epi16(mask, p) : _mm256_loadu_si256((const __m256i *)p);
    if (dt == CK_WEIGHT_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/// acc[p][r] += u[p] · x_r[i..<i+16] (masked: the first lanes only).
INLINE AVX512 void fma_rows(const int P, const int R, const __m512 *u, const float *x, long lda, long i, int masked, __mmask16 mask,
                            __m512 acc[8][8]) {
    for (int r = 0; r < R; r++) {
        const __m512 t = masked ? _mm512_maskz_loadu_ps(mask, x + r * lda + i) : _mm512_loadu_ps(x + r * lda + i);
        for (int p = 0; p < P; p++) acc[p][r] = _mm512_fmadd_ps(u[p], t, acc[p][r]);
    }
}

/// Whether the 64 bytes at i of any of the P rows hold a NaN code.
INLINE AVX512 int fp8_line_has_nan(const int P, const char *const *rows, long i) {
    __mmask64 nan = 0;
    for (int p = 0; p < P; p++)
        nan |= _mm512_cmpeq_epi8_mask(_mm512_or_si512(_mm512_loadu_si512(rows[p] + i), _mm512_set1_epi8((char)0x80)), _mm512_set1_epi8(-1));
    return nan != 0;
}

/// part[p][r] += Σ (q · 2^-8) · x_r over the 64 FP8 columns from i, NaN fix-up or not.
INLINE AVX512 void fp8_line(const int fix, const int P, const int R, const char *const *rows, const float *x, long lda, long i,
                            __m512 part[8][8]) {
    for (long q = i; q < i + 64; q += 16) {
        __m512 u[8];
        for (int p = 0; p < P; p++) u[p] = fp8_16(rows[p] + q, 0, 0, fix);
        fma_rows(P, R, u, x, lda, q, 0, 0, part);
    }
}

/// acc[p][r] += scale_p · Σ q · x_r over FP8 columns c0..<c1 (one block): partial dot, then one FMA.
INLINE AVX512 void fp8_block(const int P, const int R, const char *const *rows, const float *x, long lda, long c0, long c1,
                             const float *scale, __m512 acc[8][8]) {
    __m512 part[8][8];
    for (int p = 0; p < P; p++)
        for (int r = 0; r < R; r++) part[p][r] = _mm512_setzero_ps();
    long i = c0;
    for (; i + 64 <= c1; i += 64) {
        for (int p = 0; p < P; p++) _mm_prefetch(rows[p] + i + CK_WEIGHT_PREFETCH_BYTES, _MM_HINT_T1);
        if (fp8_line_has_nan(P, rows, i)) fp8_line(1, P, R, rows, x, lda, i, part);
        else fp8_line(0, P, R, rows, x, lda, i, part);
    }
    for (; i < c1; i += 16) {
        const int masked = c1 - i < 16;
        const __mmask16 mask = masked ? first_lanes(c1 - i) : (__mmask16)0xFFFF;
        __m512 u[8];
        for (int p = 0; p < P; p++) u[p] = fp8_16(rows[p] + i, masked, mask, 1);
        fma_rows(P, R, u, x, lda, i, masked, mask, part);
    }
    for (int p = 0; p < P; p++) {
        const __m512 s = _mm512_set1_ps(scale[p]);
        for (int r = 0; r < R; r++) acc[p][r] = _mm512_fmadd_ps(_mm512_mul_ps(part[p][r], _mm512_set1_ps(CK_FP8_F16_UNIT)), s, acc[p][r]);
    }
}

/// acc[p][r] += W_p · x_r over all k bf16 / f16 columns.
INLINE AVX512 void half_row(const int dt, const int P, const int R, const char *const *rows, const float *x, long lda, long k,
                            __m512 acc[8][8]) {
    long i = 0;
    for (; i + 32 <= k; i += 32) {
        for (int p = 0; p < P; p++) _mm_prefetch(rows[p] + 2 * i + CK_WEIGHT_PREFETCH_BYTES, _MM_HINT_T1);
        for (long q = i; q < i + 32; q += 16) {
            __m512 u[8];
            for (int p = 0; p < P; p++) u[p] = half16(dt, rows[p] + 2 * q, 0, 0);
            fma_rows(P, R, u, x, lda, q, 0, 0, acc);
        }
    }
    for (; i < k; i += 16) {
        const int masked = k - i < 16;
        const __mmask16 mask = masked ? first_lanes(k - i) : (__mmask16)0xFFFF;
        __m512 u[8];
        for (int p = 0; p < P; p++) u[p] = half16(dt, rows[p] + 2 * i, masked, mask);
        fma_rows(P, R, u, x, lda, i, masked, mask, acc);
    }
}

/// d[p][r] = W[j + p] · x_r for p < P (rows past `last` repeat the last one; their results are
/// dropped by the caller), r < R.
INLINE AVX512 void row_dots(const int dt, const int P, const int R, const ck_weight *w, const float *x, long lda,
                            long j, long last, float d[8][8]) {
    const long eb = dt == CK_WEIGHT_FP8_E4M3 ? 1 : 2, k = w->cols;
    const char *rows[8];
    long index[8];
    for (int p = 0; p < P; p++) {
        index[p] = j + p < last ? j + p : last - 1;
        rows[p] = (const char *)w->base + index[p] * w->row_stride * eb;
    }
    __m512 acc[8][8];
    for (int p = 0; p < P; p++)
        for (int r = 0; r < R; r++) acc[p][r] = _mm512_setzero_ps();
    if (dt != CK_WEIGHT_FP8_E4M3) {
        half_row(dt, P, R, rows, x, lda, k, acc);
    } else {
        const float *scaleRow[8];
        for (int p = 0; p < P; p++) scaleRow[p] = ck_scale_row(w, index[p]);
        const long bc = w->block_cols;
        for (long c0 = 0, b = 0; c0 < k; c0 += bc, b++) {
            float scale[8];
            for (int p = 0; p < P; p++) scale[p] = scaleRow[p][b];
            fp8_block(P, R, rows, x, lda, c0, c0 + bc < k ? c0 + bc : k, scale, acc);
        }
    }
    for (int p = 0; p < P; p++)
        for (int r = 0; r < R; r++) d[p][r] = _mm512_reduce_add_ps(acc[p][r]);
}

/// Rows first..<last of y for R x rows, P weight rows at a time; beyond G x rows, the x rows go in
/// two groups (G, R − G) over the same P weight rows, which the second group re-reads from L1/L2.
INLINE AVX512 void rows_loop(const int dt, const int P, const int R, const int G, const float *x, long lda, const ck_weight *w,
                           float *y, long ldy, long first, long last, int accumulate, float alpha) {
    for (long j = first; j < last; j += P) {
        float d[8][8], e[8][8];
        row_dots(dt, P, R < G ? R : G, w, x, lda, j, last, d);
        if (R > G) row_dots(dt, P, R > G ? R - G : 1, w, x + G * lda, lda, j, last, e);
        for (int p = 0; p < P && j + p < last; p++)
            for (int r = 0; r < R; r++) ck_skinny_store(y + r * ldy + j + p, r < G ? d[p][r] : e[p][r - G], accumulate, alpha);
    }
}

#define CK_ROWS(dt, P, R, G) rows_loop(dt, P, R, G, x, lda, w, y, ldy, first, last, accumulate, alpha)

AVX512 void ck_skinny_weight_avx512(const float *x, long m, long lda, const ck_weight *w,
                                    float *y, long ldy, long first, long last, int accumulate, float alpha) {
    if (first >= last || m <= 0) return;
    // One x row over long bf16 / f16 rows (≥ 8 KiB, e.g. a down projection's 5632 columns): 8
    // rows side by side kept more loads in flight (1.20 → 1.08 × the read floor at 2048 × 5632);
    // at 4 KiB rows 4 side by side stay ahead (1.06 vs 1.15 ×). FP8 is bound by its conversion, not
    // by loads: 8 rows there only add register pressure. Same sums either way (one chain per row).
    const int long_rows = w->cols * 2 >= 8192;
    if (w->dtype == CK_WEIGHT_F32) {
        ck_skinny_linear_avx512(x, m, w->cols, lda, (const float *)w->base, w->row_stride, y, ldy, first, last, accumulate, alpha);
    } else if (w->dtype == CK_WEIGHT_FP8_E4M3) {
        const unsigned csr = ck_clear_daz();
        switch (m) {
        case 1: CK_ROWS(CK_WEIGHT_FP8_E4M3, 4, 1, 8); break;
        case 2: CK_ROWS(CK_WEIGHT_FP8_E4M3, 4, 2, 8); break;
        case 3: CK_ROWS(CK_WEIGHT_FP8_E4M3, 2, 3, 8); break;
        case 4: CK_ROWS(CK_WEIGHT_FP8_E4M3, 2, 4, 8); break;
        case 5: CK_ROWS(CK_WEIGHT_FP8_E4M3, 2, 5, 4); break;
        case 6: CK_ROWS(CK_WEIGHT_FP8_E4M3, 2, 6, 4); break;
        case 7: CK_ROWS(CK_WEIGHT_FP8_E4M3, 2, 7, 4); break;
        default: CK_ROWS(CK_WEIGHT_FP8_E4M3, 2, 8, 4); break;
        }
        ck_restore_csr(csr);
    } else {
        const int dt = w->dtype == CK_WEIGHT_F16 ? CK_WEIGHT_F16 : CK_WEIGHT_BF16;
#define CK_HALF_CASES(dt)                                                                                   \
        switch (m) {                                                                                        \
        case 1: if (long_rows) CK_ROWS(dt, 8, 1, 8); else CK_ROWS(dt, 4, 1, 8); break;                          \
        case 2: CK_ROWS(dt, 4, 2, 8); break;                                                                   \
        case 3: CK_ROWS(dt, 2, 3, 8); break;                                                                   \
        case 4: CK_ROWS(dt, 2, 4, 8); break;                                                                   \
        case 5: CK_ROWS(dt, 2, 5, 8); break;                                                                   \
        case 6: CK_ROWS(dt, 2, 6, 8); break;                                                                   \
        case 7: CK_ROWS(dt, 2, 7, 8); break;                                                                   \
        default: CK_ROWS(dt, 2, 8, 8); break;                                                                  \
        }
        if (dt == CK_WEIGHT_F16) { CK_HALF_CASES(CK_WEIGHT_F16) } else { CK_HALF_CASES(CK_WEIGHT_BF16) }
    }
}

/// One row's 16-column step from i as f32 (FP8: exact fl(q · scale)).
INLINE AVX512 __m512 converted16(const int dt, const char *row, long i, int masked, __mmask16 mask, __m512 scale) {
    if (dt != CK_WEIGHT_FP8_E4M3) return half16(dt, row + 2 * i, masked, mask);
    return _mm512_mul_ps(_mm512_mul_ps(fp8_16(row + i, masked, mask, 1), _mm512_set1_ps(CK_FP8_F16_UNIT)), scale);
}

INLINE AVX512 void convert_segment(const int dt, const char *row, long c0, long c1, __m512 scale, float *out) {
    long i = c0;
    for (; i + 16 <= c1; i += 16) _mm512_storeu_ps(out + i, converted16(dt, row, i, 0, 0, scale));
    if (i < c1) {
        const __mmask16 mask = first_lanes(c1 - i);
        _mm512_mask_storeu_ps(out + i, mask, converted16(dt, row, i, 1, mask, scale));
    }
}

INLINE AVX512 void convert_rows(const int dt, const ck_weight *w, long first, long last, float *out, long ldo) {
    const long eb = dt == CK_WEIGHT_FP8_E4M3 ? 1 : 2, k = w->cols;
    for (long r = first; r < last; r++) {
        const char *row = (const char *)w->base + r * w->row_stride * eb;
        float *o = out + (r - first) * ldo;
        if (dt != CK_WEIGHT_FP8_E4M3) { convert_segment(dt, row, 0, k, _mm512_set1_ps(1), o); continue; }
        const float *scaleRow = ck_scale_row(w, r);
        for (long c0 = 0, b = 0; c0 < k; c0 += w->block_cols, b++)
            convert_segment(dt, row, c0, c0 + w->block_cols < k ? c0 + w->block_cols : k, _mm512_set1_ps(scaleRow[b]), o);
    }
}

AVX512 void ck_weight_rows_to_f32_avx512(const ck_weight *w, long first, long last, float *out, long ldo) {
    switch (w->dtype) {
    case CK_WEIGHT_F32:
        for (long r = first; r < last; r++)
            memcpy(out + (r - first) * ldo, (const float *)w->base + r * w->row_stride, (size_t)w->cols * sizeof(float));
        break;
    case CK_WEIGHT_BF16: convert_rows(CK_WEIGHT_BF16, w, first, last, out, ldo); break;
    case CK_WEIGHT_F16: convert_rows(CK_WEIGHT_F16, w, first, last, out, ldo); break;
    default: {
        const unsigned csr = ck_clear_daz();
        convert_rows(CK_WEIGHT_FP8_E4M3, w, first, last, out, ldo);
        ck_restore_csr(csr);
    }
    }
}
