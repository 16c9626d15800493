// Skinny linear over bf16 / f16 / FP8 E4M3 weights for AVX2 + FMA + F16C: 8 weights per vector
// converted in registers (bf16: a 16-bit shift; f16: vcvtph2ps; FP8: integer ops, see
// weight_common.h), f32 FMAs, scalar tails. Blocking for the 16 registers: one or two x rows take
// four weight rows side by side (memory-bound); bf16 / f16 from three x rows take three weight rows
// against groups of ≤ 4 x rows in assembly, 12 accumulators (ck_triple_rows, skinny_avx2.h); FP8's
// dequantizing loop, see fp8_dequant_rows.
// Each row is prefetched once per 64-byte line, 32 KiB ahead. FP8 with 1–8 x rows, block columns a
// multiple of 32 and K ≤ 18432 (the decode case) takes the scaled-x kernels instead: block scales
// folded into x, no partials, every x row the bits it gets alone (fp8_rows_scaled_x and
// fp8_rows_scaled_pairs below).
#include "skinny_avx2.h"
#pragma STDC FP_CONTRACT OFF

#define AVX2 CK_AVX2
// The scaled-x kernels' two copies of each x row (up to 2 · 8 · CK_SCALED_X_MAX floats, 1.1 MiB) live
// in a per-thread buffer (ck_scaled_x_scratch).
#define INLINE CK_INLINE

/// NaN codes among the 8 FP8 bytes b become NaN in w.
INLINE AVX2 __m256 fp8_nan_fix(const __m128i b, const __m256 w) {
    const __m128i nanBytes = _mm_cmpeq_epi8(_mm_or_si128(b, _mm_set1_epi8((char)0x80)), _mm_set1_epi8(-1));
    const __m256i nan = _mm256_cvtepi8_epi32(nanBytes);
    return _mm256_or_ps(w, _mm256_castsi256_ps(_mm256_and_si256(nan, _mm256_set1_epi32((int)CK_QUIET_NAN_BITS))));
}

/// 8 FP8 weights at p as f32 q · 2^-120 by integer ops alone (weight_common.h: CK_FP8_F32_FIELDS);
/// `fix`: NaN codes become NaN (else the caller knows there are none).
INLINE AVX2 __m256 fp8_8_bits(const char *p, const int fix) {
    const __m128i b = _mm_loadl_epi64((const __m128i *)p);
    const __m256 w = _mm256_castsi256_ps(_mm256_and_si256(_mm256_slli_epi32(_mm256_cvtepi8_epi32(b), 20),
                                                          _mm256_set1_epi32((int)CK_FP8_F32_FIELDS)));
    return fix ? fp8_nan_fix(b, w) : w;
}

/// a · b as an FMA adding −0: the same bits as a multiply (x + −0 is x, zeros keep their sign), but
/// Zen 3 runs vmulps with a subnormal operand — fp8_8_bits' lanes for E4M3's subnormal codes — through
/// a slow assist and the FMA without one (harness, 2048 × 5632 FP8 with 1/16 of the codes subnormal,
/// 3–8 x rows: 1.4–1.8 × faster; without subnormal codes 0.97–1.01 ×).
INLINE AVX2 __m256 mul_subnormal_input(const __m256 a, const __m256 b) {
    return _mm256_fmadd_ps(a, b, _mm256_set1_ps(-0.0f));
}

/// One FP8 weight as f32 q · 2^-8 (through f16, for tails: fp8_8_bits' lanes are this · 2^-112).
INLINE AVX2 float fp8_1(uint8_t byte) {
    const uint16_t h = (uint16_t)(((uint16_t)(int16_t)(int8_t)byte << 7) & CK_FP8_F16_FIELDS);
    const float w = _cvtsh_ss(h);
    return ck_fp8_is_nan(byte) ? ck_bits_float(ck_float_bits(w) | CK_QUIET_NAN_BITS) : w;
}

/// acc[p][r] += u[p] · x_r[i..<i+8] for x rows r0..<r1.
INLINE AVX2 void fma_rows(const int P, const int r0, const int r1, const __m256 *u, const float *x, long lda, long i, __m256 acc[4][8]) {
    for (int r = r0; r < r1; r++) {
        const __m256 t = _mm256_loadu_ps(x + r * lda + i);
        for (int p = 0; p < P; p++) acc[p][r] = _mm256_fmadd_ps(u[p], t, acc[p][r]);
    }
}

/// Whether the 64 bytes at i of any of the P rows hold a NaN code.
INLINE AVX2 int fp8_line_has_nan(const int P, const char *const *rows, long i) {
    const __m256i high = _mm256_set1_epi8((char)0x80), ones = _mm256_set1_epi8(-1);
    __m256i nan = _mm256_setzero_si256();
    for (int p = 0; p < P; p++) {
        const __m256i a = _mm256_or_si256(_mm256_loadu_si256((const __m256i *)(rows[p] + i)), high);
        const __m256i b = _mm256_or_si256(_mm256_loadu_si256((const __m256i *)(rows[p] + i + 32)), high);
        nan = _mm256_or_si256(nan, _mm256_or_si256(_mm256_cmpeq_epi8(a, ones), _mm256_cmpeq_epi8(b, ones)));
    }
    return !_mm256_testz_si256(nan, nan);
}

// One x row (decode at batch 1): P = 4 weight rows per x vector, so the per-weight work is the
// conversion alone — fp8_8_bits' q · 2^-120 straight into the FMA, kept in normal f32 range by
// scaling the x vector by CK_FP8_F32_X_UNIT once for all P, and the block scale applied once per
// block to the partial (Zen 3, 2048×5632: ~20 % less time than through f16 and vcvtph2ps).

/// part[p] += Σ q · x · 2^-56 over the 8 FP8 columns from i.
INLINE AVX2 void fp8_step(const int fix, const int P, const char *const *rows, const float *x, long i, __m256 part[4]) {
    const __m256 t = _mm256_mul_ps(_mm256_loadu_ps(x + i), _mm256_set1_ps(CK_FP8_F32_X_UNIT));
    for (int p = 0; p < P; p++) part[p] = _mm256_fmadd_ps(fp8_8_bits(rows[p] + i, fix), t, part[p]);
}

/// acc[p] (+ tail[p]) += scale_p · Σ q · x over FP8 columns c0..<c1 (one block), one x row.
INLINE AVX2 void fp8_block(const int P, const char *const *rows, const float *x, long c0, long c1, const float *scale,
                           __m256 acc[4][8], float tail[4][8]) {
    __m256 part[4];
    float partTail[4];
    for (int p = 0; p < P; p++) { part[p] = _mm256_setzero_ps(); partTail[p] = 0; }
    long i = c0;
    for (; i + 64 <= c1; i += 64) {
        for (int p = 0; p < P; p++) _mm_prefetch(rows[p] + i + CK_WEIGHT_PREFETCH_BYTES, _MM_HINT_T1);
        if (fp8_line_has_nan(P, rows, i)) { for (long q = i; q < i + 64; q += 8) fp8_step(1, P, rows, x, q, part); }
        else { for (long q = i; q < i + 64; q += 8) fp8_step(0, P, rows, x, q, part); }
    }
    for (; i + 8 <= c1; i += 8) fp8_step(1, P, rows, x, i, part);
    for (; i < c1; i++)
        for (int p = 0; p < P; p++) partTail[p] += fp8_1((uint8_t)rows[p][i]) * x[i];
    const __m256 unit = _mm256_set1_ps(CK_FP8_F32_UNIT / CK_FP8_F32_X_UNIT);
    for (int p = 0; p < P; p++) {
        acc[p][0] = _mm256_fmadd_ps(_mm256_mul_ps(part[p], unit), _mm256_set1_ps(scale[p]), acc[p][0]);
        tail[p][0] += (partTail[p] * CK_FP8_F16_UNIT) * scale[p];
    }
}

// One x row over whole rows (decode at batch 1, the common FP8 case): the block scales go into x
// instead of into per-block partials. For each block row of weights (128 rows in DeepSeek-V3),
// xs = x · 2^64 · scale of (that block row, each column block) is built once (K multiplies against
// 128 · K weights), and each row is one dot over all its columns, with no partial to scale and add
// every 128 columns (those epilogues cost 10–15 % of a core, docs/stored-dtype-kernels.md). Also
// fewer operations per weight: one 32-byte load per row whose dword lanes hold columns 4l + j at
// byte j, each byte position taken out with 16-bit arithmetic shifts — srai(v, 4) leaves bytes 3
// and 1, srai(v << 8, 4) bytes 2 and 0, each as fp8_8_bits' sign-extended byte << 20 — then the
// same AND, against xs permuted to match (xs[8j + l] holds column 4l + j): 9 integer operations and
// 4 FMAs per 32 weights where fp8_step takes 12 and 4 plus the x scaling. The four rows of a step are
// a quarter of the block row apart, so the weight is read as four sequential streams. Rounding: each
// product is (q · 2^-120) · fl(x · 2^64 · scale), a term-wise f32 dot like the others (tests bound
// all of them against Double). One core, K = 2048 and 5632, 4 MiB weights: 1.14–1.19 × fp8_block's
// speed.
// Block rows with a scale outside [2^-32, 2^32], where fl(x · scale · 2^64) could leave the normal
// range, take fp8_block; calls with an |x| of 2^32 or more (or NaN) take fp8_dequant_rows. NaN codes
// are looked for once per row set (max of the doubled bytes: 0xFE only for 0x7F / 0xFF) unless the
// weight was scanned free of them at load; a row holding one gives NaN, as in fp8_block.

/// x'[c + 8j + l] = x[c + 4l + j] · 2^64 for the 32-column groups below k32; 0 if some |x| there
/// reaches CK_SCALED_X_INPUT_LIMIT, or is NaN.
INLINE AVX2 int fp8_permute_x(const float *x, long k32, float *xp) {
    int inRange = 1;
    for (long c = 0; c < k32; c += 32)
        for (int j = 0; j < 4; j++)
            for (int l = 0; l < 8; l++) {
                const float v = x[c + 4 * l + j];
                inRange &= fabsf(v) < CK_SCALED_X_INPUT_LIMIT;
                xp[c + 8 * j + l] = v * CK_FP8_F32_X_UNIT;
            }
    return inRange;
}

/// xs = x' · a block row's scales (one per column block); 0 (xs unfinished) if a scale is outside
/// [2^-32, 2^32].
INLINE AVX2 int fp8_scale_x(const ck_weight *w, const float *scales, const float *xp, long k32, float *xs) {
    for (long c = 0; c < k32; c += w->block_cols) {
        const float s = scales[c / w->block_cols];
        if (!ck_scaled_x_takes_scale(s)) return 0;
        const __m256 v = _mm256_set1_ps(s);
        const long end = c + w->block_cols < k32 ? c + w->block_cols : k32;
        for (long i = c; i < end; i += 8) _mm256_storeu_ps(xs + i, _mm256_mul_ps(_mm256_loadu_ps(xp + i), v));
    }
    return 1;
}

// The scaled-x conversion of 32 FP8 bytes, in assembly for fp8_scaled_step and fp8_pair_group
// (operands named there; %[f] is the f32 fields mask, %[t] a temporary). CK_FP8_LOAD: the row's
// bytes v, their doubles into the NaN max, hi = v >>a 4 and lo = (v << 8) >>a 4 in 16-bit lanes.
// Bytes 0, 1, 2, 3 of each dword are then (lo << 16, hi << 16, lo, hi) AND the fields:
// CK_FP8_SHIFTED / CK_FP8_PLAIN put one of them in w.
#define CK_FP8_LOAD(row, hi, lo)                                                                       \
    "vmovdqu (%[" #row "]), %[" #lo "]\n\t"                                                            \
    "vpaddb %[" #lo "], %[" #lo "], %[t]\n\t"                                                          \
    "vpmaxub %[t], %[nan], %[nan]\n\t"                                                                 \
    "vpsraw $4, %[" #lo "], %[" #hi "]\n\t"                                                            \
    "vpsllw $8, %[" #lo "], %[" #lo "]\n\t"                                                            \
    "vpsraw $4, %[" #lo "], %[" #lo "]\n\t"
// CK_FP8_LOAD_CLEAN: the same without the NaN max (weights scanned free of NaN codes at load).
#define CK_FP8_LOAD_CLEAN(row, hi, lo)                                                                 \
    "vmovdqu (%[" #row "]), %[" #lo "]\n\t"                                                            \
    "vpsraw $4, %[" #lo "], %[" #hi "]\n\t"                                                            \
    "vpsllw $8, %[" #lo "], %[" #lo "]\n\t"                                                            \
    "vpsraw $4, %[" #lo "], %[" #lo "]\n\t"
#define CK_FP8_SHIFTED(src, w) "vpslld $16, %[" #src "], %[" #w "]\n\t" "vpand %[f], %[" #w "], %[" #w "]\n\t"
#define CK_FP8_PLAIN(src, w) "vpand %[f], %[" #src "], %[" #w "]\n\t"

// One row's 32 columns in fp8_scaled_step: each quarter FMA-ed with its 8 xs (LOAD: CK_FP8_LOAD or
// CK_FP8_LOAD_CLEAN).
#define CK_FP8_SCALED_ROW(LOAD, row, acc)                                                              \
    LOAD(row, hi, lo)                                                                                  \
    CK_FP8_SHIFTED(lo, t) "vfmadd231ps (%[xs]), %[t], %[" #acc "]\n\t"                                  \
    CK_FP8_SHIFTED(hi, t) "vfmadd231ps 32(%[xs]), %[t], %[" #acc "]\n\t"                                \
    CK_FP8_PLAIN(lo, lo) "vfmadd231ps 64(%[xs]), %[lo], %[" #acc "]\n\t"                                \
    CK_FP8_PLAIN(hi, hi) "vfmadd231ps 96(%[xs]), %[hi], %[" #acc "]\n\t"

/// acc[p] += Σ q · xs over the 32 FP8 columns from i of row p; nanMax: max of the doubled bytes when
/// `check` (else untouched: the weight was scanned free of NaN codes, and the two operations per row
/// and 32 bytes are saved).
/// Assembly, one row after the other: from intrinsics clang hoists every row's load of both steps
/// of a line and spills the shifted vectors (five intrinsics arrangements measured 0.73–0.98 × as
/// fast as the one this replaced, which spilled too); this runs 1.06 × that on one core and
/// 1.04–1.10 × on two threads (Zen 3, 4 MiB weights), with the same bits (same operations and FMA
/// order; the FMA's operand order does not change its value). docs/stored-dtype-kernels.md.
INLINE AVX2 void fp8_scaled_step(const int check, const char *const *rows, const float *xs, long i, __m256 acc[4],
                                 __m256i *nanMax) {
    const __m256i fields = _mm256_set1_epi32((int)CK_FP8_F32_FIELDS);
    __m256i hi, lo, t;
#define CK_FP8_SCALED_ASM(LOAD)                                                                                    \
    __asm__(CK_FP8_SCALED_ROW(LOAD, r0, a0) CK_FP8_SCALED_ROW(LOAD, r1, a1) CK_FP8_SCALED_ROW(LOAD, r2, a2)          \
                CK_FP8_SCALED_ROW(LOAD, r3, a3)                                                                  \
            : [a0] "+x"(acc[0]), [a1] "+x"(acc[1]), [a2] "+x"(acc[2]), [a3] "+x"(acc[3]), [nan] "+x"(*nanMax),   \
              [hi] "=&x"(hi), [lo] "=&x"(lo), [t] "=&x"(t)                                                       \
            : [r0] "r"(rows[0] + i), [r1] "r"(rows[1] + i), [r2] "r"(rows[2] + i), [r3] "r"(rows[3] + i),        \
              [xs] "r"(xs + i), [f] "x"(fields)                                                                  \
            : "memory")
    if (check) CK_FP8_SCALED_ASM(CK_FP8_LOAD);
    else CK_FP8_SCALED_ASM(CK_FP8_LOAD_CLEAN);
#undef CK_FP8_SCALED_ASM
}

// Two weight rows against 2–4 x rows (fp8_pair_group): per 32 columns both rows' bytes converted
// as in fp8_scaled_step, and each xs vector loaded once for the FMAs of both rows — per (row, x row)
// the FMA order of fp8_scaled_step, so each x row gets the bits it gets alone. The fields mask is a
// memory operand: the 16 vector registers hold 8 accumulators, the NaN max and 7 temporaries.
// CK_PAIR_X: one x row's 8 xs FMA-ed into both rows' accumulators.
#define CK_PAIR_X(x, off, a0, a1)                                                                      \
    "vmovups " #off "(%[" #x "]), %[t]\n\t"                                                            \
    "vfmadd231ps %[t], %[w0], %[" #a0 "]\n\t"                                                          \
    "vfmadd231ps %[t], %[w1], %[" #a1 "]\n\t"
#define CK_PAIR_Q2(off) CK_PAIR_X(x0, off, c0, d0) CK_PAIR_X(x1, off, c1, d1)
#define CK_PAIR_Q3(off) CK_PAIR_Q2(off) CK_PAIR_X(x2, off, c2, d2)
#define CK_PAIR_Q4(off) CK_PAIR_Q3(off) CK_PAIR_X(x3, off, c3, d3)
#define CK_PAIR_STEP(Q)                                                                                \
    CK_FP8_LOAD(r0, h0, l0) CK_FP8_LOAD(r1, h1, l1)                                                    \
    CK_FP8_SHIFTED(l0, w0) CK_FP8_SHIFTED(l1, w1) Q(0)                                                 \
    CK_FP8_SHIFTED(h0, w0) CK_FP8_SHIFTED(h1, w1) Q(32)                                                \
    CK_FP8_PLAIN(l0, w0) CK_FP8_PLAIN(l1, w1) Q(64)                                                    \
    CK_FP8_PLAIN(h0, w0) CK_FP8_PLAIN(h1, w1) Q(96)
static const int32_t ck_fp8_fields[8] __attribute__((aligned(32))) = {
    CK_FP8_F32_FIELDS, CK_FP8_F32_FIELDS, CK_FP8_F32_FIELDS, CK_FP8_F32_FIELDS,
    CK_FP8_F32_FIELDS, CK_FP8_F32_FIELDS, CK_FP8_F32_FIELDS, CK_FP8_F32_FIELDS};

// Two or more x rows share each weight vector, so it is dequantized once in registers — fp8_8_bits
// times the block's scale · 2^120, both exact, so each lane is HF's fl(q · scale) — and the rows
// accumulate as over f32 weights: no block partials, half the accumulators of the R = 1 scheme, so
// P and R as bf16's. A scale of 2^8 or more (scale · 2^120 would overflow) takes the two multiplies.

/// acc[p][r] += fl(q · scale_p) · x_r over the 8 FP8 columns from i; s[p] = scale_p · 2^120, or
/// scale_p when `wide`.
INLINE AVX2 void fp8_dequant_step(const int fix, const int wide, const int P, const int R, const char *const *rows, const __m256 *s,
                                  const float *x, long lda, long i, __m256 acc[4][8]) {
    __m256 u[4];
    for (int p = 0; p < P; p++) {
        __m256 w = fp8_8_bits(rows[p] + i, fix);
        if (wide) w = mul_subnormal_input(w, _mm256_set1_ps(CK_FP8_F32_UNIT));
        u[p] = mul_subnormal_input(w, s[p]);
    }
    fma_rows(P, 0, R, u, x, lda, i, acc);
}

/// acc[p][r] (+ tail) += Σ fl(q · scale_p) · x_r over FP8 columns c0..<c1 (one block), R ≥ 2 x rows.
INLINE AVX2 void fp8_dequant_block(const int wide, const int P, const int R, const char *const *rows, const float *x, long lda,
                                   long c0, long c1, const float *scale, __m256 acc[4][8], float tail[4][8]) {
    __m256 s[4];
    for (int p = 0; p < P; p++) s[p] = _mm256_set1_ps(wide ? scale[p] : scale[p] * CK_FP8_F32_UNIT);
    long i = c0;
    for (; i + 64 <= c1; i += 64) {
        for (int p = 0; p < P; p++) _mm_prefetch(rows[p] + i + CK_WEIGHT_PREFETCH_BYTES, _MM_HINT_T1);
        if (fp8_line_has_nan(P, rows, i)) { for (long q = i; q < i + 64; q += 8) fp8_dequant_step(1, wide, P, R, rows, s, x, lda, q, acc); }
        else { for (long q = i; q < i + 64; q += 8) fp8_dequant_step(0, wide, P, R, rows, s, x, lda, q, acc); }
    }
    for (; i + 8 <= c1; i += 8) fp8_dequant_step(1, wide, P, R, rows, s, x, lda, i, acc);
    for (; i < c1; i++)
        for (int p = 0; p < P; p++) {
            const float v = (fp8_1((uint8_t)rows[p][i]) * CK_FP8_F16_UNIT) * scale[p];
            for (int r = 0; r < R; r++) tail[p][r] += v * x[r * lda + i];
        }
}

/// acc[p][r] (+ tail) += W_p · x_r over all k bf16 / f16 columns.
INLINE AVX2 void half_row(const int dt, const int P, const int R, const char *const *rows, const float *x, long lda, long k,
                          __m256 acc[4][8], float tail[4][8]) {
    long i = 0;
    for (; i + 32 <= k; i += 32) {
        for (int p = 0; p < P; p++) _mm_prefetch(rows[p] + 2 * i + CK_WEIGHT_PREFETCH_BYTES, _MM_HINT_T1);
        for (long q = i; q < i + 32; q += 8) {
            __m256 u[4];
            for (int p = 0; p < P; p++) u[p] = ck_half8(dt, rows[p] + 2 * q);
            fma_rows(P, 0, R, u, x, lda, q, acc);
        }
    }
    for (; i + 8 <= k; i += 8) {
        __m256 u[4];
        for (int p = 0; p < P; p++) u[p] = ck_half8(dt, rows[p] + 2 * i);
        fma_rows(P, 0, R, u, x, lda, i, acc);
    }
    for (; i < k; i++)
        for (int p = 0; p < P; p++) {
            const float v = ck_half1(dt, rows[p] + 2 * i);
            for (int r = 0; r < R; r++) tail[p][r] += v * x[r * lda + i];
        }
}

/// d[p][r] = W[j + p] · x_r for p < P (rows past `last` repeat the last one), r < R.
INLINE AVX2 void row_dots(const int dt, const int P, const int R, const ck_weight *w, const float *x, long lda,
                          long j, long last, float d[4][8]) {
    const long eb = dt == CK_WEIGHT_FP8_E4M3 ? 1 : 2, k = w->cols;
    const char *rows[4];
    long index[4];
    for (int p = 0; p < P; p++) {
        index[p] = j + p < last ? j + p : last - 1;
        rows[p] = (const char *)w->base + index[p] * w->row_stride * eb;
    }
    __m256 acc[4][8];
    float tail[4][8];
    for (int p = 0; p < P; p++)
        for (int r = 0; r < R; r++) { acc[p][r] = _mm256_setzero_ps(); tail[p][r] = 0; }
    if (dt != CK_WEIGHT_FP8_E4M3) {
        half_row(dt, P, R, rows, x, lda, k, acc, tail);
    } else {
        const float *scaleRow[4];
        for (int p = 0; p < P; p++) scaleRow[p] = ck_scale_row(w, index[p]);
        const long bc = w->block_cols;
        for (long c0 = 0, b = 0; c0 < k; c0 += bc, b++) {
            float scale[4];
            int wide = 0;
            for (int p = 0; p < P; p++) {
                scale[p] = scaleRow[p][b];
                wide |= !(fabsf(scale[p]) < 0x1p8f);
            }
            const long c1 = c0 + bc < k ? c0 + bc : k;
            if (R == 1) fp8_block(P, rows, x, c0, c1, scale, acc, tail);
            else if (wide) fp8_dequant_block(1, P, R, rows, x, lda, c0, c1, scale, acc, tail);
            else fp8_dequant_block(0, P, R, rows, x, lda, c0, c1, scale, acc, tail);
        }
    }
    for (int p = 0; p < P; p++)
        for (int r = 0; r < R; r++) d[p][r] = ck_sum8(acc[p][r]) + tail[p][r];
}

/// Rows first..<last of y for R x rows, P weight rows at a time; beyond G x rows, the x rows go in
/// two groups (G, R − G) over the same P weight rows, which the second group re-reads from L1/L2.
INLINE AVX2 void rows_loop(const int dt, const int P, const int R, const int G, const float *x, long lda, const ck_weight *w,
                           float *y, long ldy, long first, long last, int accumulate, float alpha) {
    for (long j = first; j < last; j += P) {
        float d[4][8], e[4][8];
        row_dots(dt, P, R < G ? R : G, w, x, lda, j, last, d);
        if (R > G) row_dots(dt, P, R > G ? R - G : 1, w, x + G * lda, lda, j, last, e);
        for (int p = 0; p < P && j + p < last; p++)
            for (int r = 0; r < R; r++) ck_skinny_store(y + r * ldy + j + p, r < G ? d[p][r] : e[p][r - G], accumulate, alpha);
    }
}

#define CK_ROWS(dt, P, R, G) rows_loop(dt, P, R, G, x, lda, w, y, ldy, first, last, accumulate, alpha)

/// FP8 rows first..<last for m x rows through the dequantizing loop: calls the scaled-x kernels cannot
/// take, and their block rows with a scale out of range. One x row: four weight rows, block partials;
/// from two, the weights dequantized in registers like bf16 / f16, two weight rows (their scale
/// vectors are live too). 5 or 6 x rows: one weight row and all x rows in one group, so each weight
/// vector is dequantized once, not again for a group of one or two rows (`bench-fp8` decode, best
/// step: batch 5 36.7–37.6 → 33.4–33.7 ms, batch 6 41.2–41.8 → 39.5–39.8); 7 and 8: two groups (4, R −
/// 4), faster than one (44.6–45.3 against 46.9–47.2 ms, 48.8–49.3 against 52.9–53.3).
INLINE AVX2 void fp8_dequant_rows(const long m, const float *x, long lda, const ck_weight *w, float *y, long ldy, long first,
                                  long last, int accumulate, float alpha) {
    const int dt = CK_WEIGHT_FP8_E4M3;
    switch (m) {
    case 1: CK_ROWS(dt, 4, 1, 8); break;
    case 2: CK_ROWS(dt, 2, 2, 8); break;
    case 3: CK_ROWS(dt, 2, 3, 8); break;
    case 4: CK_ROWS(dt, 2, 4, 8); break;
    case 5: CK_ROWS(dt, 1, 5, 8); break;
    case 6: CK_ROWS(dt, 1, 6, 8); break;
    case 7: CK_ROWS(dt, 2, 7, 4); break;
    default: CK_ROWS(dt, 2, 8, 4); break;
    }
}

/// bf16 / f16 rows first..<last for m x rows: one or two through half_row over four weight rows, 3–8
/// through ck_triple_rows (skinny_avx2.h).
INLINE AVX2 void half_rows(const int dt, const long m, const float *x, long lda, const ck_weight *w, float *y, long ldy,
                           long first, long last, int accumulate, float alpha) {
    if (m == 1) CK_ROWS(dt, 4, 1, 8);
    else if (m == 2) CK_ROWS(dt, 4, 2, 8);
    else ck_triple_rows(dt, m, x, lda, (const char *)w->base, w->row_stride * 2, w->cols, y, ldy, first, last, accumulate, alpha);
}

/// Output y = alpha · (row · x_r) (+ y) from its 32-column accumulator: the row's columns past k32 as
/// scalars, the lanes in order, NaN for a row holding a NaN code.
INLINE AVX2 void fp8_scaled_output(const ck_weight *w, const char *row, __m256 acc, int rowNaN, const float *xr,
                                   const float *scales, long k32, float *y, int accumulate, float alpha) {
    const long k = w->cols, bc = w->block_cols;
    float tail = 0;
    for (long c = k32; c < k; c++) tail += ((fp8_1((uint8_t)row[c]) * xr[c]) * CK_FP8_F16_UNIT) * scales[c / bc];
    float d = ck_sum8(acc) * (CK_FP8_F32_UNIT / CK_FP8_F32_X_UNIT) + tail;
    if (rowNaN) d = ck_bits_float(CK_QUIET_NAN_BITS);
    ck_skinny_store(y, d, accumulate, alpha);
}

/// Whether the doubled bytes' max saw a NaN code (0x7F or 0xFF doubled is 0xFE).
INLINE AVX2 int fp8_nan_seen(const __m256i nanMax) {
    return !_mm256_testz_si256(_mm256_cmpeq_epi8(nanMax, _mm256_set1_epi8((char)0xFE)), _mm256_set1_epi8(-1));
}

/// xs_r = xp_r scaled for the block row at `scales`, for R x rows; 0 if a scale is out of range.
INLINE AVX2 int fp8_scale_x_rows(const int R, const ck_weight *w, const float *scales, const float *xp, float *xs, long k32) {
    for (int r = 0; r < R; r++)
        if (!fp8_scale_x(w, scales, xp + r * k32, k32, xs + r * k32)) return 0;
    return 1;
}

/// Rows first..<last of y = alpha · W x (+ y) for one x row, row block by row block as above; xp:
/// fp8_permute_x of the x row, xs: scratch of k32 floats.
INLINE AVX2 void fp8_rows_scaled_x(const int check, const ck_weight *w, const float *x, const float *xp, float *xs, long k32,
                                   float *y, long first, long last, int accumulate, float alpha) {
    const long br = w->block_rows;
    for (long r0 = first; r0 < last;) {
        const long blockEnd = (r0 / br + 1) * br, r1 = blockEnd < last ? blockEnd : last;
        const float *scales = ck_scale_row(w, r0);
        if (!fp8_scale_x_rows(1, w, scales, xp, xs, k32)) {
            fp8_dequant_rows(1, x, 0, w, y, 0, r0, r1, accumulate, alpha);   // one row: no strides
            r0 = r1;
            continue;
        }
        const long stride = (r1 - r0 + 3) / 4;
        // Each stream prefetches 32 KiB (lead rows) ahead in its own order: past the end of its quarter,
        // into the same quarter of the next block row. (32 KiB past the row itself is the next
        // quarter, which its own stream has already read: at K = 2048 half of each quarter went
        // unprefetched. Two threads, 4 MiB weights: K = 1536 and 2048 1.06–1.12 × faster, 5632 level.)
        const long lead = (CK_WEIGHT_PREFETCH_BYTES + w->row_stride - 1) / w->row_stride;
        const long n1 = r1 + br < last ? r1 + br : last, nextStride = (n1 - r1 + 3) / 4;
        for (long j = r0; j < r0 + stride; j++) {
            const char *rows[4], *ahead[4];
            const long t = j - r0 + lead;
            for (int p = 0; p < 4; p++) {
                const long r = j + p * stride < r1 ? j + p * stride : r1 - 1;
                rows[p] = (const char *)w->base + r * w->row_stride;
                long f = t < stride ? r0 + p * stride + t : r1 + p * nextStride + (t - stride);
                if (f >= last) f = last - 1;
                ahead[p] = (const char *)w->base + f * w->row_stride;
            }
            __m256 acc[4];
            for (int p = 0; p < 4; p++) acc[p] = _mm256_setzero_ps();
            __m256i nanMax = _mm256_setzero_si256();
            long i = 0;
            for (; i + 64 <= k32; i += 64) {
                for (int p = 0; p < 4; p++) _mm_prefetch(ahead[p] + i, _MM_HINT_T1);
                fp8_scaled_step(check, rows, xs, i, acc, &nanMax);
                fp8_scaled_step(check, rows, xs, i + 32, acc, &nanMax);
            }
            if (i < k32) fp8_scaled_step(check, rows, xs, i, acc, &nanMax);
            const int nan = check && fp8_nan_seen(nanMax);
            for (int p = 0; p < 4 && j + p * stride < r1; p++)
                fp8_scaled_output(w, rows[p], acc[p], nan && ck_fp8_row_has_nan(rows[p], k32), x, scales, k32, y + j + p * stride,
                                  accumulate, alpha);
        }
        r0 = r1;
    }
}

// fp8_pair_group's step over the 32 columns from `at` for RG = 2, 3 or 4 x rows (accumulators c_r
// for the first weight row, d_r for the second).
#define CK_PAIR_OUT [nan] "+x"(nanMax), [h0] "=&x"(h0), [l0] "=&x"(l0), [h1] "=&x"(h1), [l1] "=&x"(l1), \
                    [w0] "=&x"(w0), [w1] "=&x"(w1), [t] "=&x"(t)
#define CK_PAIR_IN(at) [r0] "r"(rows[0] + (at)), [r1] "r"(rows[1] + (at)), [f] "m"(*(const __m256i *)ck_fp8_fields)
#define CK_PAIR_ASM(RG, at)                                                                              \
    if (RG == 2)                                                                                         \
        __asm__(CK_PAIR_STEP(CK_PAIR_Q2)                                                                 \
                : [c0] "+x"(c0), [c1] "+x"(c1), [d0] "+x"(d0), [d1] "+x"(d1), CK_PAIR_OUT                \
                : CK_PAIR_IN(at), [x0] "r"(xsg + (at)), [x1] "r"(xsg + k32 + (at))                        \
                : "memory");                                                                             \
    else if (RG == 3)                                                                                    \
        __asm__(CK_PAIR_STEP(CK_PAIR_Q3)                                                                 \
                : [c0] "+x"(c0), [c1] "+x"(c1), [c2] "+x"(c2), [d0] "+x"(d0), [d1] "+x"(d1), [d2] "+x"(d2), \
                  CK_PAIR_OUT                                                                            \
                : CK_PAIR_IN(at), [x0] "r"(xsg + (at)), [x1] "r"(xsg + k32 + (at)),                       \
                  [x2] "r"(xsg + 2 * k32 + (at))                                                         \
                : "memory");                                                                             \
    else                                                                                                 \
        __asm__(CK_PAIR_STEP(CK_PAIR_Q4)                                                                 \
                : [c0] "+x"(c0), [c1] "+x"(c1), [c2] "+x"(c2), [c3] "+x"(c3), [d0] "+x"(d0), [d1] "+x"(d1), \
                  [d2] "+x"(d2), [d3] "+x"(d3), CK_PAIR_OUT                                               \
                : CK_PAIR_IN(at), [x0] "r"(xsg + (at)), [x1] "r"(xsg + k32 + (at)),                       \
                  [x2] "r"(xsg + 2 * k32 + (at)), [x3] "r"(xsg + 3 * k32 + (at))                         \
                : "memory");

/// y rows g0..<g0 + RG at out[0] and out[1] (the first `valid` of them) for the weight rows `rows`,
/// over the whole row. The accumulators and the NaN max are pinned to ymm0–8: as plain operands
/// clang moved them through the stack around every step (harness: 3 x rows 0.80 × the intrinsic
/// step this replaced; pinned, 1.36 ×).
INLINE AVX2 void fp8_pair_group(const int RG, const int g0, const ck_weight *w, const char *const *rows, int valid,
                                const long *out, const float *x, long lda, const float *xs, long k32, const float *scales,
                                float *y, long ldy, int accumulate, float alpha) {
    register __m256 c0 __asm__("ymm0") = _mm256_setzero_ps(), c1 __asm__("ymm1") = c0, c2 __asm__("ymm2") = c0,
                    c3 __asm__("ymm3") = c0, d0 __asm__("ymm4") = c0, d1 __asm__("ymm5") = c0, d2 __asm__("ymm6") = c0,
                    d3 __asm__("ymm7") = c0;
    register __m256i nanMax __asm__("ymm8") = _mm256_setzero_si256();
    __m256i h0, l0, h1, l1, w0, w1, t;
    const float *xsg = xs + g0 * k32;
    long i = 0;
    for (; i + 64 <= k32; i += 64) {
        if (g0 == 0)
            for (int p = 0; p < 2; p++) _mm_prefetch(rows[p] + i + CK_WEIGHT_PREFETCH_BYTES, _MM_HINT_T1);
        CK_PAIR_ASM(RG, i)
        CK_PAIR_ASM(RG, i + 32)
    }
    if (i < k32) { CK_PAIR_ASM(RG, i) }
    const __m256 acc[2][4] = {{c0, c1, c2, c3}, {d0, d1, d2, d3}};
    const int nan = fp8_nan_seen(nanMax);
    for (int p = 0; p < valid; p++) {
        const int rowNaN = nan && ck_fp8_row_has_nan(rows[p], k32);
        for (int r = 0; r < RG; r++)
            fp8_scaled_output(w, rows[p], acc[p][r], rowNaN, x + (g0 + r) * lda, scales, k32, y + (g0 + r) * ldy + out[p],
                              accumulate, alpha);
    }
}
#undef CK_PAIR_ASM
#undef CK_PAIR_IN
#undef CK_PAIR_OUT

/// Rows first..<last of y = alpha · W x_r (+ y) for R = 2…8 x rows (lda apart; y rows ldy apart), row
/// block by row block as above, over consecutive pairs of weight rows; the x rows in ck_first_group's
/// groups, the second re-reading the pair from L1. xp: fp8_permute_x of each x row (k32 apart), xs: scratch of R · k32 floats. Each output is
/// the same dot whether its x row came alone or with others (a batch of R decodes as R batches of 1,
/// bit for bit). Harness (2048 × 5632 streamed, one core, against the intrinsic step this replaced,
/// which loaded each xs vector once per weight row; 2 rows against the quarter-stream kernel they
/// took): 2 rows 1.15–1.17 ×, 3 1.36–1.39, 4 1.19–1.26, 5 1.01, 6 1.21, 7 1.07–1.08, 8 1.22–1.23.
INLINE AVX2 void fp8_rows_scaled_pairs(const int R, const ck_weight *w, const float *x, long lda, const float *xp,
                                       float *xs, long k32, float *y, long ldy, long first, long last, int accumulate, float alpha) {
    const long br = w->block_rows;
    const int G = ck_first_group(R);
    for (long r0 = first; r0 < last;) {
        const long blockEnd = (r0 / br + 1) * br, r1 = blockEnd < last ? blockEnd : last;
        const float *scales = ck_scale_row(w, r0);
        if (!fp8_scale_x_rows(R, w, scales, xp, xs, k32)) {
            fp8_dequant_rows(R, x, lda, w, y, ldy, r0, r1, accumulate, alpha);
            r0 = r1;
            continue;
        }
        for (long j = r0; j < r1; j += 2) {
            const long out[2] = {j, j + 1};
            const int valid = j + 1 < r1 ? 2 : 1;
            const char *rows[2] = {(const char *)w->base + j * w->row_stride,
                                   (const char *)w->base + (j + 1 < r1 ? j + 1 : j) * w->row_stride};
            fp8_pair_group(G, 0, w, rows, valid, out, x, lda, xs, k32, scales, y, ldy, accumulate, alpha);
            if (R > G) fp8_pair_group(R - G, G, w, rows, valid, out, x, lda, xs, k32, scales, y, ldy, accumulate, alpha);
        }
        r0 = r1;
    }
}

// One function per x-row count (not inlined into the dispatch: inlined there, the two-row loop ran
// 0.86 × as fast in the harness, its registers shared with seven other copies).
#define CK_SCALED_ENTRY(name, call)                                                                              \
    static __attribute__((noinline)) AVX2 void name(const ck_weight *w, const float *x, long lda, const float *xp, \
                                                     float *xs, long k32, float *y, long ldy, long first, long last, \
                                                     int accumulate, float alpha) {                                   \
        call;                                                                                                     \
    }
CK_SCALED_ENTRY(scaled_x1_checked, fp8_rows_scaled_x(1, w, x, xp, xs, k32, y, first, last, accumulate, alpha))
CK_SCALED_ENTRY(scaled_x1_clean, fp8_rows_scaled_x(0, w, x, xp, xs, k32, y, first, last, accumulate, alpha))
CK_SCALED_ENTRY(scaled_x2, fp8_rows_scaled_pairs(2, w, x, lda, xp, xs, k32, y, ldy, first, last, accumulate, alpha))
CK_SCALED_ENTRY(scaled_x3, fp8_rows_scaled_pairs(3, w, x, lda, xp, xs, k32, y, ldy, first, last, accumulate, alpha))
CK_SCALED_ENTRY(scaled_x4, fp8_rows_scaled_pairs(4, w, x, lda, xp, xs, k32, y, ldy, first, last, accumulate, alpha))
CK_SCALED_ENTRY(scaled_x5, fp8_rows_scaled_pairs(5, w, x, lda, xp, xs, k32, y, ldy, first, last, accumulate, alpha))
CK_SCALED_ENTRY(scaled_x6, fp8_rows_scaled_pairs(6, w, x, lda, xp, xs, k32, y, ldy, first, last, accumulate, alpha))
CK_SCALED_ENTRY(scaled_x7, fp8_rows_scaled_pairs(7, w, x, lda, xp, xs, k32, y, ldy, first, last, accumulate, alpha))
CK_SCALED_ENTRY(scaled_x8, fp8_rows_scaled_pairs(8, w, x, lda, xp, xs, k32, y, ldy, first, last, accumulate, alpha))

AVX2 void ck_skinny_weight_avx2(const float *x, long m, long lda, const ck_weight *w,
                                float *y, long ldy, long first, long last, int accumulate, float alpha) {
    if (first >= last || m <= 0) return;
    if (w->dtype == CK_WEIGHT_F32) {
        ck_skinny_linear_avx2(x, m, w->cols, lda, (const float *)w->base, w->row_stride, y, ldy, first, last, accumulate, alpha);
    } else if (w->dtype == CK_WEIGHT_FP8_E4M3) {
        const unsigned csr = ck_clear_daz();
        const long k32 = w->cols & ~31L;
        float *xp = m <= 8 && w->block_cols % 32 == 0 && k32 > 0 && k32 <= CK_SCALED_X_MAX ? ck_scaled_x_scratch(2 * m * k32) : NULL;
        int inRange = 1;
        for (long r = 0; xp && r < m; r++) inRange &= fp8_permute_x(x + r * lda, k32, xp + r * k32);
        if (xp && inRange) {
            float *xs = xp + m * k32;
            switch (m) {
            case 1:
                (w->nan_free ? scaled_x1_clean : scaled_x1_checked)(w, x, lda, xp, xs, k32, y, ldy, first, last, accumulate, alpha);
                break;
            case 2: scaled_x2(w, x, lda, xp, xs, k32, y, ldy, first, last, accumulate, alpha); break;
            case 3: scaled_x3(w, x, lda, xp, xs, k32, y, ldy, first, last, accumulate, alpha); break;
            case 4: scaled_x4(w, x, lda, xp, xs, k32, y, ldy, first, last, accumulate, alpha); break;
            case 5: scaled_x5(w, x, lda, xp, xs, k32, y, ldy, first, last, accumulate, alpha); break;
            case 6: scaled_x6(w, x, lda, xp, xs, k32, y, ldy, first, last, accumulate, alpha); break;
            case 7: scaled_x7(w, x, lda, xp, xs, k32, y, ldy, first, last, accumulate, alpha); break;
            default: scaled_x8(w, x, lda, xp, xs, k32, y, ldy, first, last, accumulate, alpha); break;
            }
        } else {
            fp8_dequant_rows(m, x, lda, w, y, ldy, first, last, accumulate, alpha);
        }
        ck_restore_csr(csr);
    } else if (w->dtype == CK_WEIGHT_F16) {
        half_rows(CK_WEIGHT_F16, m, x, lda, w, y, ldy, first, last, accumulate, alpha);
    } else {
        half_rows(CK_WEIGHT_BF16, m, x, lda, w, y, ldy, first, last, accumulate, alpha);
    }
}

INLINE AVX2 void convert_segment(const int dt, const char *row, long c0, long c1, float scale, float *out) {
    const __m256 s = _mm256_set1_ps(scale), unit = _mm256_set1_ps(CK_FP8_F32_UNIT);
    long i = c0;
    if (dt == CK_WEIGHT_FP8_E4M3) {
        for (; i + 8 <= c1; i += 8) _mm256_storeu_ps(out + i, _mm256_mul_ps(mul_subnormal_input(fp8_8_bits(row + i, 1), unit), s));
        for (; i < c1; i++) out[i] = (fp8_1((uint8_t)row[i]) * CK_FP8_F16_UNIT) * scale;
    } else {
        for (; i + 8 <= c1; i += 8) _mm256_storeu_ps(out + i, ck_half8(dt, row + 2 * i));
        for (; i < c1; i++) out[i] = ck_half1(dt, row + 2 * i);
    }
}

INLINE AVX2 void convert_rows(const int dt, const ck_weight *w, long first, long last, float *out, long ldo) {
    const long eb = dt == CK_WEIGHT_FP8_E4M3 ? 1 : 2, k = w->cols;
    for (long r = first; r < last; r++) {
        const char *row = (const char *)w->base + r * w->row_stride * eb;
        float *o = out + (r - first) * ldo;
        if (dt != CK_WEIGHT_FP8_E4M3) { convert_segment(dt, row, 0, k, 1, o); continue; }
        const float *scaleRow = ck_scale_row(w, r);
        for (long c0 = 0, b = 0; c0 < k; c0 += w->block_cols, b++)
            convert_segment(dt, row, c0, c0 + w->block_cols < k ? c0 + w->block_cols : k, scaleRow[b], o);
    }
}

AVX2 void ck_weight_rows_to_f32_avx2(const ck_weight *w, long first, long last, float *out, long ldo) {
    switch (w->dtype) {
    case CK_WEIGHT_F32:
        for (long r = first; r < last; r++)
            memcpy(out + (r - first) * ldo, (const float *)w->base + r * w->row_stride, (size_t)w->cols * sizeof(float));
        break;
    case CK_WEIGHT_BF16: convert_rows(CK_WEIGHT_BF16, w, first, last, out, ldo); break;
    case CK_WEIGHT_F16: convert_rows(CK_WEIGHT_F16, w, first, last, out, ldo); break;
    default: {
        const unsigned csr = ck_clear_daz();
        convert_rows(CK_WEIGHT_FP8_E4M3, w, first, last, out, ldo);
        ck_restore_csr(csr);
    }
    }
}
