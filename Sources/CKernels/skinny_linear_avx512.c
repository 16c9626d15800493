// Skinny linear for AVX-512 (F + VL + BW + DQ): 16-float vectors, masked loads for the k tail, and
// — with 32 vector registers — a pair of weight rows dotted with all (≤ 8) x rows in one pass, so
// the pair is read once from memory and never again from L1/L2 (the AVX2 kernel, with 16
// registers, takes the x rows four at a time). Sums group differently from the AVX2 kernel:
// results agree with it to rounding, not bit for bit.
#include "CKernels.h"
#include "skinny_linear_common.h"
#include <immintrin.h>
#pragma STDC FP_CONTRACT OFF

#define AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq")))
#define INLINE static inline __attribute__((always_inline))

// Mask of the first `n` (< 16) lanes.
INLINE AVX512 __mmask16 first_lanes(long n) { return (__mmask16)((1u << n) - 1); }

// One weight row · one x row, four accumulators along k.
INLINE AVX512 float dot(const float *w, const float *x, long k) {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    long i = 0;
    for (; i + 64 <= k; i += 64) {
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i), _mm512_loadu_ps(x + i), a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 16), _mm512_loadu_ps(x + i + 16), a1);
        a2 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 32), _mm512_loadu_ps(x + i + 32), a2);
        a3 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 48), _mm512_loadu_ps(x + i + 48), a3);
    }
    for (; i + 16 <= k; i += 16) a0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i), _mm512_loadu_ps(x + i), a0);
    if (i < k) {
        const __mmask16 m = first_lanes(k - i);
        a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w + i), _mm512_maskz_loadu_ps(m, x + i), a1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

// d0[r], d1[r] = w0 · x_r, w1 · x_r for the R x rows at x + r·lda. R is a constant at every call
// (see dots_rows), so the loops over r unroll and the 2·R accumulators stay in registers.
INLINE AVX512 void dots(const float *w0, const float *w1, const float *x, long lda, long k, float *d0, float *d1, const int R) {
    __m512 a[8], b[8];
    for (int r = 0; r < R; r++) { a[r] = _mm512_setzero_ps(); b[r] = _mm512_setzero_ps(); }
    long i = 0;
    for (; i + 16 <= k; i += 16) {
        _mm_prefetch((const char *)(w0 + i + CK_SKINNY_PREFETCH_FLOATS), _MM_HINT_T1);
        _mm_prefetch((const char *)(w1 + i + CK_SKINNY_PREFETCH_FLOATS), _MM_HINT_T1);
        const __m512 u = _mm512_loadu_ps(w0 + i), v = _mm512_loadu_ps(w1 + i);
        for (int r = 0; r < R; r++) {
            const __m512 t = _mm512_loadu_ps(x + r * lda + i);
            a[r] = _mm512_fmadd_ps(u, t, a[r]);
            b[r] = _mm512_fmadd_ps(v, t, b[r]);
        }
    }
    if (i < k) {
        const __mmask16 m = first_lanes(k - i);
        const __m512 u = _mm512_maskz_loadu_ps(m, w0 + i), v = _mm512_maskz_loadu_ps(m, w1 + i);
        for (int r = 0; r < R; r++) {
            const __m512 t = _mm512_maskz_loadu_ps(m, x + r * lda + i);
            a[r] = _mm512_fmadd_ps(u, t, a[r]);
            b[r] = _mm512_fmadd_ps(v, t, b[r]);
        }
    }
    for (int r = 0; r < R; r++) { d0[r] = _mm512_reduce_add_ps(a[r]); d1[r] = _mm512_reduce_add_ps(b[r]); }
}

// dots with R a compile-time constant in each case.
INLINE AVX512 void dots_rows(const float *w0, const float *w1, const float *x, long lda, long k, float *d0, float *d1, long rows) {
    switch (rows) {
    case 2: dots(w0, w1, x, lda, k, d0, d1, 2); break;
    case 3: dots(w0, w1, x, lda, k, d0, d1, 3); break;
    case 4: dots(w0, w1, x, lda, k, d0, d1, 4); break;
    case 5: dots(w0, w1, x, lda, k, d0, d1, 5); break;
    case 6: dots(w0, w1, x, lda, k, d0, d1, 6); break;
    case 7: dots(w0, w1, x, lda, k, d0, d1, 7); break;
    default: dots(w0, w1, x, lda, k, d0, d1, 8); break;
    }
}

AVX512 void ck_skinny_linear_avx512(const float *x, long m, long k, long lda, const float *w, long ldw,
                                    float *y, long ldy, long first, long last, int accumulate, float alpha) {
    long j = first;
    if (m == 1) {
        for (; j < last; j++) ck_skinny_store(y + j, dot(w + j * ldw, x, k), accumulate, alpha);
        return;
    }
    while (j < last) {
        const int pair = j + 1 < last;
        const float *w0 = w + j * ldw, *w1 = pair ? w0 + ldw : w0;
        float d0[8], d1[8];
        dots_rows(w0, w1, x, lda, k, d0, d1, m);
        for (long r = 0; r < m; r++) {
            float *out = y + r * ldy + j;
            ck_skinny_store(out, d0[r], accumulate, alpha);
            if (pair) ck_skinny_store(out + 1, d1[r], accumulate, alpha);
        }
        j += pair ? 2 : 1;
    }
}
