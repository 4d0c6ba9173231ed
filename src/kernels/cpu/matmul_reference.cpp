// The plain reference for linear(): core's scalar conversions, f64 sums. Slow on purpose.
#include <vector>

#include "core/error.h"
#include "kernels/cpu/matmul.h"

namespace kinema::cpu {
namespace {

// The operand's values as the GEMM sees them.
std::vector<float> operand(const Tensor& t, MatmulPrecision precision) {
  std::vector<float> v = t.to_f32_vector();
  if (precision == MatmulPrecision::BF16)
    for (float& e : v) e = bf16_to_f32(f32_to_bf16(e));
  return v;
}

}  // namespace

// x: [M, K], w: [N, K], bias: [N] or null -> y: [M, N] f32|bf16
void linear_reference(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                      MatmulPrecision precision) {
  KINEMA_CHECK(x.rank() == 2 && w.rank() == 2 && x.dim(1) == w.dim(1));
  int64_t m = x.dim(0), k = x.dim(1), n = w.dim(0);
  KINEMA_CHECK(y.shape() == Shape({m, n}) && (!bias || bias->numel() == n));
  std::vector<float> xv = operand(x, precision), wv = operand(w, precision);
  std::vector<float> bv = bias ? operand(*bias, precision) : std::vector<float>();
  std::vector<float> out(size_t(m * n));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0.0;
      for (int64_t p = 0; p < k; ++p) sum += double(xv[size_t(i * k + p)]) * wv[size_t(j * k + p)];
      if (bias) sum += bv[size_t(j)];
      out[size_t(i * n + j)] = float(sum);
    }
  convert_from_f32(out.data(), y.dtype(), y.mutable_raw(), y.numel());
}

}  // namespace kinema::cpu
