// The scalar e^x every variant's elements equal (and the tails of their loops).
#include "CKernels.h"
#include "exp_constants.h"
#pragma STDC FP_CONTRACT OFF

float ck_exp(float x) {
    float xc = x < CK_EXP_LO ? CK_EXP_LO : x;          // NaN stays NaN, as in the vector code
    xc = xc > CK_EXP_HI ? CK_EXP_HI : xc;
    const float t = xc * CK_EXP_LOG2E + CK_EXP_MAGIC;  // round(x / ln 2) in the low mantissa bits
    const float n = t - CK_EXP_MAGIC;
    const float r = (xc - n * CK_EXP_LN2_HI) - n * CK_EXP_LN2_LO;
    float p = CK_EXP_P0;
    p = p * r + CK_EXP_P1;
    p = p * r + CK_EXP_P2;
    p = p * r + CK_EXP_P3;
    p = p * r + CK_EXP_P4;
    p = p * r + CK_EXP_P5;
    const float y = p * r * r + r + 1.0f;
    union { float f; int32_t i; } tb = {t}, scale;
    scale.i = (int32_t)((uint32_t)(tb.i - 0x4B400000 + 127) << 23);                    // 2^n
    return y * scale.f;
}
