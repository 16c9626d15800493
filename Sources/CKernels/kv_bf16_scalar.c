// The scalar bf16 latent-cache kernel (baseline code): the definition the vector variants equal bit
// for bit (kv_bf16_common.h).
#include "kv_bf16_common.h"

void ck_bf16_weighted_rows_scalar(const float *p, long heads, long ldp, const uint16_t *v, long count, long ldv,
                                  long n, float *o, long ldo, int accumulate) {
    ck_kv_weighted_scalar(p, heads, ldp, v, count, ldv, 0, n, o, ldo, accumulate);
}
