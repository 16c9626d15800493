// What the skinny-linear variants share.
#ifndef CK_SKINNY_LINEAR_COMMON_H
#define CK_SKINNY_LINEAR_COMMON_H
#pragma STDC FP_CONTRACT OFF

/// Prefetch distance in floats: 32 KiB ahead of the weight row being read, into L2. Measured on
/// the bench host (AVX2 kernel): m = 8 goes from 19 to 30 GB/s on 2 threads with 16 KiB (L1
/// prefetch or 4 KiB: ~20); a bench decode step at batch 8 then takes 43–45 ms at 24–48 KiB against
/// 46–49 ms at 16 KiB and 60 ms at 8 KiB.
#define CK_SKINNY_PREFETCH_FLOATS 8192

/// *out = (*out +) alpha · d.
static inline __attribute__((always_inline)) void ck_skinny_store(float *out, float d, int accumulate, float alpha) {
    *out = accumulate ? *out + alpha * d : alpha * d;
}
#endif
