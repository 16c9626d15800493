#ifndef C_ALLOCATION_COUNTER_H
#define C_ALLOCATION_COUNTER_H

/// For Tests/AllocationCheck: heap allocations made while counting is on, by the thread that
/// started counting and by the `Parallel` helper threads (named "ls-worker-N"). Linked into that
/// executable only, this target interposes malloc, calloc, realloc, posix_memalign and
/// aligned_alloc, forwarding to glibc's own. An allocation whose immediate caller lies in the BLAS
/// libraries (their per-call packing buffers, beyond our reach) is counted apart.
typedef struct {
    long ours;   // by anything but the BLAS libraries: Swift objects and arrays, our C
    long blas;   // inside libopenblas / libdnnl / libgomp
} ck_allocation_counts;

/// 1 where the interposition works (glibc), 0 elsewhere.
int ck_allocation_counting_available(void);
void ck_allocation_counting_start(void);
ck_allocation_counts ck_allocation_counting_stop(void);

#endif
