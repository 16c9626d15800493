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
/// The one-x-row case of ck_skinny_linear_*, in the scope of their parameters (x, k, w, ldw, y, first,
/// last, accumulate, alpha): weight rows four at a time through the ISA's `row_chains(P, rows, x, k, d)`
/// (one chain per row, so the same bits however rows are grouped), the rest one by one.
#define CK_ONE_X_ROW(row_chains)                                                                        \
    do {                                                                                                \
        float d[4];                                                                                     \
        long j = first;                                                                                 \
        for (; j + 4 <= last; j += 4) {                                                                 \
            const float *rows[4] = {w + j * ldw, w + (j + 1) * ldw, w + (j + 2) * ldw, w + (j + 3) * ldw}; \
            row_chains(4, rows, x, k, d);                                                               \
            for (int p = 0; p < 4; p++) ck_skinny_store(y + j + p, d[p], accumulate, alpha);            \
        }                                                                                               \
        for (; j < last; j++) {                                                                         \
            const float *row = w + j * ldw;                                                             \
            row_chains(1, &row, x, k, d);                                                               \
            ck_skinny_store(y + j, d[0], accumulate, alpha);                                            \
        }                                                                                               \
    } while (0)
#endif
