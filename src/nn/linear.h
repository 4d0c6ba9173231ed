// A Linear layer over weight views: the weight stays in its stored dtype (f32, bf16, f16, fp8 or
// a GGUF block type) and the kernel converts it to the compute type on each call, or, when
// packed at load time, uses a converted copy in oneDNN's preferred layout. Low-rank updates
// (LoRAs that are not merged into the weight, models/lora.h) run beside the weight.
#pragma once

#include <vector>

#include "core/tensor.h"
#include "kernels/cpu/matmul.h"

namespace kinema {

using cpu::MatmulPrecision;

// y += scale * (x·downᵀ)·upᵀ: a LoRA applied without touching the weight (W x + s B (A x)).
// down: [rank, in], up: [out, rank], each of any type linear() reads. In BF16 precision both
// products are bf16 GEMMs (x, down, up rounded to bf16) and x·downᵀ is rounded to bf16, as two
// autocast Linears would do it; the update is added to the layer's f32 sum before its one
// rounding to the output type. In F32 precision everything is f32.
struct LowRankUpdate {
  Tensor down;
  Tensor up;
  float scale = 1.0f;
};

struct Linear {
  Tensor weight;                       // [out, in]
  Tensor bias;                         // [out] or undefined
  cpu::PackedWeight packed;            // optional: used when the call's precision matches
  std::vector<LowRankUpdate> updates;  // unmerged LoRAs, applied in order

  int64_t out_features() const { return weight.dim(0); }
  int64_t in_features() const { return weight.dim(1); }

  // Converts the weight once for `precision` (memory: out * in * 2 or 4 bytes).
  void pack(const ComputeContext& ctx, MatmulPrecision precision);

  // x: [M, in] f32|bf16 -> [M, out] of `out_dtype`
  Tensor operator()(const ComputeContext& ctx, const Tensor& x, MatmulPrecision precision,
                    DType out_dtype) const;
  // The same into a preallocated y: [M, out] f32|bf16.
  void forward_into(const ComputeContext& ctx, const Tensor& x, MatmulPrecision precision,
                    Tensor& y) const;
};

}  // namespace kinema
