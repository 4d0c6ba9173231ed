#include "nn/linear.h"

namespace kinema {

Tensor Linear::operator()(const ComputeContext& ctx, const Tensor& x, MatmulPrecision precision,
                          DType out_dtype) const {
  if (x.rank() != 2 || x.dim(1) != in_features())
    fail("linear: input ", x.shape().str(), " does not match weight ", weight.shape().str());
  Tensor y = Tensor::empty({x.dim(0), out_features()}, out_dtype);
  cpu::linear(ctx, x, weight, bias.defined() && bias.numel() ? &bias : nullptr, y, precision);
  return y;
}

}  // namespace kinema
