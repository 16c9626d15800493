// Skinny linear over bf16 / f16 / FP8 E4M3 weights for AVX-512 (F + VL + BW + DQ): 16 weights per
// vector converted in registers (see weight_common.h), masked loads for every tail, f32 FMAs.
// P weight rows are streamed side by side and each converted vector is used for all R ≤ 8 x rows:
// the weights are read once. bf16/f16: P = 1 for one x row — one stream per thread: in the host's
// fast memory state (50–54 GB/s) `bench-bf16` decode took 12.7–13.3 ms per step against 15.4–16.5
// with 4 rows (and 8 over rows of ≥ 8 KiB) side by side, level in the slow state (session 26, Zen 4;
// one FMA chain caps a core at 32 GB/s of bf16 from L2, 55 with 4 rows, above its share of memory in
// either state); P = 4 for R = 2–4 (with P = 2 at R = 3–4 a 2048 × 5632 weight streamed at 0.55 × the
// read pass on Zen 4, 0.97 × with 4), 3 from 5: 24 accumulators, each x vector loaded feeds three
// FMAs instead of two — at R ≥ 6 a step is bound by its x loads, and P = 3 ran 5–13 % faster than 2
// (Emerald Rapids, 11264 × 2048 bf16 / f16 streamed on two threads, R = 6–8 and 16–32 rows in blocks
// of 8). FP8 (decode): block scales folded into x, one accumulator per (weight row, x row) — P = 4
// for R ≤ 2, else 3, from 5 x rows in two groups (fp8_scaled_rows); calls it cannot take keep a
// block partial next to each total (row_dots: P·R ≤ 8 per pass, from 5 x rows two passes (4, R − 4)
// over the same weight rows). Each (weight row, x row) sums in one order whatever R and P: decode is
// batch-invariant (BatchInvarianceTests). Each row is prefetched once per 64-byte line, 32 KiB ahead;
// against one x row also 2 KiB ahead into L1, non-temporally (CK_L1_STREAM_PREFETCH_BYTES).
#include "weight_common.h"
#pragma STDC FP_CONTRACT OFF

#define AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,f16c,fma")))
#define INLINE static inline __attribute__((always_inline))
// Loops over the P weight rows and R x rows, fully unrolled so the P·R accumulators live in registers:
// clang -O2 (what SwiftPM builds C with) left P = 3, R = 8 partly rolled and spilled them every FMA.
#define UNROLL _Pragma("clang loop unroll(full)")

INLINE AVX512 __mmask16 first_lanes(long n) { return (__mmask16)((1u << n) - 1); }

/// 16 FP8 weights at p as f32 q · 2^-8; `fix`: NaN codes become NaN (else the caller knows there
/// are none); lanes past a `masked` tail are zero.
INLINE AVX512 __m512 fp8_16(const char *p, int masked, __mmask16 mask, const int fix) {
    const __m128i b = masked ? _mm_maskz_loadu_epi8(mask, p) : _mm_loadu_si128((const __m128i *)p);
    const __m256i h = _mm256_and_si256(_mm256_slli_epi16(_mm256_cvtepi8_epi16(b), 7), _mm256_set1_epi16((short)CK_FP8_F16_FIELDS));
    const __m512 w = _mm512_cvtph_ps(h);
    if (!fix) return w;
    const __mmask16 nan = _mm_cmpeq_epi8_mask(_mm_or_si128(b, _mm_set1_epi8((char)0x80)), _mm_set1_epi8(-1));
    const __m512i wi = _mm512_castps_si512(w);
    return _mm512_castsi512_ps(_mm512_mask_or_epi32(wi, nan, wi, _mm512_set1_epi32((int)CK_QUIET_NAN_BITS)));
}

/// 16 bf16 / f16 weights at p as f32 (lanes past a `masked` tail zero).
INLINE AVX512 __m512 half16(const int dt, const char *p, int masked, __mmask16 mask) {
    const __m256i h = masked ? _mm256_maskz_loadu_epi16(mask, p) : _mm256_loadu_si256((const __m256i *)p);
    if (dt == CK_WEIGHT_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/// acc[p][r] += u[p] · x_r[i..<i+16] (masked: the first lanes only).
INLINE AVX512 void fma_rows(const int P, const int R, const __m512 *u, const float *x, long lda, long i, int masked, __mmask16 mask,
                            __m512 acc[8][8]) {
    UNROLL for (int r = 0; r < R; r++) {
        const __m512 t = masked ? _mm512_maskz_loadu_ps(mask, x + r * lda + i) : _mm512_loadu_ps(x + r * lda + i);
        UNROLL for (int p = 0; p < P; p++) acc[p][r] = _mm512_fmadd_ps(u[p], t, acc[p][r]);
    }
}

/// Whether the 64 bytes at i of any of the P rows hold a NaN code.
INLINE AVX512 int fp8_line_has_nan(const int P, const char *const *rows, long i) {
    __mmask64 nan = 0;
    for (int p = 0; p < P; p++)
        nan |= _mm512_cmpeq_epi8_mask(_mm512_or_si512(_mm512_loadu_si512(rows[p] + i), _mm512_set1_epi8((char)0x80)), _mm512_set1_epi8(-1));
    return nan != 0;
}

/// part[p][r] += Σ (q · 2^-8) · x_r over the 64 FP8 columns from i, NaN fix-up or not.
INLINE AVX512 void fp8_line(const int fix, const int P, const int R, const char *const *rows, const float *x, long lda, long i,
                            __m512 part[8][8]) {
    for (long q = i; q < i + 64; q += 16) {
        __m512 u[8];
        for (int p = 0; p < P; p++) u[p] = fp8_16(rows[p] + q, 0, 0, fix);
        fma_rows(P, R, u, x, lda, q, 0, 0, part);
    }
}

/// acc[p][r] += scale_p · Σ q · x_r over FP8 columns c0..<c1 (one block): partial dot, then one FMA.
INLINE AVX512 void fp8_block(const int P, const int R, const char *const *rows, const float *x, long lda, long c0, long c1,
                             const float *scale, __m512 acc[8][8]) {
    __m512 part[8][8];
    for (int p = 0; p < P; p++)
        for (int r = 0; r < R; r++) part[p][r] = _mm512_setzero_ps();
    long i = c0;
    for (; i + 64 <= c1; i += 64) {
        for (int p = 0; p < P; p++) _mm_prefetch(rows[p] + i + CK_WEIGHT_PREFETCH_BYTES, _MM_HINT_T1);
        if (fp8_line_has_nan(P, rows, i)) fp8_line(1, P, R, rows, x, lda, i, part);
        else fp8_line(0, P, R, rows, x, lda, i, part);
    }
    for (; i < c1; i += 16) {
        const int masked = c1 - i < 16;
        const __mmask16 mask = masked ? first_lanes(c1 - i) : (__mmask16)0xFFFF;
        __m512 u[8];
        for (int p = 0; p < P; p++) u[p] = fp8_16(rows[p] + i, masked, mask, 1);
        fma_rows(P, R, u, x, lda, i, masked, mask, part);
    }
    for (int p = 0; p < P; p++) {
        const __m512 s = _mm512_set1_ps(scale[p]);
        for (int r = 0; r < R; r++) acc[p][r] = _mm512_fmadd_ps(_mm512_mul_ps(part[p][r], _mm512_set1_ps(CK_FP8_F16_UNIT)), s, acc[p][r]);
    }
}

/// acc[p][r] += W_p · x_r over all k bf16 / f16 columns.
INLINE AVX512 void half_row(const int dt, const int P, const int R, const char *const *rows, const float *x, long lda, long k,
                            __m512 acc[8][8]) {
    long i = 0;
    for (; i + 32 <= k; i += 32) {
        UNROLL for (int p = 0; p < P; p++) _mm_prefetch(rows[p] + 2 * i + CK_WEIGHT_PREFETCH_BYTES, _MM_HINT_T1);
        if (R == 1) _mm_prefetch(rows[0] + 2 * i + CK_L1_STREAM_PREFETCH_BYTES, _MM_HINT_NTA);   // P = 1 there
        UNROLL for (long q = i; q < i + 32; q += 16) {
            __m512 u[8];
            UNROLL for (int p = 0; p < P; p++) u[p] = half16(dt, rows[p] + 2 * q, 0, 0);
            fma_rows(P, R, u, x, lda, q, 0, 0, acc);
        }
    }
    for (; i < k; i += 16) {
        const int masked = k - i < 16;
        const __mmask16 mask = masked ? first_lanes(k - i) : (__mmask16)0xFFFF;
        __m512 u[8];
        UNROLL for (int p = 0; p < P; p++) u[p] = half16(dt, rows[p] + 2 * i, masked, mask);
        fma_rows(P, R, u, x, lda, i, masked, mask, acc);
    }
}

/// d[p][r] = W[j + p] · x_r for p < P (rows past `last` repeat the last one; their results are
/// dropped by the caller), r < R.
INLINE AVX512 void row_dots(const int dt, const int P, const int R, const ck_weight *w, const float *x, long lda,
                            long j, long last, float d[8][8]) {
    const long eb = dt == CK_WEIGHT_FP8_E4M3 ? 1 : 2, k = w->cols;
    const char *rows[8];
    long index[8];
    for (int p = 0; p < P; p++) {
        index[p] = j + p < last ? j + p : last - 1;
        rows[p] = (const char *)w->base + index[p] * w->row_stride * eb;
    }
    __m512 acc[8][8];
    UNROLL for (int p = 0; p < P; p++)
        UNROLL for (int r = 0; r < R; r++) acc[p][r] = _mm512_setzero_ps();
    if (dt != CK_WEIGHT_FP8_E4M3) {
        half_row(dt, P, R, rows, x, lda, k, acc);
    } else {
        const float *scaleRow[8];
        for (int p = 0; p < P; p++) scaleRow[p] = ck_scale_row(w, index[p]);
        const long bc = w->block_cols;
        for (long c0 = 0, b = 0; c0 < k; c0 += bc, b++) {
            float scale[8];
            for (int p = 0; p < P; p++) scale[p] = scaleRow[p][b];
            fp8_block(P, R, rows, x, lda, c0, c0 + bc < k ? c0 + bc : k, scale, acc);
        }
    }
    UNROLL for (int p = 0; p < P; p++)
        UNROLL for (int r = 0; r < R; r++) d[p][r] = _mm512_reduce_add_ps(acc[p][r]);
}

/// Rows first..<last of y for R x rows, P weight rows at a time; beyond G x rows, the x rows go in
/// two groups (G, R − G) over the same P weight rows, which the second group re-reads from L1/L2.
INLINE AVX512 void rows_loop(const int dt, const int P, const int R, const int G, const float *x, long lda, const ck_weight *w,
                           float *y, long ldy, long first, long last, int accumulate, float alpha) {
    for (long j = first; j < last; j += P) {
        float d[8][8], e[8][8];
        row_dots(dt, P, R < G ? R : G, w, x, lda, j, last, d);
        if (R > G) row_dots(dt, P, R > G ? R - G : 1, w, x + G * lda, lda, j, last, e);
        for (int p = 0; p < P && j + p < last; p++)
            for (int r = 0; r < R; r++) ck_skinny_store(y + r * ldy + j + p, r < G ? d[p][r] : e[p][r - G], accumulate, alpha);
    }
}

#define CK_ROWS(dt, P, R, G) rows_loop(dt, P, R, G, x, lda, w, y, ldy, first, last, accumulate, alpha)

/// FP8 rows first..<last through the block-partial loop (row_dots): calls the scaled-x kernel cannot
/// take, and its block rows with a scale out of range.
INLINE AVX512 void fp8_partial_rows(const long m, const float *x, long lda, const ck_weight *w, float *y, long ldy, long first,
                                    long last, int accumulate, float alpha) {
    const int dt = CK_WEIGHT_FP8_E4M3;
    switch (m) {
    case 1: CK_ROWS(dt, 4, 1, 8); break;
    case 2: CK_ROWS(dt, 4, 2, 8); break;
    case 3: CK_ROWS(dt, 2, 3, 8); break;
    case 4: CK_ROWS(dt, 2, 4, 8); break;
    case 5: CK_ROWS(dt, 2, 5, 4); break;
    case 6: CK_ROWS(dt, 2, 6, 4); break;
    case 7: CK_ROWS(dt, 2, 7, 4); break;
    default: CK_ROWS(dt, 2, 8, 4); break;
    }
}

// FP8 with 1–8 x rows (decode), K ≤ CK_SCALED_X_MAX: the block scales go into x, as in the AVX2
// kernel. For each block row of weights (128 rows in DeepSeek-V3), xs_r = fl(x_r · scale) · 2^64 per
// column block is built once for the R x rows (R · K multiplies against 128 · K weights), and each
// (weight row, x row) is one dot of q · 2^-120 against xs_r: one accumulator, no block partial to
// scale and add, so P · R accumulators where row_dots needs twice that — each weight vector is
// converted once for all R x rows — and the same chain whatever R and P (decode's batch invariance).
// The conversion is the AVX2 kernel's, on 64 bytes at a time: each dword lane l holds columns
// 4l + j at byte j; 16-bit arithmetic shifts take out the byte positions — srai(v, 4) leaves bytes 3
// and 1, srai(v << 8, 4) bytes 2 and 0, each as the sign-extended byte << 20 — then one AND with
// CK_FP8_F32_FIELDS: 5 shifts and 4 ANDs per 64 weights, against an x permuted to match (position
// 16j + l of each 64-column group holds column 4l + j; fp8_x_at). fp8_16's f16 route (sign extension, shift, AND and a
// vcvtph2ps per 16) ran at 17 GB/s of weights per Zen 4 core from L2, below the 25 GB/s a core's share
// of the fast memory state streams, so batch-1 FP8 decode was bound by its conversion. Columns past
// the last 64 go 16 at a time in natural order (sign extension to dwords, << 20, AND), the last
// masked. Rounding: each product is (q · 2^-120) · fl(x · scale · 2^64), a term-wise f32 dot (tests
// bound it against Double); E4M3's subnormal codes are f32 subnormals here, which the FMA takes
// without an assist with DAZ cleared. Calls with an |x| of 2^32 or more (or NaN), where x · scale ·
// 2^64 could overflow, and block rows with a scale outside [2^-32, 2^32] take fp8_partial_rows.

/// 16 FP8 weights at p (the first lanes of `mask`) in natural order as f32 q · 2^-120; doubledMax
/// takes their doubled bytes when `check` (see fp8_scaled_dots).
INLINE AVX512 __m512 fp8_16_bits(const char *p, __mmask16 mask, const int check, __m512i *doubledMax) {
    const __m128i b = _mm_maskz_loadu_epi8(mask, p);
    if (check) *doubledMax = _mm512_max_epu8(*doubledMax, _mm512_zextsi128_si512(_mm_add_epi8(b, b)));
    const __m512i w = _mm512_slli_epi32(_mm512_cvtepi8_epi32(b), 20);
    return _mm512_castsi512_ps(_mm512_and_si512(w, _mm512_set1_epi32((int)CK_FP8_F32_FIELDS)));
}

// xp and xs hold the R x rows interleaved 16 columns at a time — column position c of row r at
// (c / 16 · R + r) · 16 + c % 16 — so every x load of a step is one pointer plus a constant (with
// R rows kx apart, clang re-derived seven row addresses per 16 columns from the stack at R = 8).
INLINE AVX512 long fp8_x_at(const int R, int r, long c) { return ((c >> 4) * R + r) * 16 + (c & 15); }

/// xp (R x rows, fp8_x_at's layout over kx columns, zero past k) = x_r · 2^64, each 64-column group
/// below k64 permuted to fp8_scaled_dots' lane order (once per call); 0 (xp unfinished) if some |x|
/// reaches CK_SCALED_X_INPUT_LIMIT, or is NaN.
INLINE AVX512 int fp8_permute_x(const int R, const float *x, long lda, long k, long kx, float *xp) {
    const long k64 = k & ~63L;
    const __m512 unit = _mm512_set1_ps(CK_FP8_F32_X_UNIT), bound = _mm512_set1_ps(CK_SCALED_X_INPUT_LIMIT);
    __mmask16 tooLarge = 0;
    for (int r = 0; r < R; r++) {
        const float *xr = x + r * lda;
        // Output j, lane l ← column 4l + j: lanes 0–7 from columns 0–31 (n0, n1), 8–15 from 32–63.
        for (long c = 0; c < k64; c += 64) {
            __m512 n[4];
            for (int q = 0; q < 4; q++) {
                n[q] = _mm512_loadu_ps(xr + c + 16 * q);
                tooLarge |= _mm512_cmp_ps_mask(_mm512_abs_ps(n[q]), bound, _CMP_NLT_UQ);
            }
            for (int j = 0; j < 4; j++) {
                const __m512i index = _mm512_setr_epi32(j, 4 + j, 8 + j, 12 + j, 16 + j, 20 + j, 24 + j, 28 + j, 0, 0, 0, 0, 0, 0, 0, 0);
                const __m512 low = _mm512_permutex2var_ps(n[0], index, n[1]), high = _mm512_permutex2var_ps(n[2], index, n[3]);
                _mm512_store_ps(xp + fp8_x_at(R, r, c + 16 * j), _mm512_mul_ps(_mm512_shuffle_f32x4(low, high, 0x44), unit));
            }
        }
        for (long c = k64; c < kx; c += 16) {
            const __mmask16 mask = k - c < 16 ? (k > c ? first_lanes(k - c) : 0) : (__mmask16)0xFFFF;
            const __m512 v = _mm512_maskz_loadu_ps(mask, xr + c);
            tooLarge |= _mm512_cmp_ps_mask(_mm512_abs_ps(v), bound, _CMP_NLT_UQ);
            _mm512_store_ps(xp + fp8_x_at(R, r, c), _mm512_mul_ps(v, unit));
        }
    }
    return tooLarge == 0;
}

/// xs = xp · the block row's scale of each column's block, in xp's layout; 0 (xs unfinished) if a
/// scale is outside [2^-32, 2^32]. Blocks of whole 64-column groups (DeepSeek-V3's 128) scale a
/// group's 4 · R vectors by one broadcast; other block widths lane by lane.
INLINE AVX512 int fp8_scale_x(const int R, const ck_weight *w, const float *scales, long k, long kx, const float *xp, float *xs) {
    const long bc = w->block_cols, k64 = k & ~63L;
    for (long c0 = 0; c0 < k; c0 += bc)
        if (!ck_scaled_x_takes_scale(scales[c0 / bc])) return 0;
    long c = 0;
    if (bc % 64 == 0) {
        for (; c < k64; c += 64) {
            const __m512 s = _mm512_set1_ps(scales[c / bc]);
            for (long v = c * R; v < (c + 64) * R; v += 16) _mm512_store_ps(xs + v, _mm512_mul_ps(_mm512_load_ps(xp + v), s));
        }
    }
    for (int r = 0; r < R; r++) {
        for (long q = c; q < k64; q++)    // position q holds column (q & ~63) + 4 (q % 16) + (q / 16) % 4
            xs[fp8_x_at(R, r, q)] = xp[fp8_x_at(R, r, q)] * scales[((q & ~63L) + 4 * (q & 15) + ((q >> 4) & 3)) / bc];
        for (long q = k64; q < kx; q++) xs[fp8_x_at(R, r, q)] = q < k ? xp[fp8_x_at(R, r, q)] * scales[q / bc] : 0;
    }
    return 1;
}

/// acc[p][r] += u[p] · xs_r over the 16 columns of fp8_x_at's chunk at x.
INLINE AVX512 void fma_chunk(const int P, const int R, const __m512 *u, const float *x, __m512 acc[8][8]) {
    UNROLL for (int r = 0; r < R; r++) {
        const __m512 t = _mm512_load_ps(x + 16 * r);
        UNROLL for (int p = 0; p < P; p++) acc[p][r] = _mm512_fmadd_ps(u[p], t, acc[p][r]);
    }
}

/// acc[p][r] += Σ (q · 2^-120) · xs_r over all k columns of the P rows, NaN codes as finite values;
/// with `check`, returns whether any of those bytes is a NaN code (0x7F / 0xFF, the only bytes that
/// double to 0xFE: one max per 64 bytes and row), else 0 — for weights scanned free of them at load
/// (ck_weight.nan_free), where the test's two operations per line cost 12–17 % of a core's rate at
/// one x row (2048 × 2048 FP8 from L2, 27 against 31–32 GB/s per Zen 4 core). Straight-line code per
/// 64 columns (with a NaN test choosing between two loop bodies, or a loop over the four
/// conversions, the accumulators went to memory after every FMA).
INLINE AVX512 int fp8_scaled_dots(const int check, const int P, const int R, const char *const *rows, const float *xs, long k,
                                  __m512 acc[8][8]) {
    const __m512i fields = _mm512_set1_epi32((int)CK_FP8_F32_FIELDS);
    __m512i doubledMax = _mm512_setzero_si512();
    long i = 0;
    for (; i + 64 <= k; i += 64) {
        __m512i hi[8], lo[8];
        __m512 u[8];
        UNROLL for (int p = 0; p < P; p++) {
            _mm_prefetch(rows[p] + i + CK_WEIGHT_PREFETCH_BYTES, _MM_HINT_T1);
            if (R == 1) _mm_prefetch(rows[p] + i + CK_L1_STREAM_PREFETCH_BYTES, _MM_HINT_NTA);
            const __m512i b = _mm512_loadu_si512(rows[p] + i);
            if (check) doubledMax = _mm512_max_epu8(doubledMax, _mm512_add_epi8(b, b));
            hi[p] = _mm512_srai_epi16(b, 4);                             // bytes 3 and 1
            lo[p] = _mm512_srai_epi16(_mm512_slli_epi16(b, 8), 4);       // bytes 2 and 0
        }
        const float *xi = xs + i * R;
        UNROLL for (int p = 0; p < P; p++) u[p] = _mm512_castsi512_ps(_mm512_and_si512(_mm512_slli_epi32(lo[p], 16), fields));
        fma_chunk(P, R, u, xi, acc);
        UNROLL for (int p = 0; p < P; p++) u[p] = _mm512_castsi512_ps(_mm512_and_si512(_mm512_slli_epi32(hi[p], 16), fields));
        fma_chunk(P, R, u, xi + 16 * R, acc);
        UNROLL for (int p = 0; p < P; p++) u[p] = _mm512_castsi512_ps(_mm512_and_si512(lo[p], fields));
        fma_chunk(P, R, u, xi + 32 * R, acc);
        UNROLL for (int p = 0; p < P; p++) u[p] = _mm512_castsi512_ps(_mm512_and_si512(hi[p], fields));
        fma_chunk(P, R, u, xi + 48 * R, acc);
    }
    for (; i < k; i += 16) {
        const __mmask16 mask = k - i < 16 ? first_lanes(k - i) : (__mmask16)0xFFFF;
        __m512 u[8];
        UNROLL for (int p = 0; p < P; p++) u[p] = fp8_16_bits(rows[p] + i, mask, check, &doubledMax);
        fma_chunk(P, R, u, xs + i * R, acc);   // xs is zero past k
    }
    return check && _mm512_cmpeq_epi8_mask(doubledMax, _mm512_set1_epi8((char)0xFE)) != 0;
}

/// y[r, j + p] for the P rows at `rows` (those below r1) and the R x rows of one group, from the
/// group's xs (row y0 of y is its first x row).
INLINE AVX512 void fp8_scaled_set(const int check, const int P, const int R, const char *const *rows, const float *xs, long k,
                                  long j, long r1, float *y0, long ldy, int accumulate, float alpha) {
    __m512 acc[8][8];
    UNROLL for (int p = 0; p < P; p++)
        UNROLL for (int r = 0; r < R; r++) acc[p][r] = _mm512_setzero_ps();
    const int nanSeen = fp8_scaled_dots(check, P, R, rows, xs, k, acc);
    for (int p = 0; p < P && j + p < r1; p++) {
        const int rowNaN = nanSeen && ck_fp8_row_has_nan(rows[p], k);
        for (int r = 0; r < R; r++) {
            // × 2^56 (exact): the products held q · fl(x · scale) · 2^-56.
            const float d = _mm512_reduce_add_ps(acc[p][r]) * (CK_FP8_F32_UNIT / CK_FP8_F32_X_UNIT);
            ck_skinny_store(y0 + r * ldy + j + p, rowNaN ? ck_bits_float(CK_QUIET_NAN_BITS) : d, accumulate, alpha);
        }
    }
}

/// Rows first..<last of y = alpha · W x_r (+ y) for R x rows, P weight rows side by side, block row
/// by block row; scratch: 2 · R · kx floats (kx: k rounded up to 16) for xp and xs. From 5 x
/// rows they go in two groups (⌈R/2⌉, ⌊R/2⌋), each with its own xp / xs, the second over the same P
/// weight rows right after the first (from L1 / L2): all 8 in one group — P = 2 (the registers hold
/// no more accumulators), 32 KiB of xs per 1024 columns streaming through L1 — ran a 5632 × 2048
/// weight from memory at 0.53–0.73 × the FLOP rate of 4 x rows, two groups at 1.0 (and groups
/// (4, R − 4) 0.88–0.95 at 5–7 rows; one Zen 4 core). Each (weight row, x row) is the same chain
/// either way.
INLINE AVX512 void fp8_scaled_rows(const int check, const int P, const int R, const ck_weight *w, const float *x, long lda,
                                   float *scratch, long kx, float *y, long ldy, long first, long last, int accumulate, float alpha) {
    const int G0 = R > 4 ? (R + 1) / 2 : R, G1 = R - G0;
    const long br = w->block_rows, k = w->cols;
    float *xp = scratch, *xp1 = xp + G0 * kx, *xs0 = xp + R * kx, *xs1 = xs0 + G0 * kx;
    if (!fp8_permute_x(G0, x, lda, k, kx, xp) || (G1 > 0 && !fp8_permute_x(G1, x + G0 * lda, lda, k, kx, xp1))) {
        fp8_partial_rows(R, x, lda, w, y, ldy, first, last, accumulate, alpha);
        return;
    }
    for (long r0 = first; r0 < last;) {
        const long blockEnd = (r0 / br + 1) * br, r1 = blockEnd < last ? blockEnd : last;
        const float *scales = ck_scale_row(w, r0);
        if (!fp8_scale_x(G0, w, scales, k, kx, xp, xs0) || (G1 > 0 && !fp8_scale_x(G1, w, scales, k, kx, xp1, xs1))) {
            fp8_partial_rows(R, x, lda, w, y, ldy, r0, r1, accumulate, alpha);
            r0 = r1;
            continue;
        }
        for (long j = r0; j < r1; j += P) {
            const char *rows[8];
            for (int p = 0; p < P; p++) rows[p] = (const char *)w->base + (j + p < r1 ? j + p : r1 - 1) * w->row_stride;
            fp8_scaled_set(check, P, G0, rows, xs0, k, j, r1, y, ldy, accumulate, alpha);
            if (G1 > 0) fp8_scaled_set(check, P, G1, rows, xs1, k, j, r1, y + G0 * ldy, ldy, accumulate, alpha);
        }
        r0 = r1;
    }
}

// One function per x-row count, each with its own registers (inlined into the dispatch, with the
// other counts' copies around them, the accumulators went to memory after every FMA; so they did with
// P = 3 and 5–8 x rows in one group), each with and without the NaN test.
#define CK_SCALED_VARIANT(name, check, P, R)                                                                        \
    static __attribute__((noinline)) AVX512 void name(const ck_weight *w, const float *x, long lda, float *scratch,   \
                                                       long kx, float *y, long ldy, long first, long last,              \
                                                       int accumulate, float alpha) {                                   \
        fp8_scaled_rows(check, P, R, w, x, lda, scratch, kx, y, ldy, first, last, accumulate, alpha);                  \
    }
#define CK_SCALED_ENTRY(name, P, R) CK_SCALED_VARIANT(name##_checked, 1, P, R) CK_SCALED_VARIANT(name##_clean, 0, P, R)
CK_SCALED_ENTRY(scaled_x1, 4, 1)
CK_SCALED_ENTRY(scaled_x2, 4, 2)
CK_SCALED_ENTRY(scaled_x3, 3, 3)
CK_SCALED_ENTRY(scaled_x4, 3, 4)
CK_SCALED_ENTRY(scaled_x5, 3, 5)
CK_SCALED_ENTRY(scaled_x6, 3, 6)
CK_SCALED_ENTRY(scaled_x7, 3, 7)
CK_SCALED_ENTRY(scaled_x8, 3, 8)

// bf16 / f16: one function per x-row count too (the P choices: see the top of the file).
#define CK_HALF_ENTRY(name, dt, P, R)                                                                                      \
    static __attribute__((noinline)) AVX512 void name(const float *x, long lda, const ck_weight *w, float *y, long ldy,  \
                                                       long first, long last, int accumulate, float alpha) {              \
        rows_loop(dt, P, R, 8, x, lda, w, y, ldy, first, last, accumulate, alpha);                                      \
    }
#define CK_HALF_ENTRIES(t, dt)                                                                                              \
    CK_HALF_ENTRY(t##_x1, dt, 1, 1) CK_HALF_ENTRY(t##_x2, dt, 4, 2)                                                       \
    CK_HALF_ENTRY(t##_x3, dt, 4, 3) CK_HALF_ENTRY(t##_x4, dt, 4, 4) CK_HALF_ENTRY(t##_x5, dt, 3, 5)                      \
    CK_HALF_ENTRY(t##_x6, dt, 3, 6) CK_HALF_ENTRY(t##_x7, dt, 3, 7) CK_HALF_ENTRY(t##_x8, dt, 3, 8)                      \
    /* m ≤ 8 x rows */                                                                                                  \
    static inline AVX512 void half_rows_##t(long m, const float *x, long lda, const ck_weight *w, float *y,              \
                                             long ldy, long first, long last, int accumulate, float alpha) {              \
        switch (m) {                                                                                                      \
        case 1: t##_x1(x, lda, w, y, ldy, first, last, accumulate, alpha); break;                                         \
        case 2: t##_x2(x, lda, w, y, ldy, first, last, accumulate, alpha); break;                                         \
        case 3: t##_x3(x, lda, w, y, ldy, first, last, accumulate, alpha); break;                                         \
        case 4: t##_x4(x, lda, w, y, ldy, first, last, accumulate, alpha); break;                                         \
        case 5: t##_x5(x, lda, w, y, ldy, first, last, accumulate, alpha); break;                                         \
        case 6: t##_x6(x, lda, w, y, ldy, first, last, accumulate, alpha); break;                                         \
        case 7: t##_x7(x, lda, w, y, ldy, first, last, accumulate, alpha); break;                                         \
        default: t##_x8(x, lda, w, y, ldy, first, last, accumulate, alpha); break;                                        \
        }                                                                                                                 \
    }
CK_HALF_ENTRIES(bf16, CK_WEIGHT_BF16)
CK_HALF_ENTRIES(f16, CK_WEIGHT_F16)

AVX512 void ck_skinny_weight_avx512(const float *x, long m, long lda, const ck_weight *w,
                                    float *y, long ldy, long first, long last, int accumulate, float alpha) {
    if (first >= last || m <= 0) return;
    if (w->dtype == CK_WEIGHT_F32) {
        ck_skinny_linear_avx512(x, m, w->cols, lda, (const float *)w->base, w->row_stride, y, ldy, first, last, accumulate, alpha);
    } else if (w->dtype == CK_WEIGHT_FP8_E4M3) {
        const unsigned csr = ck_clear_daz();
        const long kx = (w->cols + 15) & ~15L;   // each x row's copy: k rounded up to whole vectors
        float *scratch = m <= 8 && w->cols <= CK_SCALED_X_MAX ? ck_scaled_x_scratch(2 * m * kx) : NULL;
#define CK_SCALED(name) (w->nan_free ? name##_clean : name##_checked)(w, x, lda, scratch, kx, y, ldy, first, last, accumulate, alpha)
        if (!scratch) fp8_partial_rows(m, x, lda, w, y, ldy, first, last, accumulate, alpha);
        else switch (m) {
        case 1: CK_SCALED(scaled_x1); break;
        case 2: CK_SCALED(scaled_x2); break;
        case 3: CK_SCALED(scaled_x3); break;
        case 4: CK_SCALED(scaled_x4); break;
        case 5: CK_SCALED(scaled_x5); break;
        case 6: CK_SCALED(scaled_x6); break;
        case 7: CK_SCALED(scaled_x7); break;
        default: CK_SCALED(scaled_x8); break;
        }
#undef CK_SCALED
        ck_restore_csr(csr);
    } else {
        if (w->dtype == CK_WEIGHT_F16) half_rows_f16(m, x, lda, w, y, ldy, first, last, accumulate, alpha);
        else half_rows_bf16(m, x, lda, w, y, ldy, first, last, accumulate, alpha);
    }
}

/// One row's 16-column step from i as f32 (FP8: exact fl(q · scale)).
INLINE AVX512 __m512 converted16(const int dt, const char *row, long i, int masked, __mmask16 mask, __m512 scale) {
    if (dt != CK_WEIGHT_FP8_E4M3) return half16(dt, row + 2 * i, masked, mask);
    return _mm512_mul_ps(_mm512_mul_ps(fp8_16(row + i, masked, mask, 1), _mm512_set1_ps(CK_FP8_F16_UNIT)), scale);
}

INLINE AVX512 void convert_segment(const int dt, const char *row, long c0, long c1, __m512 scale, float *out) {
    long i = c0;
    for (; i + 16 <= c1; i += 16) _mm512_storeu_ps(out + i, converted16(dt, row, i, 0, 0, scale));
    if (i < c1) {
        const __mmask16 mask = first_lanes(c1 - i);
        _mm512_mask_storeu_ps(out + i, mask, converted16(dt, row, i, 1, mask, scale));
    }
}

INLINE AVX512 void convert_rows(const int dt, const ck_weight *w, long first, long last, float *out, long ldo) {
    const long eb = dt == CK_WEIGHT_FP8_E4M3 ? 1 : 2, k = w->cols;
    for (long r = first; r < last; r++) {
        const char *row = (const char *)w->base + r * w->row_stride * eb;
        float *o = out + (r - first) * ldo;
        if (dt != CK_WEIGHT_FP8_E4M3) { convert_segment(dt, row, 0, k, _mm512_set1_ps(1), o); continue; }
        const float *scaleRow = ck_scale_row(w, r);
        for (long c0 = 0, b = 0; c0 < k; c0 += w->block_cols, b++)
            convert_segment(dt, row, c0, c0 + w->block_cols < k ? c0 + w->block_cols : k, _mm512_set1_ps(scaleRow[b]), o);
    }
}

AVX512 void ck_weight_rows_to_f32_avx512(const ck_weight *w, long first, long last, float *out, long ldo) {
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
