// What the stored-dtype weight kernels (skinny_weight_*.c) share: the scalar definitions of the
// conversions the vector code follows lane for lane, and the FP8 block-scale lookup.
//
// FP8 E4M3 (float8_e4m3fn): s eeee mmm, exponent bias 7, no infinities, 0x7F / 0xFF are NaN,
// e = 0 is subnormal (m/8 · 2^-6). Conversion without a table: the magnitude bits shifted left by 20
// land on f32's exponent/mantissa fields, which read as 2^(e−127)·(1 + m/8) for e > 0 and as the
// f32 subnormal m/8 · 2^-126 for e = 0 — both exactly 2^-120 times the E4M3 value. The 2^120 is
// folded into the block scale (one multiply per weight: fl(bits · (scale · 2^120)) equals
// fl(q · scale), HF's dequantized f32 weight, since both round the same real product once).
// Sign: the byte sign-extended to 32 bits and shifted left by 20 has bits 27–31 all equal to the
// sign, so masking with 0x87F00000 keeps sign + magnitude in one AND.
// Two caveats, both handled: the f32 subnormal reads as 0 under MXCSR.DAZ (set process-wide by any
// library built with -ffast-math), so the FP8 entry points clear DAZ for their duration; and
// scale · 2^120 overflows for |scale| ≥ 2^8, so calls over such blocks (absurd in practice) multiply twice.
// NaN codes are rare: the kernels test each 64 (AVX-512) / 32 (AVX2) bytes of the P rows for one
// with a byte compare, and only then run the per-vector NaN fix-up (OR the quiet-NaN bits into
// those lanes after the multiply).
#ifndef CK_WEIGHT_COMMON_H
#define CK_WEIGHT_COMMON_H
#include "CKernels.h"
#include "skinny_linear_common.h"
#include <math.h>
#include <string.h>
#include <immintrin.h>
#pragma STDC FP_CONTRACT OFF

#define CK_FP8_FOLD 0x1p120f
#define CK_FP8_FIELDS 0x87F00000u      // sign + 7 magnitude bits of (sign-extended byte << 20)
#define CK_FP8_NAN_FIELDS 0x07F00000u  // magnitude 0x7F << 20: NaN
#define CK_QUIET_NAN_BITS 0x7FC00000u  // OR-ed into a NaN lane (keeps its sign)

/// Prefetch distance in bytes of weight: 32 KiB ahead into L2 (see skinny_linear_common.h).
#define CK_WEIGHT_PREFETCH_BYTES 32768

/// The multipliers of one FP8 block: fold = scale · 2^120 (used alone), or when some block of the
/// call's rows has |scale| ≥ 2^8 (`two`, checked once per call by ck_fp8_needs_two), fold = 2^120 and
/// the weight is (bits · 2^120) · scale.
typedef struct { float fold, scale; } ck_fp8_scale;

static inline __attribute__((always_inline)) ck_fp8_scale ck_fp8_block_scale(float scale, int two) {
    ck_fp8_scale s;
    s.scale = scale;
    s.fold = two ? CK_FP8_FOLD : scale * CK_FP8_FOLD;
    return s;
}

/// Whether scale · 2^120 overflows for a block of rows first..<last.
static inline int ck_fp8_needs_two(const ck_weight *w, long first, long last) {
    if (w->dtype != CK_WEIGHT_FP8_E4M3 || first >= last) return 0;
    const long blocks = (w->cols + w->block_cols - 1) / w->block_cols;
    for (long rb = first / w->block_rows; rb <= (last - 1) / w->block_rows; rb++)
        for (long b = 0; b < blocks; b++) {
            const float s = w->scales[rb * w->scale_stride + b];
            if (isfinite(s) && !(fabsf(s) < 256.0f)) return 1;
        }
    return 0;
}

/// The scale row of weight row r.
static inline __attribute__((always_inline)) const float *ck_scale_row(const ck_weight *w, long r) {
    return w->scales + (r / w->block_rows) * w->scale_stride;
}

static inline __attribute__((always_inline)) float ck_bits_float(uint32_t b) { float f; memcpy(&f, &b, 4); return f; }
static inline __attribute__((always_inline)) uint32_t ck_float_bits(float f) { uint32_t b; memcpy(&b, &f, 4); return b; }

/// One FP8 byte times its block's multipliers, as the vector kernels compute it.
static inline __attribute__((always_inline)) float ck_fp8_scaled(uint8_t byte, ck_fp8_scale s, int two) {
    const uint32_t v = (uint32_t)(int32_t)(int8_t)byte << 20;
    const float f = ck_bits_float(v & CK_FP8_FIELDS);
    const float w = two ? (f * CK_FP8_FOLD) * s.scale : f * s.fold;
    return (v & CK_FP8_NAN_FIELDS) == CK_FP8_NAN_FIELDS ? ck_bits_float(ck_float_bits(w) | CK_QUIET_NAN_BITS) : w;
}

/// bf16 → f32: a shift.
static inline __attribute__((always_inline)) float ck_bf16_float(uint16_t h) { return ck_bits_float((uint32_t)h << 16); }

/// Clears MXCSR.DAZ (see above) until ck_restore_csr; returns the caller's MXCSR.
__attribute__((target("sse2"))) static inline unsigned ck_clear_daz(void) {
    const unsigned csr = _mm_getcsr();
    if (csr & 0x40u) _mm_setcsr(csr & ~0x40u);
    return csr;
}
__attribute__((target("sse2"))) static inline void ck_restore_csr(unsigned csr) {
    if (csr & 0x40u) _mm_setcsr(csr);
}
#endif
