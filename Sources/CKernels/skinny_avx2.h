// What the AVX2 skinny kernels over f32 (skinny_linear_avx2.c) and bf16 / f16 / FP8
// (skinny_weight_avx2.c) weights share: lane sums, bf16 / f16 to f32 (8 or one), and the kernel for
// calls of 3–8 x rows over f32, bf16 or f16 weights — three weight rows side by side against groups
// of ≤ 4 x rows, in assembly. Per 8 columns each row's weight vector is loaded (f32) or converted
// (bf16: vpmovzxwd + vpslld; f16: vcvtph2ps) once and each x vector loaded once for the three rows;
// the 12 accumulators, pinned to ymm0–11, and 4 temporaries fill the 16 registers. Per (weight row,
// x row) one accumulator in column order, its lanes in order, then the scalar tail as the one-row
// kernels do, so an x row gets the bits it gets alone (decode's batch invariance).
// Measured (Zen 3, harness, weights streamed from memory, against the two-row intrinsic loops):
// bf16 one core, 2048 × 5632: 3 x rows 1.07 ×, 4 1.14, 5 1.20, 6 1.16, 7 1.21, 8 1.20; two threads,
// 2048 × 2048: 3 1.07, 4 1.12, 6 1.14, 8 1.17. f32 two threads, 2048 × 2048: 4 0.99–1.07, 6
// 1.10–1.14, 8 1.13–1.18. Two weight rows in the same assembly (8 accumulators): 0.98–1.06 ×.
#ifndef CK_SKINNY_AVX2_H
#define CK_SKINNY_AVX2_H
#include "weight_common.h"
#pragma STDC FP_CONTRACT OFF

#define CK_AVX2 __attribute__((target("avx2,fma,f16c")))
#define CK_INLINE static inline __attribute__((always_inline))

/// Lanes summed in lane order.
CK_INLINE CK_AVX2 float ck_sum8(__m256 v) {
    float lane[8];
    _mm256_storeu_ps(lane, v);
    float s = lane[0];
    for (int i = 1; i < 8; i++) s += lane[i];
    return s;
}

/// 8 bf16 / f16 weights at p as f32.
CK_INLINE CK_AVX2 __m256 ck_half8(const int dt, const char *p) {
    const __m128i h = _mm_loadu_si128((const __m128i *)p);
    if (dt == CK_WEIGHT_F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));   // bf16
}

/// One bf16 / f16 weight at p as f32 (what ck_half8 computes for each lane).
CK_INLINE CK_AVX2 float ck_half1(const int dt, const char *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return dt == CK_WEIGHT_F16 ? _cvtsh_ss(h) : ck_bf16_float(h);
}

// One sub-step: the three rows' weight vectors at byte offset woff, then Q: each x row's 8 floats at
// byte offset xoff FMA-ed into the three rows' accumulators (c_r, d_r, e_r for x row r).
#define CK_TRIPLE_W_F32(row, off, w) "vmovups " #off "(%[" #row "]), %[" #w "]\n\t"
#define CK_TRIPLE_W_BF16(row, off, w) "vpmovzxwd " #off "(%[" #row "]), %[" #w "]\n\t" "vpslld $16, %[" #w "], %[" #w "]\n\t"
#define CK_TRIPLE_W_F16(row, off, w) "vcvtph2ps " #off "(%[" #row "]), %[" #w "]\n\t"
#define CK_TRIPLE_X(x, off, a0, a1, a2)                                                                \
    "vmovups " #off "(%[" #x "]), %[t]\n\t"                                                            \
    "vfmadd231ps %[t], %[w0], %[" #a0 "]\n\t"                                                          \
    "vfmadd231ps %[t], %[w1], %[" #a1 "]\n\t"                                                          \
    "vfmadd231ps %[t], %[w2], %[" #a2 "]\n\t"
#define CK_TRIPLE_Q2(off) CK_TRIPLE_X(x0, off, c0, d0, e0) CK_TRIPLE_X(x1, off, c1, d1, e1)
#define CK_TRIPLE_Q3(off) CK_TRIPLE_Q2(off) CK_TRIPLE_X(x2, off, c2, d2, e2)
#define CK_TRIPLE_Q4(off) CK_TRIPLE_Q3(off) CK_TRIPLE_X(x3, off, c3, d3, e3)
#define CK_TRIPLE_SUB(W, Q, woff, xoff) W(r0, woff, w0) W(r1, woff, w1) W(r2, woff, w2) Q(xoff)
// 32 columns (f32 weights: 32 bytes per sub-step; bf16 / f16: 16), or 8.
#define CK_TRIPLE_32_F32(W, Q) CK_TRIPLE_SUB(W, Q, 0, 0) CK_TRIPLE_SUB(W, Q, 32, 32) CK_TRIPLE_SUB(W, Q, 64, 64) CK_TRIPLE_SUB(W, Q, 96, 96)
#define CK_TRIPLE_32_HALF(W, Q) CK_TRIPLE_SUB(W, Q, 0, 0) CK_TRIPLE_SUB(W, Q, 16, 32) CK_TRIPLE_SUB(W, Q, 32, 64) CK_TRIPLE_SUB(W, Q, 48, 96)
#define CK_TRIPLE_8(W, Q) CK_TRIPLE_SUB(W, Q, 0, 0)
#define CK_TRIPLE_OUT [w0] "=&x"(w0), [w1] "=&x"(w1), [w2] "=&x"(w2), [t] "=&x"(t)
#define CK_TRIPLE_IN(at) [r0] "r"(rows[0] + eb * (at)), [r1] "r"(rows[1] + eb * (at)), [r2] "r"(rows[2] + eb * (at)), \
                         [x0] "r"(x + (at)), [x1] "r"(x + lda + (at))
#define CK_TRIPLE_ASM_W(STEP, W, RG, at)                                                                 \
    if (RG == 2)                                                                                         \
        __asm__(STEP(W, CK_TRIPLE_Q2)                                                                    \
                : [c0] "+x"(c0), [c1] "+x"(c1), [d0] "+x"(d0), [d1] "+x"(d1), [e0] "+x"(e0), [e1] "+x"(e1), \
                  CK_TRIPLE_OUT                                                                          \
                : CK_TRIPLE_IN(at)                                                                       \
                : "memory");                                                                             \
    else if (RG == 3)                                                                                    \
        __asm__(STEP(W, CK_TRIPLE_Q3)                                                                    \
                : [c0] "+x"(c0), [c1] "+x"(c1), [c2] "+x"(c2), [d0] "+x"(d0), [d1] "+x"(d1), [d2] "+x"(d2), \
                  [e0] "+x"(e0), [e1] "+x"(e1), [e2] "+x"(e2), CK_TRIPLE_OUT                               \
                : CK_TRIPLE_IN(at), [x2] "r"(x + 2 * lda + (at))                                         \
                : "memory");                                                                             \
    else                                                                                                 \
        __asm__(STEP(W, CK_TRIPLE_Q4)                                                                    \
                : [c0] "+x"(c0), [c1] "+x"(c1), [c2] "+x"(c2), [c3] "+x"(c3), [d0] "+x"(d0), [d1] "+x"(d1), \
                  [d2] "+x"(d2), [d3] "+x"(d3), [e0] "+x"(e0), [e1] "+x"(e1), [e2] "+x"(e2), [e3] "+x"(e3), \
                  CK_TRIPLE_OUT                                                                          \
                : CK_TRIPLE_IN(at), [x2] "r"(x + 2 * lda + (at)), [x3] "r"(x + 3 * lda + (at))           \
                : "memory");
#define CK_TRIPLE_ASM(STEP32, RG, at)                                                                    \
    if (dt == CK_WEIGHT_F32) { CK_TRIPLE_ASM_W(STEP32##_F32, CK_TRIPLE_W_F32, RG, at) }                  \
    else if (dt == CK_WEIGHT_F16) { CK_TRIPLE_ASM_W(STEP32##_HALF, CK_TRIPLE_W_F16, RG, at) }            \
    else { CK_TRIPLE_ASM_W(STEP32##_HALF, CK_TRIPLE_W_BF16, RG, at) }
#define CK_TRIPLE_8_F32 CK_TRIPLE_8
#define CK_TRIPLE_8_HALF CK_TRIPLE_8

/// d[p][r] from the accumulators of columns 0..<i and the columns i..<k as the one-row kernels add
/// them: f32 (skinny_linear_avx2.c's row_chains) term by term onto the lanes' sum; bf16 / f16
/// (half_row) as their own sum added to the lanes'.
CK_INLINE CK_AVX2 void ck_rows_finish(const int dt, const int P, const int RG, const __m256 acc[3][4], const char *const *rows,
                                      const float *x, long lda, long i, long k, float d[3][4]) {
    for (int p = 0; p < P; p++)
        for (int r = 0; r < RG; r++) d[p][r] = ck_sum8(acc[p][r]);
    if (dt == CK_WEIGHT_F32) {
        for (; i < k; i++)
            for (int p = 0; p < P; p++)
                for (int r = 0; r < RG; r++) d[p][r] += ((const float *)rows[p])[i] * x[r * lda + i];
    } else {
        float tail[3][4] = {{0}};
        for (; i < k; i++)
            for (int p = 0; p < P; p++) {
                const float v = ck_half1(dt, rows[p] + 2 * i);
                for (int r = 0; r < RG; r++) tail[p][r] += v * x[r * lda + i];
            }
        for (int p = 0; p < P; p++)
            for (int r = 0; r < RG; r++) d[p][r] += tail[p][r];
    }
}

/// ck_triple_dots for the last one or two weight rows of a range (P = 1 or 2), with the same sums:
/// intrinsics, as these are at most two rows per call (repeating a row instead cost a run of 16
/// rows — a page of attention's latent cache — two rows' work).
CK_INLINE CK_AVX2 void ck_few_dots(const int dt, const int P, const int RG, const char *const *rows, const float *x, long lda,
                                   long k, float d[3][4]) {
    __m256 acc[3][4];
    for (int p = 0; p < P; p++)
        for (int r = 0; r < RG; r++) acc[p][r] = _mm256_setzero_ps();
    long i = 0;
    for (; i + 8 <= k; i += 8) {
        __m256 w[2];
        for (int p = 0; p < P; p++)
            w[p] = dt == CK_WEIGHT_F32 ? _mm256_loadu_ps((const float *)rows[p] + i) : ck_half8(dt, rows[p] + 2 * i);
        for (int r = 0; r < RG; r++) {
            const __m256 t = _mm256_loadu_ps(x + r * lda + i);
            for (int p = 0; p < P; p++) acc[p][r] = _mm256_fmadd_ps(w[p], t, acc[p][r]);
        }
    }
    ck_rows_finish(dt, P, RG, acc, rows, x, lda, i, k, d);
}

/// d[p][r] = W_p · x_r over all k columns for the three weight rows `rows` (f32, bf16 or f16) and
/// RG = 2…4 x rows (lda apart); the columns past the last 8 as ck_rows_finish adds them.
CK_INLINE CK_AVX2 void ck_triple_dots(const int dt, const int RG, const char *const *rows, const float *x, long lda, long k,
                                      float d[3][4]) {
    const long eb = dt == CK_WEIGHT_F32 ? 4 : 2;
    register __m256 c0 __asm__("ymm0") = _mm256_setzero_ps(), c1 __asm__("ymm1") = c0, c2 __asm__("ymm2") = c0,
                    c3 __asm__("ymm3") = c0, d0 __asm__("ymm4") = c0, d1 __asm__("ymm5") = c0, d2 __asm__("ymm6") = c0,
                    d3 __asm__("ymm7") = c0, e0 __asm__("ymm8") = c0, e1 __asm__("ymm9") = c0, e2 __asm__("ymm10") = c0,
                    e3 __asm__("ymm11") = c0;
    __m256 w0, w1, w2, t;
    long i = 0;
    for (; i + 32 <= k; i += 32) {
        for (int p = 0; p < 3; p++)
            for (long line = 0; line < 32 * eb; line += 64) _mm_prefetch(rows[p] + eb * i + line + CK_WEIGHT_PREFETCH_BYTES, _MM_HINT_T1);
        CK_TRIPLE_ASM(CK_TRIPLE_32, RG, i)
    }
    for (; i + 8 <= k; i += 8) { CK_TRIPLE_ASM(CK_TRIPLE_8, RG, i) }
    const __m256 acc[3][4] = {{c0, c1, c2, c3}, {d0, d1, d2, d3}, {e0, e1, e2, e3}};
    ck_rows_finish(dt, 3, RG, acc, rows, x, lda, i, k, d);
}
#undef CK_TRIPLE_8_HALF
#undef CK_TRIPLE_8_F32
#undef CK_TRIPLE_ASM
#undef CK_TRIPLE_ASM_W
#undef CK_TRIPLE_IN
#undef CK_TRIPLE_OUT

/// How the 2–8-row kernels (here and skinny_weight_avx2.c's FP8 pairs) split R x rows into a first
/// group and, past it, a second of R − G over the same weight rows: 2 | 3 | 4 | 3 + 2 | 3 + 3 | 4 + 3 |
/// 4 + 4 (balanced: FP8 with groups such as 4 + 1 measured 0.69–0.98 ×).
CK_INLINE int ck_first_group(const int R) { return R <= 4 ? R : R <= 6 ? 3 : 4; }

/// ck_triple_rows for a constant R.
CK_INLINE CK_AVX2 void ck_triple_rows_of(const int dt, const int R, const float *x, long lda, const char *base, long rowBytes,
                                         long k, float *y, long ldy, long first, long last, int accumulate, float alpha) {
    const int G = ck_first_group(R);
    for (long j = first; j < last; j += 3) {
        const int P = last - j < 3 ? (int)(last - j) : 3;
        const char *rows[3];
        for (int p = 0; p < P; p++) rows[p] = base + (j + p) * rowBytes;
        float d[3][4], e[3][4];
        if (P == 3) {
            ck_triple_dots(dt, G, rows, x, lda, k, d);
            if (R > G) ck_triple_dots(dt, R - G, rows, x + G * lda, lda, k, e);
        } else {
            ck_few_dots(dt, P, G, rows, x, lda, k, d);
            if (R > G) ck_few_dots(dt, P, R - G, rows, x + G * lda, lda, k, e);
        }
        for (int p = 0; p < P; p++)
            for (int r = 0; r < R; r++) ck_skinny_store(y + r * ldy + j + p, r < G ? d[p][r] : e[p][r - G], accumulate, alpha);
    }
}

/// Rows first..<last of y = alpha · W x_r (+ y) for m = 3…8 x rows (lda apart; y rows ldy apart) over
/// k columns of f32, bf16 or f16 weights (row j at base + j · rowBytes), three weight rows at a time
/// (the last one or two by ck_few_dots), the x rows in groups 3 | 4 | 3 + 2 | 3 + 3 | 4 + 3 | 4 + 4,
/// the second re-reading the rows from L1.
CK_INLINE CK_AVX2 void ck_triple_rows(const int dt, long m, const float *x, long lda, const char *base, long rowBytes, long k,
                                      float *y, long ldy, long first, long last, int accumulate, float alpha) {
    switch (m) {
    case 3: ck_triple_rows_of(dt, 3, x, lda, base, rowBytes, k, y, ldy, first, last, accumulate, alpha); break;
    case 4: ck_triple_rows_of(dt, 4, x, lda, base, rowBytes, k, y, ldy, first, last, accumulate, alpha); break;
    case 5: ck_triple_rows_of(dt, 5, x, lda, base, rowBytes, k, y, ldy, first, last, accumulate, alpha); break;
    case 6: ck_triple_rows_of(dt, 6, x, lda, base, rowBytes, k, y, ldy, first, last, accumulate, alpha); break;
    case 7: ck_triple_rows_of(dt, 7, x, lda, base, rowBytes, k, y, ldy, first, last, accumulate, alpha); break;
    default: ck_triple_rows_of(dt, 8, x, lda, base, rowBytes, k, y, ldy, first, last, accumulate, alpha); break;
    }
}
#endif
