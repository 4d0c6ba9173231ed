// The per-instruction-set row converters behind convert.h (convert_avx2.cpp, convert_avx512.cpp).
// Callers go through convert.h, which picks one by active_isa().
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace kinema::cpu {

namespace avx2 {
void convert_row_to_f32(DType src_dtype, const void* src, float* dst, int64_t n);
void convert_row_to_bf16(DType src_dtype, const void* src, uint16_t* dst, int64_t n);
}  // namespace avx2

namespace avx512 {
void convert_row_to_f32(DType src_dtype, const void* src, float* dst, int64_t n);
void convert_row_to_bf16(DType src_dtype, const void* src, uint16_t* dst, int64_t n);
}  // namespace avx512

}  // namespace kinema::cpu
