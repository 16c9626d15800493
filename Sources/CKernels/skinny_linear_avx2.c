// Skinny linear for AVX2 + FMA: the former Swift SIMD8 kernel, operation for operation.
// Weight rows are streamed once, software-prefetched 32 KiB ahead into L2 (with FMAs between the
// loads the out-of-order window alone keeps too few misses in flight). One x row takes four weight
// rows side by side, two x rows a pair of weight rows, 3–8 three weight rows against groups of ≤ 4
// x rows (ck_triple_rows, skinny_avx2.h; a second group re-reads the rows from L1/L2) — the same
// per-row chain in each, so every output has the same bits at every row count (decode's batch
// invariance; BatchInvarianceTests). Before session 14 one x row ran with four accumulators along
// k, which rounded differently.
#include "skinny_avx2.h"
#pragma STDC FP_CONTRACT OFF

#define AVX2 CK_AVX2

// d[p] = w[p] · x for P ≤ 4 weight rows and one x row: per row one accumulator along k, then its
// lanes in order, then the scalar tail — the chain `dots` runs for each (weight row, x row), so an x
// row gets the same bits alone as in a batch (decode's batch invariance). Four rows side by side keep
// four chains in flight (one FMA per cycle: 32 bytes of weight per cycle, past memory's rate).
static inline __attribute__((always_inline)) AVX2 void row_chains(const int P, const float *const *w, const float *x, long k, float d[4]) {
    __m256 a[4];
    for (int p = 0; p < P; p++) a[p] = _mm256_setzero_ps();
    long i = 0;
    for (; i + 8 <= k; i += 8) {
        const __m256 t = _mm256_loadu_ps(x + i);
        for (int p = 0; p < P; p++) {
            if ((i & 15) == 0) _mm_prefetch((const char *)(w[p] + i + CK_SKINNY_PREFETCH_FLOATS), _MM_HINT_T1);
            a[p] = _mm256_fmadd_ps(_mm256_loadu_ps(w[p] + i), t, a[p]);
        }
    }
    for (int p = 0; p < P; p++) d[p] = ck_sum8(a[p]);
    for (; i < k; i++)
        for (int p = 0; p < P; p++) d[p] += w[p][i] * x[i];
}

// d0[r], d1[r] = w0 · x_r, w1 · x_r for r < rows ≤ 4 (x rows at x + r·lda).
static inline AVX2 void dots(const float *w0, const float *w1, const float *x, long lda, long rows, long k,
                             float d0[4], float d1[4]) {
    const float *x0 = x, *x1 = x + (rows > 1 ? lda : 0), *x2 = x + (rows > 2 ? 2 * lda : 0), *x3 = x + (rows > 3 ? 3 * lda : 0);
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    long i = 0;
    for (; i + 8 <= k; i += 8) {
        _mm_prefetch((const char *)(w0 + i + CK_SKINNY_PREFETCH_FLOATS), _MM_HINT_T1);
        _mm_prefetch((const char *)(w1 + i + CK_SKINNY_PREFETCH_FLOATS), _MM_HINT_T1);
        const __m256 u = _mm256_loadu_ps(w0 + i), v = _mm256_loadu_ps(w1 + i);
        __m256 t = _mm256_loadu_ps(x0 + i);
        a0 = _mm256_fmadd_ps(u, t, a0); b0 = _mm256_fmadd_ps(v, t, b0);
        t = _mm256_loadu_ps(x1 + i);
        a1 = _mm256_fmadd_ps(u, t, a1); b1 = _mm256_fmadd_ps(v, t, b1);
        t = _mm256_loadu_ps(x2 + i);
        a2 = _mm256_fmadd_ps(u, t, a2); b2 = _mm256_fmadd_ps(v, t, b2);
        t = _mm256_loadu_ps(x3 + i);
        a3 = _mm256_fmadd_ps(u, t, a3); b3 = _mm256_fmadd_ps(v, t, b3);
    }
    d0[0] = ck_sum8(a0); d0[1] = ck_sum8(a1); d0[2] = ck_sum8(a2); d0[3] = ck_sum8(a3);
    d1[0] = ck_sum8(b0); d1[1] = ck_sum8(b1); d1[2] = ck_sum8(b2); d1[3] = ck_sum8(b3);
    const float *xs[4] = {x0, x1, x2, x3};
    for (; i < k; i++) {
        for (int r = 0; r < 4; r++) {
            d0[r] += w0[i] * xs[r][i];
            d1[r] += w1[i] * xs[r][i];
        }
    }
}

AVX2 void ck_skinny_linear_avx2(const float *x, long m, long k, long lda, const float *w, long ldw,
                                float *y, long ldy, long first, long last, int accumulate, float alpha) {
    if (m == 1) {   // weight rows four at a time, the rest one by one: the same chain per row either way
        float d[4];
        long j = first;
        for (; j + 4 <= last; j += 4) {
            const float *rows[4] = {w + j * ldw, w + (j + 1) * ldw, w + (j + 2) * ldw, w + (j + 3) * ldw};
            row_chains(4, rows, x, k, d);
            for (int p = 0; p < 4; p++) ck_skinny_store(y + j + p, d[p], accumulate, alpha);
        }
        for (; j < last; j++) {
            const float *row = w + j * ldw;
            row_chains(1, &row, x, k, d);
            ck_skinny_store(y + j, d[0], accumulate, alpha);
        }
        return;
    }
    long j = first;
    if (m >= 3 && m <= 8) {
        ck_triple_rows(CK_WEIGHT_F32, m, x, lda, (const char *)w, ldw * 4, k, y, ldy, first, last, accumulate, alpha);
        return;
    }
    while (j < last) {
        const int pair = j + 1 < last;
        const float *w0 = w + j * ldw, *w1 = pair ? w0 + ldw : w0;
        for (long r0 = 0; r0 < m; r0 += 4) {
            const long g = m - r0 < 4 ? m - r0 : 4;
            float d0[4], d1[4];
            dots(w0, w1, x + r0 * lda, lda, g, k, d0, d1);
            for (long r = 0; r < g; r++) {
                float *out = y + (r0 + r) * ldy + j;
                ck_skinny_store(out, d0[r], accumulate, alpha);
                if (pair) ck_skinny_store(out + 1, d1[r], accumulate, alpha);
            }
        }
        j += pair ? 2 : 1;
    }
}
