// Baseline code the stored-weight kernels share: the scalar FP8 conversion (the definition the vector
// kernels are tested against) and the scaled-x kernels' per-thread scratch.
#include <pthread.h>
#include <stdlib.h>
#include "weight_common.h"

float ck_fp8_e4m3_to_f32(uint8_t byte) { return ck_fp8_value(byte); }

// Eight bytes at a time: (byte & 0x7F) + 1 reaches 0x80 only for 0x7F (no carry leaves a byte), so
// a NaN code sets that byte's top bit; clang vectorizes the OR over a row.
int ck_fp8_has_nan_code(const void *base, long rows, long cols, long row_stride) {
    const uint64_t low7 = 0x7F7F7F7F7F7F7F7Full, one = 0x0101010101010101ull, top = 0x8080808080808080ull;
    for (long r = 0; r < rows; r++) {
        const uint8_t *row = (const uint8_t *)base + r * row_stride;
        uint64_t seen = 0;
        long i = 0;
        for (; i + 8 <= cols; i += 8) {
            uint64_t word;
            memcpy(&word, row + i, 8);
            seen |= (word & low7) + one;
        }
        if (seen & top) return 1;
        for (; i < cols; i++)
            if (ck_fp8_is_nan(row[i])) return 1;
    }
    return 0;
}

// A grow-only buffer per thread for the scaled-x kernels' copies of x, freed when the thread ends:
// no allocation per call once a thread has seen its largest size, no megabyte on any stack.
typedef struct { float *floats; long capacity; } ck_scratch;
static pthread_key_t scratchKey;
static pthread_once_t scratchOnce = PTHREAD_ONCE_INIT;
static int scratchKeyMade;
static void scratch_release(void *s) { free(((ck_scratch *)s)->floats); free(s); }
static void scratch_make_key(void) { scratchKeyMade = pthread_key_create(&scratchKey, scratch_release) == 0; }

float *ck_scaled_x_scratch(long n) {
    pthread_once(&scratchOnce, scratch_make_key);
    if (!scratchKeyMade) return NULL;
    ck_scratch *s = pthread_getspecific(scratchKey);
    if (!s) {
        if (!(s = calloc(1, sizeof *s))) return NULL;
        if (pthread_setspecific(scratchKey, s) != 0) { free(s); return NULL; }
    }
    if (s->capacity < n) {
        free(s->floats);
        s->floats = aligned_alloc(64, (size_t)((n * 4 + 63) / 64 * 64));
        s->capacity = s->floats ? n : 0;
    }
    return s->floats;
}
