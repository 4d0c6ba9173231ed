#include "kernels/cpu/upsample.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"

namespace kinema::cpu {
namespace {

Shape upsampled_shape(const Shape& x) {
  Shape s = x;
  s[-1] = 2 * x[-1];
  s[-2] = 2 * x[-2];
  return s;
}

}  // namespace

// Memory-bound: each input row is widened once (a loop the compiler vectorises) and the second
// output row is a copy of the first, so no per-ISA versions.
void upsample_nearest2x(const ComputeContext& ctx, const Tensor& x, Tensor& out) {
  constexpr std::string_view op = "upsample_nearest2x";
  if (x.rank() < 2) fail(op, ": x must be [..., H, W], found ", x.shape().str());
  if (x.dtype() != DType::F32 || out.dtype() != DType::F32)
    fail(op, ": x and out must be f32, found ", name(x.dtype()), " and ", name(out.dtype()));
  if (out.shape() != upsampled_shape(x.shape()))
    fail(op, ": out has shape ", out.shape().str(), ", expected ",
         upsampled_shape(x.shape()).str());
  if (!out.writable()) fail(op, ": out is not writable");
  const int64_t w = x.dim(-1);
  const int64_t rows = w == 0 ? 0 : x.numel() / w;  // input rows over all planes
  const float* src = x.data<float>();
  float* dst = out.mutable_data<float>();
  parallel_for(ctx, rows, std::max<int64_t>(1, 8192 / std::max<int64_t>(w, 1)),
               [&](int64_t begin, int64_t end) {
                 for (int64_t r = begin; r < end; ++r) {
                   const float* in = src + r * w;
                   float* top = dst + 2 * r * (2 * w);  // input row r -> output rows 2r, 2r + 1
                   for (int64_t i = 0; i < w; ++i) top[2 * i] = top[2 * i + 1] = in[i];
                   std::memcpy(top + 2 * w, top, size_t(2 * w) * sizeof(float));
                 }
               });
}

Tensor upsample_nearest2x(const ComputeContext& ctx, const Tensor& x) {
  if (x.rank() < 2) fail("upsample_nearest2x: x must be [..., H, W], found ", x.shape().str());
  Tensor out = Tensor::empty(upsampled_shape(x.shape()), DType::F32);
  upsample_nearest2x(ctx, x, out);
  return out;
}

}  // namespace kinema::cpu
