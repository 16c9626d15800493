// The scalar FP8 conversion (baseline code): the definition the vector kernels are tested against.
#include "weight_common.h"

float ck_fp8_e4m3_to_f32(uint8_t byte) { return ck_fp8_value(byte); }
