// Writes Linear weights straight into oneDNN's packed B layout (matmul_onednn.h PackedLayout),
// converting from their stored type on the way: one pass instead of convert + reorder.
// Internal to matmul.cpp.
#pragma once

#include "core/parallel.h"
#include "core/tensor.h"
#include "kernels/cpu/matmul_onednn.h"

namespace kinema::cpu {

// w: [N, K] any convertible type -> `packed` (layout.bytes) holding w as B = wᵀ [K, N] of
// `type` (f32 or bf16), padding zeroed.
void pack_weight(const ComputeContext& ctx, const Tensor& w, DType type,
                 const onednn::PackedLayout& layout, void* packed);

}  // namespace kinema::cpu
