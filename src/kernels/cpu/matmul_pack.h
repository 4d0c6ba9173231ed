// Writes Linear weights straight into oneDNN's packed B layout (matmul_onednn.h PackedLayout),
// converting from their stored type on the way: one pass instead of convert + reorder.
// Internal to matmul.cpp.
#pragma once

#include <cstdint>

#include "core/parallel.h"
#include "core/tensor.h"
#include "kernels/cpu/matmul_onednn.h"

namespace kinema::cpu {

// w: [N, K] any convertible type -> `packed` (layout.bytes) holding w as B = wᵀ [K, N] of
// `type` (f32 or bf16), padding zeroed.
void pack_weight(const ComputeContext& ctx, const Tensor& w, DType type,
                 const onednn::PackedLayout& layout, void* packed);

// out[j * out_stride + i] = in[i * in_stride + j] for i, j < 16: the packing's inner step.
void transpose16_generic(const uint32_t* in, int64_t in_stride, uint32_t* out, int64_t out_stride);
namespace avx512 {
void transpose16(const uint32_t* in, int64_t in_stride, uint32_t* out, int64_t out_stride);
}

}  // namespace kinema::cpu
