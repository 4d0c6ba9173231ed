// Vectorised conversion of weight and activation rows to the two GEMM input types, f32 and bf16.
// Reads every dense float type and every block type. Results are bit-identical to the scalar
// reference in core (convert_to_f32, f32_to_bf16), NaN payloads included: the tests compare
// them over random data and every special value.
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "core/parallel.h"
#include "core/tensor.h"

namespace kinema::cpu {

// True for the dtypes these converters read: f32, bf16, f16, f8_e4m3, f8_e5m2, q8_0, q4_0,
// q4_k, q5_k, q6_k.
bool is_convertible(DType dtype);

// n values of `src_dtype` (a whole number of blocks for block types) -> f32.
void convert_row_to_f32(DType src_dtype, const void* src, float* dst, int64_t n);
// n values -> bf16 bits: the value's f32 conversion rounded to nearest even, as torch rounds.
void convert_row_to_bf16(DType src_dtype, const void* src, uint16_t* dst, int64_t n);

// rows x cols values of src_dtype (rows contiguous) -> dst_dtype f32 or bf16, rows split across
// ctx.threads. cols must be whole blocks for block types.
void convert_rows(const ComputeContext& ctx, DType src_dtype, const void* src, DType dst_dtype,
                  void* dst, int64_t rows, int64_t cols);

// src: [R, C] any convertible dtype -> dst: [R, C] f32 or bf16 (dst's dtype), rows split across
// ctx.threads. Any rank works: the last axis is the row.
void convert(const ComputeContext& ctx, const Tensor& src, Tensor& dst);

}  // namespace kinema::cpu
