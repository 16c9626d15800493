#include "CXXHash.h"
#include <xxhash.h>
#if defined(__x86_64__)
// Debian's libxxhash is built for baseline x86-64 and exports runtime-dispatched entry points
// that pick AVX2/AVX-512 when the CPU has them (same hashes, ~15% faster here).
#include <xxh_x86dispatch.h>
#define XXH3_ONESHOT XXH3_64bits_withSeed_dispatch
#define XXH3_UPDATE XXH3_64bits_update_dispatch
#else
#define XXH3_ONESHOT XXH3_64bits_withSeed
#define XXH3_UPDATE XXH3_64bits_update
#endif

uint64_t cxxhash_xxh3_64(const void *data, size_t length, uint64_t seed) {
    return XXH3_ONESHOT(data, length, seed);
}

cxxhash_state *cxxhash_state_create(uint64_t seed) {
    XXH3_state_t *state = XXH3_createState();  // library allocation is 64-byte aligned
    if (state) XXH3_64bits_reset_withSeed(state, seed);
    return (cxxhash_state *)state;
}

void cxxhash_state_update(cxxhash_state *state, const void *data, size_t length) {
    XXH3_UPDATE((XXH3_state_t *)state, data, length);
}

uint64_t cxxhash_state_digest(const cxxhash_state *state) {
    return XXH3_64bits_digest((const XXH3_state_t *)state);
}

void cxxhash_state_free(cxxhash_state *state) { XXH3_freeState((XXH3_state_t *)state); }
