// Numerically stable softmax over the last axis (max-subtracted, f32 math), and the vectorised
// e^x it is built on (the same polynomial the attention kernels use).
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "core/parallel.h"
#include "core/tensor.h"

namespace kinema::cpu {

// x: [..., N] f32 or bf16 -> y: same shape and dtype (y may be x itself). bf16 values are
// widened, soft-maxed in f32 and rounded once, as torch does for softmax(x.float()).bfloat16().
void softmax(const ComputeContext& ctx, const Tensor& x, Tensor& y);
// The raw form: `rows` contiguous rows of n values of dtype (f32 or bf16); y may equal x.
void softmax_rows(const ComputeContext& ctx, DType dtype, const void* x, void* y, int64_t rows,
                  int64_t n);

// y[i] = e^x[i] with the polynomial the softmax and attention kernels inline, within 2 ulp of
// the correctly rounded value (y may be x). Generic processors use std::exp.
void softmax_exp_f32(const float* x, float* y, int64_t n);

namespace softmax_detail {
// One implementation per instruction-set level (softmax_<level>.cpp).
using RowsFn = void (*)(DType dtype, const void* x, void* y, int64_t rows, int64_t n);
using ExpFn = void (*)(const float* x, float* y, int64_t n);
namespace avx2 {
void softmax_rows(DType dtype, const void* x, void* y, int64_t rows, int64_t n);
void exp_f32(const float* x, float* y, int64_t n);
}  // namespace avx2
namespace avx512 {
void softmax_rows(DType dtype, const void* x, void* y, int64_t rows, int64_t n);
void exp_f32(const float* x, float* y, int64_t n);
}  // namespace avx512
}  // namespace softmax_detail

}  // namespace kinema::cpu
