// exp-based row passes for AVX2: the former Swift SIMD8 code, operation for operation.
#include "CKernels.h"
#include "exp_constants.h"
#include <immintrin.h>
#pragma STDC FP_CONTRACT OFF

#define AVX2 __attribute__((target("avx2,fma")))

// e^x per lane, the same operations as ck_exp (max/min keep a NaN x: it is their second operand).
static inline AVX2 __m256 exp8(__m256 x) {
    const __m256 magic = _mm256_set1_ps(CK_EXP_MAGIC);
    const __m256 xc = _mm256_min_ps(_mm256_set1_ps(CK_EXP_HI), _mm256_max_ps(_mm256_set1_ps(CK_EXP_LO), x));
    const __m256 t = _mm256_add_ps(_mm256_mul_ps(xc, _mm256_set1_ps(CK_EXP_LOG2E)), magic);
    const __m256 n = _mm256_sub_ps(t, magic);
    const __m256 r = _mm256_sub_ps(_mm256_sub_ps(xc, _mm256_mul_ps(n, _mm256_set1_ps(CK_EXP_LN2_HI))),
                                   _mm256_mul_ps(n, _mm256_set1_ps(CK_EXP_LN2_LO)));
    __m256 p = _mm256_set1_ps(CK_EXP_P0);
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(CK_EXP_P1));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(CK_EXP_P2));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(CK_EXP_P3));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(CK_EXP_P4));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(CK_EXP_P5));
    const __m256 y = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(_mm256_mul_ps(p, r), r), r), _mm256_set1_ps(1.0f));
    const __m256i bits = _mm256_slli_epi32(
        _mm256_add_epi32(_mm256_sub_epi32(_mm256_castps_si256(t), _mm256_set1_epi32(0x4B400000)), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(bits));
}

// Lanes summed in lane order (what Swift's SIMD8.sum() does).
static inline AVX2 float sum8(__m256 v) {
    float lane[8];
    _mm256_storeu_ps(lane, v);
    float s = lane[0];
    for (int i = 1; i < 8; i++) s += lane[i];
    return s;
}

AVX2 float ck_exp_shifted_avx2(float *x, long n, float shift) {
    const __m256 s = _mm256_set1_ps(shift);
    __m256 acc = _mm256_setzero_ps();
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), s));
        _mm256_storeu_ps(x + i, e);
        acc = _mm256_add_ps(acc, e);
    }
    float total = sum8(acc);
    for (; i < n; i++) { const float e = ck_exp(x[i] - shift); x[i] = e; total += e; }
    return total;
}

AVX2 void ck_silu_mul_avx2(const float *gate, const float *up, float *out, long n) {
    const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 g = _mm256_loadu_ps(gate + i);
        const __m256 silu = _mm256_div_ps(g, _mm256_add_ps(one, exp8(_mm256_xor_ps(g, sign))));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(silu, _mm256_loadu_ps(up + i)));
    }
    for (; i < n; i++) { const float g = gate[i]; out[i] = g / (1.0f + ck_exp(-g)) * up[i]; }
}
