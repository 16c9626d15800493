#include "CKernels.h"
#if defined(__x86_64__)
#include <cpuid.h>

// XCR0: which register state the OS saves on context switch (read only when OSXSAVE is set).
static uint64_t xcr0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

uint32_t ck_cpu_features(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    const int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1, f16c = (c >> 29) & 1;
    if (!osxsave || !avx) return 0;
    const uint64_t state = xcr0();
    const int ymm = (state & 0x6) == 0x6;       // SSE + AVX (upper YMM halves)
    const int zmm = (state & 0xE6) == 0xE6;     // + opmask, upper ZMM halves, ZMM16–31
    if (!ymm) return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    uint32_t f = 0;
    if ((b >> 5) & 1) f |= CK_FEATURE_AVX2;
    if (fma) f |= CK_FEATURE_FMA;
    if (f16c) f |= CK_FEATURE_F16C;
    if (zmm) {
        if ((b >> 16) & 1) f |= CK_FEATURE_AVX512F;
        if ((b >> 17) & 1) f |= CK_FEATURE_AVX512DQ;
        if ((b >> 30) & 1) f |= CK_FEATURE_AVX512BW;
        if ((b >> 31) & 1) f |= CK_FEATURE_AVX512VL;
        if ((c >> 11) & 1) f |= CK_FEATURE_AVX512VNNI;
        const unsigned maxSubleaf = a;
        if (maxSubleaf >= 1 && __get_cpuid_count(7, 1, &a, &b, &c, &d) && ((a >> 5) & 1)) f |= CK_FEATURE_AVX512BF16;
    }
    return f;
}
#else
uint32_t ck_cpu_features(void) { return 0; }
#endif
