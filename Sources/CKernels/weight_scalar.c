// The scalar FP8 conversion (baseline code): the definition the vector kernels follow lane for lane.
#include "weight_common.h"

float ck_fp8_e4m3_to_f32(uint8_t byte) {
    const unsigned csr = ck_clear_daz();
    const float value = ck_fp8_scaled(byte, ck_fp8_block_scale(1.0f, 0), 0);
    ck_restore_csr(csr);
    return value;
}
