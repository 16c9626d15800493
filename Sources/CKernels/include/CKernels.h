// Per-ISA float kernels with runtime dispatch (llama.cpp's approach): each function below is
// compiled for one instruction set through __attribute__((target(...))) while the target itself
// builds for baseline x86-64, so the binary loads on any x86-64 CPU and Kernels (Swift) calls
// only the variants `ck_cpu_features` says this CPU and OS can run.
//
// Why C rather than per-ISA Swift modules built with different -target-cpu: Swift has no
// per-function target attribute, so each ISA would need its own module (and its own copy of the
// Swift source, or a symlinked one with #if), and Swift SIMD types give no masked loads or
// AVX-512-specific reductions. In C the ISA of every function is explicit, intrinsics state
// exactly which instructions (fused or not) run, and one file per ISA keeps them side by side.
//
// Exactness: every file sets FP_CONTRACT OFF, so `a * b + c` is a multiply then an add unless
// written as an FMA intrinsic. The AVX2 variants reproduce the former Swift SIMD8 code operation
// for operation (FMA where it used addProduct, lane sums in lane order), so their results are
// bit-identical to it.
#ifndef CKERNELS_H
#define CKERNELS_H
#include <stdint.h>

// ---- CPU features (cpuid + xgetbv: the CPU has the instructions and the OS saves their state).
static const uint32_t CK_FEATURE_AVX2 = 1u << 0;
static const uint32_t CK_FEATURE_FMA = 1u << 1;
static const uint32_t CK_FEATURE_AVX512F = 1u << 2;
static const uint32_t CK_FEATURE_AVX512BW = 1u << 3;
static const uint32_t CK_FEATURE_AVX512VL = 1u << 4;
static const uint32_t CK_FEATURE_AVX512DQ = 1u << 5;
static const uint32_t CK_FEATURE_AVX512BF16 = 1u << 6;
static const uint32_t CK_FEATURE_AVX512VNNI = 1u << 7;
static const uint32_t CK_FEATURE_F16C = 1u << 8;
/// Bit set of CK_FEATURE_* usable on this machine (0 on non-x86 builds).
uint32_t ck_cpu_features(void);

/// A spin-wait hint (x86 `pause`): a waiting thread yields the core's pipeline to its sibling
/// and drains faster when the awaited store lands.
static inline void ck_spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/// Names the calling thread (Linux: up to 15 bytes; elsewhere nothing): `Parallel`'s helpers
/// show as "ls-worker-N" in top -H, perf and gdb.
#if defined(__linux__)
#include <sys/prctl.h>
static inline void ck_name_this_thread(const char *name) { prctl(PR_SET_NAME, name, 0, 0, 0); }
#else
static inline void ck_name_this_thread(const char *name) { (void)name; }
#endif

// ---- Skinny linear: y[m, first..<last] (= or +=) alpha · x[m, k] · W[first..<last, k]ᵀ, m ≤ 8.
// x rows at x + r·lda, weight row j at w + j·ldw, y row r at y + r·ldy (column j).
typedef void (*ck_skinny_linear_fn)(const float *x, long m, long k, long lda, const float *w, long ldw,
                                    float *y, long ldy, long first, long last, int accumulate, float alpha);
void ck_skinny_linear_avx2(const float *x, long m, long k, long lda, const float *w, long ldw,
                           float *y, long ldy, long first, long last, int accumulate, float alpha);
void ck_skinny_linear_avx512(const float *x, long m, long k, long lda, const float *w, long ldw,
                             float *y, long ldy, long first, long last, int accumulate, float alpha);

// ---- Weights in their stored dtype (Kernels' WeightMatrix): W[rows, cols] row-major, row r at
// base + r·row_stride elements. FP8 E4M3 element (r, c) is q · scales[(r / block_rows)·scale_stride
// + c / block_cols] (DeepSeek-V3's weight_scale_inv grid; partial blocks at the edges).
typedef enum { CK_WEIGHT_F32 = 0, CK_WEIGHT_BF16 = 1, CK_WEIGHT_F16 = 2, CK_WEIGHT_FP8_E4M3 = 3 } ck_weight_dtype;
typedef struct {
    int dtype;                  // ck_weight_dtype
    const void *base;
    long rows, cols, row_stride;
    const float *scales;        // FP8 only
    long block_rows, block_cols, scale_stride;
    int nan_free;               // FP8 only: a scan found no NaN code (ck_fp8_has_nan_code), so the
                                // decode kernels may skip their per-line NaN test
} ck_weight;

/// Whether any of the FP8 bytes of rows × cols (rows row_stride bytes apart) is one of E4M3's NaN
/// codes, 0x7F / 0xFF (load-time scan for ck_weight.nan_free).
int ck_fp8_has_nan_code(const void *base, long rows, long cols, long row_stride);

/// y[m ≤ 8, first..<last] (= or +=) alpha · x[m, w.cols] · W[first..<last]ᵀ with W in bf16, f16 or
/// FP8 E4M3, each weight converted to f32 in registers (exactly; FP8 as q, its block scale applied
/// once to each 128-column partial dot: see weight_common.h) and f32 accumulation. f32 weights go to
/// ck_skinny_linear_*.
typedef void (*ck_skinny_weight_fn)(const float *x, long m, long lda, const ck_weight *w,
                                    float *y, long ldy, long first, long last, int accumulate, float alpha);
void ck_skinny_weight_avx2(const float *x, long m, long lda, const ck_weight *w,
                           float *y, long ldy, long first, long last, int accumulate, float alpha);
void ck_skinny_weight_avx512(const float *x, long m, long lda, const ck_weight *w,
                             float *y, long ldy, long first, long last, int accumulate, float alpha);

/// out[r − first, 0..<cols] = W[r, ·] as f32 for r in first..<last (out rows ldo floats apart), exactly
/// (FP8: fl(q · scale)); any dtype, f32 included (a copy).
typedef void (*ck_weight_rows_to_f32_fn)(const ck_weight *w, long first, long last, float *out, long ldo);
void ck_weight_rows_to_f32_avx2(const ck_weight *w, long first, long last, float *out, long ldo);
void ck_weight_rows_to_f32_avx512(const ck_weight *w, long first, long last, float *out, long ldo);

/// One FP8 E4M3 byte as f32 (baseline code, the scalar definition the vector kernels follow).
float ck_fp8_e4m3_to_f32(uint8_t byte);

// ---- Decode attention's value side over latent-cache rows: o[h, 0..<n] (= or +=) Σ_j p[h·ldp + j] ·
// V[j, 0..<n] for h < heads, j < count, cache row j at v + j·ldv elements of `dtype` (CK_WEIGHT_F32 or
// CK_WEIGHT_BF16). Each o element is one FMA chain in j order from 0 (or from o when accumulating):
// every variant equals the scalar definition bit for bit, and runs of one sequence chained with
// `accumulate` equal one run.
typedef void (*ck_kv_weighted_rows_fn)(const float *p, long heads, long ldp, const void *v, int dtype, long count, long ldv,
                                       long n, float *o, long ldo, int accumulate);
void ck_kv_weighted_rows_scalar(const float *p, long heads, long ldp, const void *v, int dtype, long count, long ldv,
                                long n, float *o, long ldo, int accumulate);
void ck_kv_weighted_rows_avx2(const float *p, long heads, long ldp, const void *v, int dtype, long count, long ldv,
                              long n, float *o, long ldo, int accumulate);
void ck_kv_weighted_rows_avx512(const float *p, long heads, long ldp, const void *v, int dtype, long count, long ldv,
                                long n, float *o, long ldo, int accumulate);

// ---- Vector exp (Cephes expf: Cody–Waite reduction + degree-6 polynomial, max rel. error ≈ 1e-7
// over [−87, 88]; below −87.3 gives ≈ 1e−38, from ≈ 88.4 up +inf, as before the port). The value of every
// element is the same in all variants (and equal to ck_exp); only sums differ in order.
/// e^x for one float (baseline code: usable everywhere).
float ck_exp(float x);
/// x[i] = e^(x[i] − shift) for i < n; returns Σ x[i].
typedef float (*ck_exp_shifted_fn)(float *x, long n, float shift);
float ck_exp_shifted_avx2(float *x, long n, float shift);
float ck_exp_shifted_avx512(float *x, long n, float shift);
/// out[i] = silu(gate[i]) · up[i] = gate[i] / (1 + e^(−gate[i])) · up[i] for i < n.
typedef void (*ck_silu_mul_fn)(const float *gate, const float *up, float *out, long n);
void ck_silu_mul_avx2(const float *gate, const float *up, float *out, long n);
void ck_silu_mul_avx512(const float *gate, const float *up, float *out, long n);
#endif
