// Portable softmax (the reference) and the dispatch to the vector levels.
#include "kernels/cpu/softmax.h"

#include <cmath>
#include <vector>

#include "core/cpu.h"
#include "core/error.h"

namespace kinema::cpu {
namespace {

void softmax_rows_generic(DType dtype, const void* x, void* y, int64_t rows, int64_t n) {
  std::vector<float> row(static_cast<size_t>(n));
  for (int64_t r = 0; r < rows; ++r) {
    if (dtype == DType::BF16) {
      const uint16_t* in = static_cast<const uint16_t*>(x) + r * n;
      for (int64_t j = 0; j < n; ++j) row[size_t(j)] = bf16_to_f32(in[j]);
    } else {
      const float* in = static_cast<const float*>(x) + r * n;
      for (int64_t j = 0; j < n; ++j) row[size_t(j)] = in[j];
    }
    float mx = -INFINITY;
    for (float v : row) mx = std::fmax(mx, v);
    if (std::isinf(mx) && mx < 0) mx = 0.0f;  // an all -inf row gives 0/0 = NaN, as torch does
    float sum = 0.0f;
    for (float& v : row) {
      v = std::exp(v - mx);
      sum += v;
    }
    float inv = 1.0f / sum;
    if (dtype == DType::BF16) {
      uint16_t* out = static_cast<uint16_t*>(y) + r * n;
      for (int64_t j = 0; j < n; ++j) out[j] = f32_to_bf16(row[size_t(j)] * inv);
    } else {
      float* out = static_cast<float*>(y) + r * n;
      for (int64_t j = 0; j < n; ++j) out[j] = row[size_t(j)] * inv;
    }
  }
}

void exp_generic(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::exp(x[i]);
}

softmax_detail::RowsFn rows_impl() {
  switch (active_isa()) {
    case Isa::Generic: return softmax_rows_generic;
    case Isa::Avx2: return softmax_detail::avx2::softmax_rows;
    case Isa::Avx512:
    case Isa::Avx512Bf16: return softmax_detail::avx512::softmax_rows;
  }
  return softmax_rows_generic;
}

}  // namespace

void softmax_rows(const ComputeContext& ctx, DType dtype, const void* x, void* y, int64_t rows,
                  int64_t n) {
  if (dtype != DType::F32 && dtype != DType::BF16)
    fail("softmax: dtype must be f32 or bf16, got ", name(dtype));
  if (rows <= 0 || n <= 0) return;
  softmax_detail::RowsFn fn = rows_impl();
  size_t esize = dtype == DType::BF16 ? 2 : 4;
  // About 64 K elements per chunk keeps the parallel overhead small for short rows.
  int64_t grain = std::max<int64_t>(1, (int64_t(1) << 16) / n);
  parallel_for(ctx, rows, grain, [&](int64_t begin, int64_t end) {
    fn(dtype, static_cast<const std::byte*>(x) + size_t(begin * n) * esize,
       static_cast<std::byte*>(y) + size_t(begin * n) * esize, end - begin, n);
  });
}

void softmax(const ComputeContext& ctx, const Tensor& x, Tensor& y) {
  if (x.rank() < 1) fail("softmax: x must have at least one axis");
  if (y.shape() != x.shape() || y.dtype() != x.dtype())
    fail("softmax: y ", y.shape().str(), " ", name(y.dtype()), " must match x ", x.shape().str(),
         " ", name(x.dtype()));
  int64_t n = x.dim(-1);
  int64_t rows = n == 0 ? 0 : x.numel() / n;
  softmax_rows(ctx, x.dtype(), x.raw(), y.mutable_raw(), rows, n);
}

void softmax_exp_f32(const float* x, float* y, int64_t n) {
  switch (active_isa()) {
    case Isa::Generic: return exp_generic(x, y, n);
    case Isa::Avx2: return softmax_detail::avx2::exp_f32(x, y, n);
    case Isa::Avx512:
    case Isa::Avx512Bf16: return softmax_detail::avx512::exp_f32(x, y, n);
  }
}

}  // namespace kinema::cpu
