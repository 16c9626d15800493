// What the stored-dtype weight kernels (skinny_weight_*.c) share: the scalar definitions of the
// conversions the vector code follows lane for lane, and the FP8 block-scale lookup.
//
// FP8 E4M3 (float8_e4m3fn): s eeee mmm, exponent bias 7, no infinities, 0x7F / 0xFF are NaN,
// e = 0 is subnormal (m/8 · 2^-6). Converted without a table, through f16: the byte sign-extended to
// 16 bits and shifted left by 7 puts e on bits 10–13 (f16's exponent field, bias 15), m on 7–9 and
// the sign on 14–15; AND 0xBF80 clears bit 14. That f16 is exactly q · 2^-8 — subnormals included
// (e = 0 lands on f16 subnormals) — and vcvtph2ps makes it an f32 exactly (normal: no DAZ concern).
// NaN codes become the finite 1.875, so lines holding one (tested once per 64 / 32 bytes of the
// P rows with a byte compare; rare) OR the quiet-NaN bits into those lanes.
// Without vcvtph2ps (AVX2, one x row): the byte sign-extended to 32 bits and shifted left by 20 puts
// e on bits 23–26 (f32's exponent field, bias 127), m on 20–22; AND 0x87F00000 keeps them and the
// sign. That f32 is exactly q · 2^-120 (e = 0 lands on f32 subnormals, hence the DAZ rule below);
// x is scaled by 2^64 in the dot so each product is q · x · 2^-56, normal and rounded as q · x.
// Block scale: the skinny kernels accumulate each 128-column block's partial dot Σ (q · 2^-8) · x in
// its own accumulators and add it as fma(partial · 2^8, scale, total) at the block's end — one
// multiply per block and accumulator instead of one per weight (AVX2 with two or more x rows instead
// dequantizes each weight vector once for all rows, and with one x row folds the scales into x:
// skinny_weight_avx2.c). This rounds like any f32 dot
// (the partial is not fl(q · scale) · x term by term; the difference is a few ulps of the block's
// sum, far inside the 1e-4 model tolerance; tests bound it against Double). The conversion to f32
// (prefill panels, --weights-dtype f32) is exact: fl((q · 2^-8 · 2^8) · scale) = fl(q · scale), HF's
// dequantized weight.
#ifndef CK_WEIGHT_COMMON_H
#define CK_WEIGHT_COMMON_H
#include "CKernels.h"
#include "skinny_linear_common.h"
#include <math.h>
#include <string.h>
#include <immintrin.h>
#pragma STDC FP_CONTRACT OFF

#define CK_FP8_F16_FIELDS 0xBF80        // sign + 7 magnitude bits of (sign-extended byte << 7) as f16
#define CK_FP8_F16_UNIT 0x1p8f          // the f16 holds q · 2^-8
#define CK_FP8_F32_FIELDS 0x87F00000u  // sign + 7 magnitude bits of (sign-extended byte << 20) as f32
#define CK_FP8_F32_UNIT 0x1p120f        // that f32 holds q · 2^-120
#define CK_FP8_F32_X_UNIT 0x1p64f       // x · 2^64 (exact) in a dot with those, so products stay normal
#define CK_QUIET_NAN_BITS 0x7FC00000u   // OR-ed into a NaN lane (keeps its sign)

/// Prefetch distance in bytes of weight: 32 KiB ahead into L2 (see skinny_linear_common.h).
#define CK_WEIGHT_PREFETCH_BYTES 32768

/// Widest input the scaled-x FP8 kernels take (DeepSeek-V3's dense MLP down_proj); wider goes through
/// the block-partial loops.
#define CK_SCALED_X_MAX 18432

/// Whether the scaled-x kernels take a block row whose scale is s: |s| in [2^-32, 2^32], so x · s (times
/// their power-of-two unit) stays in normal range (false for NaN); other block rows take the loops
/// with block partials.
static inline __attribute__((always_inline)) int ck_scaled_x_takes_scale(float s) {
    return fabsf(s) >= 0x1p-32f && fabsf(s) <= 0x1p32f;
}

/// The scaled-x kernels take a call only if every |x| is below this (NaN fails the compare): with
/// any scale they take, x · scale · 2^64 then stays below f32's 2^128. Other calls take the
/// block-partial loops.
#define CK_SCALED_X_INPUT_LIMIT 0x1p32f

/// n floats, 64-byte aligned, for the scaled-x kernels' copies of x: a grow-only buffer per thread
/// (freed when the thread ends), valid until this thread's next call; NULL if memory ran out.
float *ck_scaled_x_scratch(long n);

/// The scale row of weight row r.
static inline __attribute__((always_inline)) const float *ck_scale_row(const ck_weight *w, long r) {
    return w->scales + (r / w->block_rows) * w->scale_stride;
}

static inline __attribute__((always_inline)) float ck_bits_float(uint32_t b) { float f; memcpy(&f, &b, 4); return f; }
static inline __attribute__((always_inline)) uint32_t ck_float_bits(float f) { uint32_t b; memcpy(&b, &f, 4); return b; }

/// Whether an FP8 byte is one of E4M3's two NaN codes (0x7F, 0xFF: exponent and mantissa all ones).
static inline __attribute__((always_inline)) int ck_fp8_is_nan(uint8_t byte) { return (byte & 0x7F) == 0x7F; }

/// Whether any of the k FP8 bytes at row is a NaN code (the scaled-x kernels' check, run only for rows
/// of a set whose NaN test fired).
static inline __attribute__((always_inline)) int ck_fp8_row_has_nan(const char *row, long k) {
    for (long i = 0; i < k; i++)
        if (ck_fp8_is_nan((uint8_t)row[i])) return 1;
    return 0;
}

/// One FP8 byte as f32 (q exactly), by the definition (baseline code: for tails and tests).
static inline __attribute__((always_inline)) float ck_fp8_value(uint8_t byte) {
    const int e = (byte >> 3) & 0xF, m = byte & 7;
    const float sign = (byte & 0x80) ? -1.0f : 1.0f;
    if (ck_fp8_is_nan(byte)) return ck_bits_float(((uint32_t)(byte & 0x80) << 24) | 0x7FF00000u);   // as the kernels (and torch) give
    if (e == 0) return sign * (float)m * 0x1p-9f;
    return sign * ldexpf(1.0f + (float)m * 0.125f, e - 7);
}

/// bf16 → f32: a shift.
static inline __attribute__((always_inline)) float ck_bf16_float(uint16_t h) { return ck_bits_float((uint32_t)h << 16); }

/// Clears MXCSR.DAZ (set process-wide by any library built with -ffast-math) until ck_restore_csr, so
/// no conversion can flush an f16 subnormal (FP8 e = 0); returns the caller's MXCSR.
__attribute__((target("sse2"))) static inline unsigned ck_clear_daz(void) {
    const unsigned csr = _mm_getcsr();
    if (csr & 0x40u) _mm_setcsr(csr & ~0x40u);
    return csr;
}
__attribute__((target("sse2"))) static inline void ck_restore_csr(unsigned csr) {
    if (csr & 0x40u) _mm_setcsr(csr);
}
#endif
