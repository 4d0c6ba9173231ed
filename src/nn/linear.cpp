#include "nn/linear.h"

namespace kinema {

void Linear::pack(const ComputeContext& ctx, MatmulPrecision precision) {
  packed = cpu::PackedWeight::pack(ctx, weight, precision);
}

Tensor Linear::operator()(const ComputeContext& ctx, const Tensor& x, MatmulPrecision precision,
                          DType out_dtype) const {
  Tensor y = Tensor::empty({x.rank() == 2 ? x.dim(0) : 0, out_features()}, out_dtype);
  forward_into(ctx, x, precision, y);
  return y;
}

void Linear::forward_into(const ComputeContext& ctx, const Tensor& x, MatmulPrecision precision,
                          Tensor& y) const {
  if (x.rank() != 2 || x.dim(1) != in_features())
    fail("linear: input ", x.shape().str(), " does not match weight ", weight.shape().str());
  const Tensor* b = bias.defined() ? &bias : nullptr;
  if (packed.defined() && packed.precision() == precision)
    cpu::linear(ctx, x, packed, b, y);
  else
    cpu::linear(ctx, x, weight, b, y, precision);
}

}  // namespace kinema
