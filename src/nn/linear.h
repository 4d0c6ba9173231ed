// A Linear layer over weight views: the weight stays in its stored dtype (f32, bf16, f16, fp8 or
// a GGUF block type) and the kernel converts it panel by panel to the compute type.
#pragma once

#include "core/tensor.h"
#include "kernels/cpu/matmul.h"

namespace kinema {

using cpu::MatmulPrecision;

struct Linear {
  Tensor weight;  // [out, in]
  Tensor bias;    // [out] or undefined

  int64_t out_features() const { return weight.dim(0); }
  int64_t in_features() const { return weight.dim(1); }

  // x: [M, in] f32|bf16 -> [M, out] of `out_dtype`
  Tensor operator()(const ComputeContext& ctx, const Tensor& x, MatmulPrecision precision,
                    DType out_dtype) const;
};

}  // namespace kinema
