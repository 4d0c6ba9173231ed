// The small-M path of linear(): few activation rows against weight rows converted one group at a
// time, no GEMM. Memory-bound, so the point is reading each weight once and never writing a
// converted copy larger than a few rows. Internal to matmul.cpp.
#pragma once

#include <cstdint>

#include "core/parallel.h"
#include "core/tensor.h"

namespace kinema::cpu {

// Weight rows one dot_block() call takes.
inline constexpr int kDotBlockRows = 4;

// y[i*ldy + j] = sum over k of x[i*ldx + k] * w[j*ldw + k], for i < m, j < nw <= kDotBlockRows;
// f32 products and sums.
using DotBlockFn = void (*)(const float* x, int64_t ldx, int64_t m, const float* w, int64_t ldw,
                            int nw, int64_t k, float* y, int64_t ldy);

void dot_block_generic(const float* x, int64_t ldx, int64_t m, const float* w, int64_t ldw, int nw,
                       int64_t k, float* y, int64_t ldy);
namespace avx2 {
void dot_block(const float* x, int64_t ldx, int64_t m, const float* w, int64_t ldw, int nw,
               int64_t k, float* y, int64_t ldy);
}
namespace avx512 {
void dot_block(const float* x, int64_t ldx, int64_t m, const float* w, int64_t ldw, int nw,
               int64_t k, float* y, int64_t ldy);
}

// The best dot_block for active_isa().
DotBlockFn dot_block_kernel();

// y = x·wᵀ + bias for few rows. x: [M, K] f32 values as the GEMM sees them (already rounded to
// bf16 for BF16 precision), w: [N, K] any convertible type, bias: N f32 values or null ->
// y: [M, N] f32|bf16. Weight rows are rounded to bf16 first when round_w_to_bf16.
void linear_small_m(const ComputeContext& ctx, const float* x, const Tensor& w, const float* bias,
                    bool round_w_to_bf16, Tensor& y);

}  // namespace kinema::cpu
