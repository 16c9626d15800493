// What the skinny-linear variants share.
#ifndef CK_SKINNY_LINEAR_COMMON_H
#define CK_SKINNY_LINEAR_COMMON_H
#pragma STDC FP_CONTRACT OFF

/// Prefetch distance in floats: 32 KiB ahead of the weight row being read, into L2. Measured on
/// the bench host (AVX2 kernel): m = 8 goes from 19 to 30 GB/s on 2 threads with 16 KiB (L1
/// prefetch or 4 KiB: ~20); a bench decode step at batch 8 then takes 43–45 ms at 24–48 KiB against
/// 46–49 ms at 16 KiB and 60 ms at 8 KiB.
#define CK_SKINNY_PREFETCH_FLOATS 8192

/// Distance in bytes of a second, non-temporal prefetch of the weight rows streamed against one x row
/// (AVX-512 kernels): the line goes into L1 marked to leave first, so the weights passing through L1
/// stop evicting x. With x wider than about a third of L1 (down_proj's 5632 f32 = 22 KiB of Zen 4's
/// 32) each row re-read x from L2: a 2048 × 5632 bf16 weight streamed on two threads at 1.22–1.32 ×
/// a read pass in the host's fast memory state and 1.11–1.14 × in the slow one (medians), against
/// 1.06 in both with an 8 KiB x over the same weights; with this prefetch 1.15–1.20 × and
/// 1.04–1.07 ×, and shapes whose x fits L1 0–7 % faster (docs/stored-dtype-kernels.md, "x evicted
/// from L1"). 0.5–4 KiB measured alike; AVX2's four rows side by side ran slower with it.
#define CK_L1_STREAM_PREFETCH_BYTES 2048

/// *out = (*out +) alpha · d.
static inline __attribute__((always_inline)) void ck_skinny_store(float *out, float d, int accumulate, float alpha) {
    *out = accumulate ? *out + alpha * d : alpha * d;
}
#endif
