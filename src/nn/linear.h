// A Linear layer over weight views: the weight stays in its stored dtype (f32, bf16, f16, fp8 or
// a GGUF block type) and the kernel converts it to the compute type on each call, or, when
// packed at load time, uses a converted copy in oneDNN's preferred layout.
#pragma once

#include "core/tensor.h"
#include "kernels/cpu/matmul.h"

namespace kinema {

using cpu::MatmulPrecision;

struct Linear {
  Tensor weight;             // [out, in]
  Tensor bias;               // [out] or undefined
  cpu::PackedWeight packed;  // optional: used when the call's precision matches

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
