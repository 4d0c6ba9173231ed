#include "nn/linear.h"

#include <algorithm>

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
  auto main_product = [&](const Tensor& xs, Tensor& ys) {
    if (packed.defined() && packed.precision() == precision)
      cpu::linear(ctx, xs, packed, b, ys);
    else
      cpu::linear(ctx, xs, weight, b, ys, precision);
  };
  if (updates.empty()) {
    main_product(x, y);
    return;
  }
  // With low-rank updates the layer's sum stays f32 until they are added: in blocks of rows, so
  // the f32 temporaries stay small (~16 MB) whatever the token count.
  const DType low = precision == MatmulPrecision::BF16 ? DType::BF16 : DType::F32;
  const int64_t rows = x.dim(0), out = out_features();
  const int64_t block = std::max<int64_t>(64, (int64_t(1) << 22) / std::max<int64_t>(out, 1));
  for (int64_t r0 = 0; r0 < rows; r0 += block) {
    const int64_t r1 = std::min(rows, r0 + block);
    const Tensor xs = x.slice_rows(r0, r1);
    Tensor ys = y.slice_rows(r0, r1);
    Tensor sum = y.dtype() == DType::F32 ? ys : Tensor::empty({r1 - r0, out}, DType::F32);
    main_product(xs, sum);
    Tensor delta = Tensor::empty(sum.shape(), DType::F32);
    for (const LowRankUpdate& u : updates) {
      Tensor t = Tensor::empty({r1 - r0, u.down.dim(0)}, low);
      cpu::linear(ctx, xs, u.down, nullptr, t, precision);
      cpu::linear(ctx, t, u.up, nullptr, delta, precision);
      float* s = sum.mutable_data<float>();
      const float* d = delta.data<float>();
      const float scale = u.scale;
      parallel_for(ctx, sum.numel(), 1 << 15, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) s[i] += scale * d[i];
      });
    }
    if (sum.raw() != ys.raw()) cpu::convert(ctx, sum, ys);
  }
}

}  // namespace kinema
