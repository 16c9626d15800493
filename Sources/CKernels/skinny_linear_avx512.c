// Skinny linear for AVX-512 CPUs (F + VL + BW + DQ). What AVX-512 brings here is 32 vector
// registers (AVX-512VL gives them to 256-bit code) and masked loads: a pair of weight rows is
// dotted with all (≤ 8) x rows in one pass — 16 accumulators — so the pair is read once and never
// re-read from L1/L2 as in the AVX2 kernel (16 registers: x rows four at a time), and k tails are
// masked loads instead of scalar loops. The vectors stay 256-bit: on Zen 4 a 512-bit FMA takes both
// 256-bit pipes (no more FLOPs), and a 64-byte load of a weight row that is not 64-byte aligned
// (a safetensors view usually is not) crosses a cache line every time; measured single-threaded
// on a 128 MB weight, 512-bit vectors were 5–15 % slower than the AVX2 kernel at m = 4 and 8, this
// kernel 10–15 % faster at m = 8 and equal at m = 1 and 4 (Zen 4). Every (weight row, x row) is one
// 8-lane chain whatever m (decode's batch invariance, as in the AVX2 kernel); the masked tail goes
// into that chain where the AVX2 kernel adds a scalar tail, so the two variants agree to rounding,
// not bit for bit.
#include "CKernels.h"
#include "skinny_linear_common.h"
#include <immintrin.h>
#pragma STDC FP_CONTRACT OFF

#define AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq")))
#define INLINE static inline __attribute__((always_inline))

// Mask of the first `n` (< 8) lanes.
INLINE AVX512 __mmask8 first_lanes(long n) { return (__mmask8)((1u << n) - 1); }

INLINE AVX512 float sum8(__m256 v) {
    const __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 q = _mm_add_ps(h, _mm_movehl_ps(h, h));
    return _mm_cvtss_f32(_mm_add_ss(q, _mm_movehdup_ps(q)));
}

// w · x for one weight row and one x row: one accumulator along k, the masked tail into it, then
// its lanes — the chain `dots` runs for each (weight row, x row), so an x row gets the same bits alone
// as in a batch (decode's batch invariance). The caller streams one row at a time: one 8-lane FMA
// chain caps a core at ≈ 44 GB/s of f32 from L2 (79 with four rows side by side), above its share of
// memory, and in the host's fast memory state (48–55 GB/s for two threads) one stream per thread ran
// `bench` decode at 1.16–1.24 × the adjacent read floor against 1.31–1.38 with four rows side by side
// (two rows: slower still), level in the slow state (session 27, Zen 4, alternating rounds; bf16
// found the same in session 26). Before session 16 one row had four accumulators: rounded
// differently, and 1.05–1.6 × slower on Emerald Rapids. Each line is also prefetched into L1
// non-temporally, 2 KiB ahead (CK_L1_STREAM_PREFETCH_BYTES: keeps x in L1).
INLINE AVX512 float row_dot(const float *w, const float *x, long k) {
    __m256 a = _mm256_setzero_ps();
    long i = 0;
    for (; i + 8 <= k; i += 8) {
        if ((i & 15) == 0) {
            _mm_prefetch((const char *)(w + i + CK_SKINNY_PREFETCH_FLOATS), _MM_HINT_T1);
            _mm_prefetch((const char *)(w + i) + CK_L1_STREAM_PREFETCH_BYTES, _MM_HINT_NTA);
        }
        a = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a);
    }
    if (i < k) {
        const __mmask8 m = first_lanes(k - i);
        a = _mm256_fmadd_ps(_mm256_maskz_loadu_ps(m, w + i), _mm256_maskz_loadu_ps(m, x + i), a);
    }
    return sum8(a);
}

// d0[r], d1[r] = w0 · x_r, w1 · x_r for the R x rows at x + r·lda. R is a constant at every call
// (see dots_rows), so the loops over r unroll and the 2·R accumulators stay in registers.
INLINE AVX512 void dots(const float *w0, const float *w1, const float *x, long lda, long k, float *d0, float *d1, const int R) {
    __m256 a[8], b[8];
    for (int r = 0; r < R; r++) { a[r] = _mm256_setzero_ps(); b[r] = _mm256_setzero_ps(); }
    long i = 0;
    for (; i + 8 <= k; i += 8) {
        _mm_prefetch((const char *)(w0 + i + CK_SKINNY_PREFETCH_FLOATS), _MM_HINT_T1);
        _mm_prefetch((const char *)(w1 + i + CK_SKINNY_PREFETCH_FLOATS), _MM_HINT_T1);
        const __m256 u = _mm256_loadu_ps(w0 + i), v = _mm256_loadu_ps(w1 + i);
        for (int r = 0; r < R; r++) {
            const __m256 t = _mm256_loadu_ps(x + r * lda + i);
            a[r] = _mm256_fmadd_ps(u, t, a[r]);
            b[r] = _mm256_fmadd_ps(v, t, b[r]);
        }
    }
    if (i < k) {
        const __mmask8 m = first_lanes(k - i);
        const __m256 u = _mm256_maskz_loadu_ps(m, w0 + i), v = _mm256_maskz_loadu_ps(m, w1 + i);
        for (int r = 0; r < R; r++) {
            const __m256 t = _mm256_maskz_loadu_ps(m, x + r * lda + i);
            a[r] = _mm256_fmadd_ps(u, t, a[r]);
            b[r] = _mm256_fmadd_ps(v, t, b[r]);
        }
    }
    for (int r = 0; r < R; r++) { d0[r] = sum8(a[r]); d1[r] = sum8(b[r]); }
}

// dots with R a compile-time constant in each case (m ≤ 8: the callers' row blocks).
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
    if (m == 1) {
        for (long j = first; j < last; j++) ck_skinny_store(y + j, row_dot(w + j * ldw, x, k), accumulate, alpha);
        return;
    }
    long j = first;
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
