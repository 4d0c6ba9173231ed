#include "nn/linear.h"

#include "kernels/cpu/convert.h"

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
  // With low-rank updates the layer's sum stays f32 until they are added.
  Tensor sum = updates.empty() || y.dtype() == DType::F32
                   ? y
                   : Tensor::empty({x.dim(0), out_features()}, DType::F32);
  if (packed.defined() && packed.precision() == precision)
    cpu::linear(ctx, x, packed, b, sum);
  else
    cpu::linear(ctx, x, weight, b, sum, precision);
  if (updates.empty()) return;
  const DType low = precision == MatmulPrecision::BF16 ? DType::BF16 : DType::F32;
  Tensor delta = Tensor::empty(sum.shape(), DType::F32);
  for (const LowRankUpdate& u : updates) {
    Tensor t = Tensor::empty({x.dim(0), u.down.dim(0)}, low);
    cpu::linear(ctx, x, u.down, nullptr, t, precision);
    cpu::linear(ctx, t, u.up, nullptr, delta, precision);
    float* s = sum.mutable_data<float>();
    const float* d = delta.data<float>();
    const int64_t n = sum.numel();
    const float scale = u.scale;
    parallel_for(ctx, n, 1 << 15, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) s[i] += scale * d[i];
    });
  }
  if (sum.raw() != y.raw()) cpu::convert(ctx, sum, y);
}

}  // namespace kinema
