// The scalar latent-cache value kernel (baseline code): the definition the vector variants equal bit
// for bit (kv_weighted_common.h).
#include "kv_weighted_common.h"

void ck_kv_weighted_rows_scalar(const float *p, long heads, long ldp, const void *v, int dtype, long count, long ldv,
                                long n, float *o, long ldo, int accumulate) {
    if (dtype == CK_WEIGHT_F32) ck_kv_weighted_scalar(CK_WEIGHT_F32, p, heads, ldp, v, count, ldv, 0, n, o, ldo, accumulate);
    else ck_kv_weighted_scalar(CK_WEIGHT_BF16, p, heads, ldp, v, count, ldv, 0, n, o, ldo, accumulate);
}
