// Skinny linear over bf16 / f16 / FP8 E4M3 weights for AVX2 + FMA (+ F16C): 8 weights per vector
// converted in registers (bf16: a 16-bit shift; f16: vcvtph2ps; FP8: see weight_common.h), f32 FMAs,
// scalar tails. With 16 registers, the P weight rows streamed side by side and the R x rows
// multiplied per converted vector keep P·R ≤ 8 accumulators: P = 4 for R ≤ 2, P = 2 for R ≤ 4,
// P = 1 beyond — every weight is read and converted once whatever the batch.
#include "weight_common.h"
#pragma STDC FP_CONTRACT OFF

#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline))

// Lanes summed in lane order.
INLINE AVX2 float sum8(__m256 v) {
    float lane[8];
    _mm256_storeu_ps(lane, v);
    float s = lane[0];
    for (int i = 1; i < 8; i++) s += lane[i];
    return s;
}

/// 8 FP8 weights at p as f32 times the block multipliers; `fix`: NaN codes become NaN (else the
/// caller knows there are none).
INLINE AVX2 __m256 fp8_8(const char *p, const int two, const int fix, __m256 fold, __m256 scale) {
    const __m256i v = _mm256_slli_epi32(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)), 20);
    const __m256 f = _mm256_castsi256_ps(_mm256_and_si256(v, _mm256_set1_epi32((int)CK_FP8_FIELDS)));
    const __m256 w = two ? _mm256_mul_ps(_mm256_mul_ps(f, _mm256_set1_ps(CK_FP8_FOLD)), scale) : _mm256_mul_ps(f, fold);
    if (!fix) return w;
    const __m256i nanFields = _mm256_set1_epi32((int)CK_FP8_NAN_FIELDS);
    const __m256i nan = _mm256_cmpeq_epi32(_mm256_and_si256(v, nanFields), nanFields);
    return _mm256_or_ps(w, _mm256_castsi256_ps(_mm256_and_si256(nan, _mm256_set1_epi32((int)CK_QUIET_NAN_BITS))));
}

/// 8 bf16 / f16 weights at p as f32.
INLINE AVX2 __m256 half8(const int dt, const char *p) {
    const __m128i h = _mm_loadu_si128((const __m128i *)p);
    if (dt == CK_WEIGHT_F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));   // bf16
}

/// Any dtype: 8 weights of `row` from element i (FP8 with the NaN fix-up).
INLINE AVX2 __m256 load8(const int dt, const int two, const char *row, long i, __m256 fold, __m256 scale) {
    if (dt == CK_WEIGHT_FP8_E4M3) return fp8_8(row + i, two, 1, fold, scale);
    return half8(dt, row + 2 * i);
}

/// One weight as f32, as load8 computes each lane.
INLINE AVX2 float load1(const int dt, const int two, const char *row, long i, ck_fp8_scale s) {
    if (dt == CK_WEIGHT_FP8_E4M3) return ck_fp8_scaled((uint8_t)row[i], s, two);
    uint16_t h;
    memcpy(&h, row + 2 * i, 2);
    if (dt == CK_WEIGHT_F16) return _cvtsh_ss(h);
    return ck_bf16_float(h);
}

/// acc[p][r] += u[p] · x_r[i..<i+8].
INLINE AVX2 void fma_rows(const int P, const int R, const __m256 *u, const float *x, long lda, long i, __m256 acc[4][8]) {
    for (int r = 0; r < R; r++) {
        const __m256 t = _mm256_loadu_ps(x + r * lda + i);
        for (int p = 0; p < P; p++) acc[p][r] = _mm256_fmadd_ps(u[p], t, acc[p][r]);
    }
}

/// 64 FP8 columns from i (one cache line per row) of the P rows, NaN fix-up or not.
INLINE AVX2 void fp8_line(const int two, const int fix, const int P, const int R, const char *const *rows, const float *x,
                          long lda, long i, const __m256 *fold, const __m256 *scale, __m256 acc[4][8]) {
    for (long q = i; q < i + 64; q += 8) {
        __m256 u[4];
        for (int p = 0; p < P; p++) u[p] = fp8_8(rows[p] + q, two, fix, fold[p], scale[p]);
        fma_rows(P, R, u, x, lda, q, acc);
    }
}

/// acc[p][r] += W_p[c0..<c1] · x_r[c0..<c1] (whole vectors), tail[p][r] += the rest, scalar.
INLINE AVX2 void segment(const int dt, const int two, const int P, const int R, const char *const *rows,
                         const float *x, long lda, long c0, long c1, const ck_fp8_scale *s,
                         __m256 acc[4][8], float tail[4][8]) {
    const long eb = dt == CK_WEIGHT_FP8_E4M3 ? 1 : 2, perLine = 64 / eb;
    __m256 fold[4], scale[4];
    for (int p = 0; p < P; p++) { fold[p] = _mm256_set1_ps(s[p].fold); scale[p] = _mm256_set1_ps(s[p].scale); }
    long i = c0;
    for (; i + perLine <= c1; i += perLine) {
        for (int p = 0; p < P; p++) _mm_prefetch(rows[p] + i * eb + CK_WEIGHT_PREFETCH_BYTES, _MM_HINT_T1);
        if (dt == CK_WEIGHT_FP8_E4M3) {
            const __m256i high = _mm256_set1_epi8((char)0x80), ones = _mm256_set1_epi8(-1);
            __m256i nan = _mm256_setzero_si256();
            for (int p = 0; p < P; p++) {
                const __m256i a = _mm256_or_si256(_mm256_loadu_si256((const __m256i *)(rows[p] + i)), high);
                const __m256i b = _mm256_or_si256(_mm256_loadu_si256((const __m256i *)(rows[p] + i + 32)), high);
                nan = _mm256_or_si256(nan, _mm256_or_si256(_mm256_cmpeq_epi8(a, ones), _mm256_cmpeq_epi8(b, ones)));
            }
            if (!_mm256_testz_si256(nan, nan)) fp8_line(two, 1, P, R, rows, x, lda, i, fold, scale, acc);
            else fp8_line(two, 0, P, R, rows, x, lda, i, fold, scale, acc);
        } else {
            for (long q = i; q < i + perLine; q += 8) {
                __m256 u[4];
                for (int p = 0; p < P; p++) u[p] = half8(dt, rows[p] + 2 * q);
                fma_rows(P, R, u, x, lda, q, acc);
            }
        }
    }
    for (; i + 8 <= c1; i += 8) {
        __m256 u[4];
        for (int p = 0; p < P; p++) u[p] = load8(dt, two, rows[p], i, fold[p], scale[p]);
        fma_rows(P, R, u, x, lda, i, acc);
    }
    for (; i < c1; i++)
        for (int p = 0; p < P; p++) {
            const float v = load1(dt, two, rows[p], i, s[p]);
            for (int r = 0; r < R; r++) tail[p][r] += v * x[r * lda + i];
        }
}

/// d[p][r] = W[j + p] · x_r for p < P (rows past `last` repeat the last one), r < R.
INLINE AVX2 void row_dots(const int dt, const int two, const int P, const int R, const ck_weight *w, const float *x, long lda,
                          long j, long last, float d[4][8]) {
    const long eb = dt == CK_WEIGHT_FP8_E4M3 ? 1 : 2, k = w->cols;
    const char *rows[4];
    long index[4];
    for (int p = 0; p < P; p++) {
        index[p] = j + p < last ? j + p : last - 1;
        rows[p] = (const char *)w->base + index[p] * w->row_stride * eb;
    }
    __m256 acc[4][8];
    float tail[4][8];
    for (int p = 0; p < P; p++)
        for (int r = 0; r < R; r++) { acc[p][r] = _mm256_setzero_ps(); tail[p][r] = 0; }
    ck_fp8_scale s[4];
    if (dt != CK_WEIGHT_FP8_E4M3) {
        for (int p = 0; p < P; p++) s[p] = ck_fp8_block_scale(1, 0);
        segment(dt, 0, P, R, rows, x, lda, 0, k, s, acc, tail);
    } else {
        const float *scaleRow[4];
        for (int p = 0; p < P; p++) scaleRow[p] = ck_scale_row(w, index[p]);
        const long bc = w->block_cols;
        for (long c0 = 0, b = 0; c0 < k; c0 += bc, b++) {
            const long c1 = c0 + bc < k ? c0 + bc : k;
            for (int p = 0; p < P; p++) s[p] = ck_fp8_block_scale(scaleRow[p][b], two);
            segment(dt, two, P, R, rows, x, lda, c0, c1, s, acc, tail);
        }
    }
    for (int p = 0; p < P; p++)
        for (int r = 0; r < R; r++) d[p][r] = sum8(acc[p][r]) + tail[p][r];
}

INLINE AVX2 void rows_loop(const int dt, const int two, const int P, const int R, const float *x, long lda, const ck_weight *w,
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
    case 5: rows_loop(dt, two, 1, 5, x, lda, w, y, ldy, first, last, accumulate, alpha); break;             \
    case 6: rows_loop(dt, two, 1, 6, x, lda, w, y, ldy, first, last, accumulate, alpha); break;             \
    case 7: rows_loop(dt, two, 1, 7, x, lda, w, y, ldy, first, last, accumulate, alpha); break;             \
    default: rows_loop(dt, two, 1, 8, x, lda, w, y, ldy, first, last, accumulate, alpha); break;            \
    }

AVX2 void ck_skinny_weight_avx2(const float *x, long m, long lda, const ck_weight *w,
                                float *y, long ldy, long first, long last, int accumulate, float alpha) {
    if (first >= last || m <= 0) return;
    switch (w->dtype) {
    case CK_WEIGHT_F32:
        ck_skinny_linear_avx2(x, m, w->cols, lda, (const float *)w->base, w->row_stride, y, ldy, first, last, accumulate, alpha);
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

INLINE AVX2 void convert_segment(const int dt, const int two, const char *row, long c0, long c1, ck_fp8_scale s, float *out) {
    const __m256 fold = _mm256_set1_ps(s.fold), scale = _mm256_set1_ps(s.scale);
    long i = c0;
    for (; i + 8 <= c1; i += 8) _mm256_storeu_ps(out + i, load8(dt, two, row, i, fold, scale));
    for (; i < c1; i++) out[i] = load1(dt, two, row, i, s);
}

INLINE AVX2 void convert_rows(const int dt, const int two, const ck_weight *w, long first, long last, float *out, long ldo) {
    const long eb = dt == CK_WEIGHT_FP8_E4M3 ? 1 : 2, k = w->cols;
    for (long r = first; r < last; r++) {
        const char *row = (const char *)w->base + r * w->row_stride * eb;
        float *o = out + (r - first) * ldo;
        if (dt != CK_WEIGHT_FP8_E4M3) { convert_segment(dt, 0, row, 0, k, ck_fp8_block_scale(1, 0), o); continue; }
        const float *scaleRow = ck_scale_row(w, r);
        for (long c0 = 0, b = 0; c0 < k; c0 += w->block_cols, b++) {
            const long c1 = c0 + w->block_cols < k ? c0 + w->block_cols : k;
            convert_segment(dt, two, row, c0, c1, ck_fp8_block_scale(scaleRow[b], two), o);
        }
    }
}

AVX2 void ck_weight_rows_to_f32_avx2(const ck_weight *w, long first, long last, float *out, long ldo) {
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
