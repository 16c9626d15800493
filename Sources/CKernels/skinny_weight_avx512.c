// Skinny linear over bf16 / f16 / FP8 E4M3 weights for AVX-512 (F + VL + BW + DQ): 16 weights per
// vector converted in registers (see weight_common.h), masked loads for every tail, f32 FMAs.
// P weight rows are streamed side by side (P = 4 for one or two x rows, so enough independent
// loads are in flight; P = 2 from three x rows on, where P·R accumulators fill the 32 registers)
// and each converted vector is used for all R ≤ 8 x rows: the weights are read and converted once.
// Each row is prefetched once per 64-byte line, 32 KiB ahead.
#include "weight_common.h"
#pragma STDC FP_CONTRACT OFF

#define AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,f16c,fma")))
#define INLINE static inline __attribute__((always_inline))

INLINE AVX512 __mmask16 first_lanes(long n) { return (__mmask16)((1u << n) - 1); }

/// 16 FP8 weights at p as f32 times the block multipliers; `fix`: NaN codes become NaN (else the
/// caller knows there are none); lanes past a `masked` tail are zero.
INLINE AVX512 __m512 fp8_16(const char *p, int masked, __mmask16 mask, const int two, const int fix, __m512 fold, __m512 scale) {
    const __m128i b = masked ? _mm_maskz_loadu_epi8(mask, p) : _mm_loadu_si128((const __m128i *)p);
    const __m512i v = _mm512_slli_epi32(_mm512_cvtepi8_epi32(b), 20);
    const __m512 f = _mm512_castsi512_ps(_mm512_and_si512(v, _mm512_set1_epi32((int)CK_FP8_FIELDS)));
    const __m512 w = two ? _mm512_mul_ps(_mm512_mul_ps(f, _mm512_set1_ps(CK_FP8_FOLD)), scale) : _mm512_mul_ps(f, fold);
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

/// Any dtype: 16 weights of `row` from element i (FP8 with the NaN fix-up).
INLINE AVX512 __m512 load16(const int dt, const int two, const char *row, long i, int masked, __mmask16 mask,
                            __m512 fold, __m512 scale) {
    if (dt == CK_WEIGHT_FP8_E4M3) return fp8_16(row + i, masked, mask, two, 1, fold, scale);
    return half16(dt, row + 2 * i, masked, mask);
}

/// acc[p][r] += u[p] · x_r[i..<i+16] (masked: the first lanes only).
INLINE AVX512 void fma_rows(const int P, const int R, const __m512 *u, const float *x, long lda, long i, int masked, __mmask16 mask,
                            __m512 acc[4][8]) {
    for (int r = 0; r < R; r++) {
        const __m512 t = masked ? _mm512_maskz_loadu_ps(mask, x + r * lda + i) : _mm512_loadu_ps(x + r * lda + i);
        for (int p = 0; p < P; p++) acc[p][r] = _mm512_fmadd_ps(u[p], t, acc[p][r]);
    }
}

/// 64 FP8 columns from i (one cache line per row) of the P rows, NaN fix-up or not.
INLINE AVX512 void fp8_line(const int two, const int fix, const int P, const int R, const char *const *rows, const float *x,
                            long lda, long i, const __m512 *fold, const __m512 *scale, __m512 acc[4][8]) {
    for (long q = i; q < i + 64; q += 16) {
        __m512 u[4];
        for (int p = 0; p < P; p++) u[p] = fp8_16(rows[p] + q, 0, 0, two, fix, fold[p], scale[p]);
        fma_rows(P, R, u, x, lda, q, 0, 0, acc);
    }
}

/// acc[p][r] += W_p[c0..<c1] · x_r[c0..<c1] for the P weight rows `rows` and R x rows.
INLINE AVX512 void segment(const int dt, const int two, const int P, const int R, const char *const *rows,
                           const float *x, long lda, long c0, long c1, const __m512 *fold, const __m512 *scale,
                           __m512 acc[4][8]) {
    const long eb = dt == CK_WEIGHT_FP8_E4M3 ? 1 : 2, perLine = 64 / eb;
    long i = c0;
    for (; i + perLine <= c1; i += perLine) {
        for (int p = 0; p < P; p++) _mm_prefetch(rows[p] + i * eb + CK_WEIGHT_PREFETCH_BYTES, _MM_HINT_T1);
        if (dt == CK_WEIGHT_FP8_E4M3) {
            __mmask64 nan = 0;
            for (int p = 0; p < P; p++)
                nan |= _mm512_cmpeq_epi8_mask(_mm512_or_si512(_mm512_loadu_si512(rows[p] + i), _mm512_set1_epi8((char)0x80)),
                                              _mm512_set1_epi8(-1));
            if (nan) fp8_line(two, 1, P, R, rows, x, lda, i, fold, scale, acc);
            else fp8_line(two, 0, P, R, rows, x, lda, i, fold, scale, acc);
        } else {
            for (long q = i; q < i + perLine; q += 16) {
                __m512 u[4];
                for (int p = 0; p < P; p++) u[p] = half16(dt, rows[p] + 2 * q, 0, 0);
                fma_rows(P, R, u, x, lda, q, 0, 0, acc);
            }
        }
    }
    for (; i + 16 <= c1; i += 16) {
        __m512 u[4];
        for (int p = 0; p < P; p++) u[p] = load16(dt, two, rows[p], i, 0, 0, fold[p], scale[p]);
        fma_rows(P, R, u, x, lda, i, 0, 0, acc);
    }
    if (i < c1) {
        const __mmask16 mask = first_lanes(c1 - i);
        __m512 u[4];
        for (int p = 0; p < P; p++) u[p] = load16(dt, two, rows[p], i, 1, mask, fold[p], scale[p]);
        fma_rows(P, R, u, x, lda, i, 1, mask, acc);
    }
}

/// d[p][r] = W[j + p] · x_r for p < P (rows past `last` repeat the last one; their results are
/// dropped by the caller), r < R.
INLINE AVX512 void row_dots(const int dt, const int two, const int P, const int R, const ck_weight *w, const float *x, long lda,
                            long j, long last, float d[4][8]) {
    const long eb = dt == CK_WEIGHT_FP8_E4M3 ? 1 : 2, k = w->cols;
    const char *rows[4];
    long index[4];
    for (int p = 0; p < P; p++) {
        index[p] = j + p < last ? j + p : last - 1;
        rows[p] = (const char *)w->base + index[p] * w->row_stride * eb;
    }
    __m512 acc[4][8];
    for (int p = 0; p < P; p++)
        for (int r = 0; r < R; r++) acc[p][r] = _mm512_setzero_ps();
    __m512 fold[4], scale[4];
    if (dt != CK_WEIGHT_FP8_E4M3) {
        for (int p = 0; p < P; p++) fold[p] = scale[p] = _mm512_set1_ps(1);
        segment(dt, 0, P, R, rows, x, lda, 0, k, fold, scale, acc);
    } else {
        const float *scaleRow[4];
        for (int p = 0; p < P; p++) scaleRow[p] = ck_scale_row(w, index[p]);
        const int shared = scaleRow[0] == scaleRow[P - 1];     // the P rows in one block row: one scale per block
        const long bc = w->block_cols;
        for (long c0 = 0, b = 0; c0 < k; c0 += bc, b++) {
            const long c1 = c0 + bc < k ? c0 + bc : k;
            if (shared) {
                const ck_fp8_scale s = ck_fp8_block_scale(scaleRow[0][b], two);
                const __m512 f = _mm512_set1_ps(s.fold), sc = _mm512_set1_ps(s.scale);
                for (int p = 0; p < P; p++) { fold[p] = f; scale[p] = sc; }
            } else {
                for (int p = 0; p < P; p++) {
                    const ck_fp8_scale s = ck_fp8_block_scale(scaleRow[p][b], two);
                    fold[p] = _mm512_set1_ps(s.fold);
                    scale[p] = _mm512_set1_ps(s.scale);
                }
            }
            segment(dt, two, P, R, rows, x, lda, c0, c1, fold, scale, acc);
        }
    }
    for (int p = 0; p < P; p++)
        for (int r = 0; r < R; r++) d[p][r] = _mm512_reduce_add_ps(acc[p][r]);
}

/// Rows first..<last of y for R x rows, P weight rows at a time.
INLINE AVX512 void rows_loop(const int dt, const int two, const int P, const int R, const float *x, long lda, const ck_weight *w,
                             float *y, long ldy, long first, long last, int accumulate, float alpha) {
    for (long j = first; j < last; j += P) {
        float d[4][8];
        row_dots(dt, two, P, R, w, x, lda, j, last, d);
        for (int p = 0; p < P && j + p < last; p++)
            for (int r = 0; r < R; r++) ck_skinny_store(y + r * ldy + j + p, d[p][r], accumulate, alpha);
    }
}

#define CK_ROWS_CASES(dt, two)                                                                              \
    switch (m) {                                                                                            \
    case 1: rows_loop(dt, two, 4, 1, x, lda, w, y, ldy, first, last, accumulate, alpha); break;             \
    case 2: rows_loop(dt, two, 4, 2, x, lda, w, y, ldy, first, last, accumulate, alpha); break;             \
    case 3: rows_loop(dt, two, 2, 3, x, lda, w, y, ldy, first, last, accumulate, alpha); break;             \
    case 4: rows_loop(dt, two, 2, 4, x, lda, w, y, ldy, first, last, accumulate, alpha); break;             \
    case 5: rows_loop(dt, two, 2, 5, x, lda, w, y, ldy, first, last, accumulate, alpha); break;             \
    case 6: rows_loop(dt, two, 2, 6, x, lda, w, y, ldy, first, last, accumulate, alpha); break;             \
    case 7: rows_loop(dt, two, 2, 7, x, lda, w, y, ldy, first, last, accumulate, alpha); break;             \
    default: rows_loop(dt, two, 2, 8, x, lda, w, y, ldy, first, last, accumulate, alpha); break;            \
    }

AVX512 void ck_skinny_weight_avx512(const float *x, long m, long lda, const ck_weight *w,
                                    float *y, long ldy, long first, long last, int accumulate, float alpha) {
    if (first >= last || m <= 0) return;
    switch (w->dtype) {
    case CK_WEIGHT_F32:
        ck_skinny_linear_avx512(x, m, w->cols, lda, (const float *)w->base, w->row_stride, y, ldy, first, last, accumulate, alpha);
        break;
    case CK_WEIGHT_BF16: CK_ROWS_CASES(CK_WEIGHT_BF16, 0) break;
    case CK_WEIGHT_F16: CK_ROWS_CASES(CK_WEIGHT_F16, 0) break;
    default: {
        const unsigned csr = ck_clear_daz();
        if (ck_fp8_needs_two(w, first, last)) { CK_ROWS_CASES(CK_WEIGHT_FP8_E4M3, 1) }
        else { CK_ROWS_CASES(CK_WEIGHT_FP8_E4M3, 0) }
        ck_restore_csr(csr);
    }
    }
}

/// One row's converted values, 16 at a time (masked tail).
INLINE AVX512 void convert_segment(const int dt, const int two, const char *row, long c0, long c1, __m512 fold, __m512 scale,
                                   float *out) {
    long i = c0;
    for (; i + 16 <= c1; i += 16) _mm512_storeu_ps(out + i, load16(dt, two, row, i, 0, 0, fold, scale));
    if (i < c1) {
        const __mmask16 mask = first_lanes(c1 - i);
        _mm512_mask_storeu_ps(out + i, mask, load16(dt, two, row, i, 1, mask, fold, scale));
    }
}

INLINE AVX512 void convert_rows(const int dt, const int two, const ck_weight *w, long first, long last, float *out, long ldo) {
    const long eb = dt == CK_WEIGHT_FP8_E4M3 ? 1 : 2, k = w->cols;
    for (long r = first; r < last; r++) {
        const char *row = (const char *)w->base + r * w->row_stride * eb;
        float *o = out + (r - first) * ldo;
        if (dt != CK_WEIGHT_FP8_E4M3) { convert_segment(dt, 0, row, 0, k, _mm512_set1_ps(1), _mm512_set1_ps(1), o); continue; }
        const float *scaleRow = ck_scale_row(w, r);
        for (long c0 = 0, b = 0; c0 < k; c0 += w->block_cols, b++) {
            const long c1 = c0 + w->block_cols < k ? c0 + w->block_cols : k;
            const ck_fp8_scale s = ck_fp8_block_scale(scaleRow[b], two);
            convert_segment(dt, two, row, c0, c1, _mm512_set1_ps(s.fold), _mm512_set1_ps(s.scale), o);
        }
    }
}

AVX512 void ck_weight_rows_to_f32_avx512(const ck_weight *w, long first, long last, float *out, long ldo) {
    switch (w->dtype) {
    case CK_WEIGHT_F32:
        for (long r = first; r < last; r++)
            memcpy(out + (r - first) * ldo, (const float *)w->base + r * w->row_stride, (size_t)w->cols * sizeof(float));
        break;
    case CK_WEIGHT_BF16: convert_rows(CK_WEIGHT_BF16, 0, w, first, last, out, ldo); break;
    case CK_WEIGHT_F16: convert_rows(CK_WEIGHT_F16, 0, w, first, last, out, ldo); break;
    default: {
        const unsigned csr = ck_clear_daz();
        if (ck_fp8_needs_two(w, first, last)) convert_rows(CK_WEIGHT_FP8_E4M3, 1, w, first, last, out, ldo);
        else convert_rows(CK_WEIGHT_FP8_E4M3, 0, w, first, last, out, ldo);
        ck_restore_csr(csr);
    }
    }
}
