// exp-based row passes for AVX-512: 16 lanes, masked tails. Every element equals the AVX2 (and
// scalar) value; expShifted's sum groups differently (agrees to rounding).
#include "CKernels.h"
#include "exp_constants.h"
#include <immintrin.h>
#pragma STDC FP_CONTRACT OFF

#define AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq")))

// e^x per lane, the same operations as ck_exp (max/min keep a NaN x: it is their second operand).
static inline AVX512 __m512 exp16(__m512 x) {
    const __m512 magic = _mm512_set1_ps(CK_EXP_MAGIC);
    const __m512 xc = _mm512_min_ps(_mm512_set1_ps(CK_EXP_HI), _mm512_max_ps(_mm512_set1_ps(CK_EXP_LO), x));
    const __m512 t = _mm512_add_ps(_mm512_mul_ps(xc, _mm512_set1_ps(CK_EXP_LOG2E)), magic);
    const __m512 n = _mm512_sub_ps(t, magic);
    const __m512 r = _mm512_sub_ps(_mm512_sub_ps(xc, _mm512_mul_ps(n, _mm512_set1_ps(CK_EXP_LN2_HI))),
                                   _mm512_mul_ps(n, _mm512_set1_ps(CK_EXP_LN2_LO)));
    __m512 p = _mm512_set1_ps(CK_EXP_P0);
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(CK_EXP_P1));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(CK_EXP_P2));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(CK_EXP_P3));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(CK_EXP_P4));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(CK_EXP_P5));
    const __m512 y = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(_mm512_mul_ps(p, r), r), r), _mm512_set1_ps(1.0f));
    const __m512i bits = _mm512_slli_epi32(
        _mm512_add_epi32(_mm512_sub_epi32(_mm512_castps_si512(t), _mm512_set1_epi32(0x4B400000)), _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(y, _mm512_castsi512_ps(bits));
}

AVX512 float ck_exp_shifted_avx512(float *x, long n, float shift) {
    const __m512 s = _mm512_set1_ps(shift);
    __m512 acc = _mm512_setzero_ps();
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(x + i), s));
        _mm512_storeu_ps(x + i, e);
        acc = _mm512_add_ps(acc, e);
    }
    if (i < n) {
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        const __m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), s));
        _mm512_mask_storeu_ps(x + i, m, e);
        acc = _mm512_mask_add_ps(acc, m, acc, e);
    }
    return _mm512_reduce_add_ps(acc);
}

AVX512 void ck_silu_mul_avx512(const float *gate, const float *up, float *out, long n) {
    const __m512 one = _mm512_set1_ps(1.0f);
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
    for (long i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        const __m512 g = _mm512_maskz_loadu_ps(m, gate + i);
        const __m512 negated = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(g), sign));
        const __m512 silu = _mm512_div_ps(g, _mm512_add_ps(one, exp16(negated)));
        _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(silu, _mm512_maskz_loadu_ps(m, up + i)));
    }
}
