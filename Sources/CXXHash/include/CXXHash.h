// xxHash XXH3-64 over libxxhash, exposed as plain functions (the header's macros and inline
// definitions do not import into Swift cleanly).
#ifndef CXXHASH_H
#define CXXHASH_H
#include <stddef.h>
#include <stdint.h>

uint64_t cxxhash_xxh3_64(const void *data, size_t length, uint64_t seed);

/// Streaming state: opaque, heap-allocated with the 64-byte alignment XXH3_state_t needs.
typedef struct cxxhash_state cxxhash_state;
cxxhash_state *cxxhash_state_create(uint64_t seed);
void cxxhash_state_update(cxxhash_state *state, const void *data, size_t length);
uint64_t cxxhash_state_digest(const cxxhash_state *state);
void cxxhash_state_free(cxxhash_state *state);
#endif
