// Skinny linear for AVX2 + FMA: the former Swift SIMD8 kernel, operation for operation.
// A pair of weight rows is streamed once, software-prefetched 32 KiB ahead into L2 (with FMAs
// between the loads the out-of-order window alone keeps too few misses in flight), and dotted
// with the x rows four at a time (a second group of four re-reads the pair from L1/L2); one x row
// is plain dot products, which need no prefetch (one FMA per loaded float: the hardware
// prefetcher keeps up).
#include "CKernels.h"
#include "skinny_linear_common.h"
#include <immintrin.h>
#pragma STDC FP_CONTRACT OFF

#define AVX2 __attribute__((target("avx2,fma")))

// Lanes summed in lane order (what Swift's SIMD8.sum() does).
static inline AVX2 float sum8(__m256 v) {
    float lane[8];
    _mm256_storeu_ps(lane, v);
    float s = lane[0];
    for (int i = 1; i < 8; i++) s += lane[i];
    return s;
}

// One weight row · one x row, four accumulators along k.
static inline AVX2 float dot(const float *w, const float *x, long k) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    long i = 0;
    for (; i + 32 <= k; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 16), _mm256_loadu_ps(x + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 24), _mm256_loadu_ps(x + i + 24), a3);
    }
    for (; i + 8 <= k; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
    float d = sum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < k; i++) d += w[i] * x[i];
    return d;
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
    d0[0] = sum8(a0); d0[1] = sum8(a1); d0[2] = sum8(a2); d0[3] = sum8(a3);
    d1[0] = sum8(b0); d1[1] = sum8(b1); d1[2] = sum8(b2); d1[3] = sum8(b3);
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
    long j = first;
    if (m == 1) {
        for (; j < last; j++) ck_skinny_store(y + j, dot(w + j * ldw, x, k), accumulate, alpha);
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
