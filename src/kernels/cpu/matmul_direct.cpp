#include "kernels/cpu/matmul_direct.h"

#include <algorithm>
#include <vector>

#include "core/cpu.h"
#include "kernels/cpu/convert.h"

namespace kinema::cpu {

void dot_block_generic(const float* x, int64_t ldx, int64_t m, const float* w, int64_t ldw, int nw,
                       int64_t k, float* y, int64_t ldy) {
  for (int64_t i = 0; i < m; ++i)
    for (int j = 0; j < nw; ++j) {
      float sum = 0.0f;
      for (int64_t p = 0; p < k; ++p) sum += x[i * ldx + p] * w[j * ldw + p];
      y[i * ldy + j] = sum;
    }
}

DotBlockFn dot_block_kernel() {
  switch (active_isa()) {
    case Isa::Avx512:
    case Isa::Avx512Bf16: return avx512::dot_block;
    case Isa::Avx2: return avx2::dot_block;
    case Isa::Generic: break;
  }
  return dot_block_generic;
}

// x: [M, K] f32, w: [N, K], bias: [N] or null -> y: [M, N] f32|bf16
void linear_small_m(const ComputeContext& ctx, const float* x, const Tensor& w, const float* bias,
                    bool round_w_to_bf16, Tensor& y) {
  static const DotBlockFn dot = dot_block_kernel();
  int64_t m = y.dim(0), n = y.dim(1), k = w.dim(1);
  size_t w_row_bytes = w.nbytes() / size_t(n);
  const auto* wp = static_cast<const uint8_t*>(w.raw());
  bool y_bf16 = y.dtype() == DType::BF16;
  void* yp = y.mutable_raw();
  int64_t groups = (n + kDotBlockRows - 1) / kDotBlockRows;
  parallel_for(ctx, groups, 4, [&](int64_t begin, int64_t end) {
    std::vector<float> rows(size_t(kDotBlockRows * k));
    std::vector<uint16_t> rounded(round_w_to_bf16 ? size_t(k) : 0);
    std::vector<float> sums(size_t(m * kDotBlockRows));
    for (int64_t g = begin; g < end; ++g) {
      int64_t n0 = g * kDotBlockRows;
      int nw = int(std::min<int64_t>(kDotBlockRows, n - n0));
      for (int j = 0; j < nw; ++j) {
        const uint8_t* src = wp + size_t(n0 + j) * w_row_bytes;
        float* row = rows.data() + j * k;
        if (round_w_to_bf16) {
          convert_row_to_bf16(w.dtype(), src, rounded.data(), k);
          convert_row_to_f32(DType::BF16, rounded.data(), row, k);
        } else {
          convert_row_to_f32(w.dtype(), src, row, k);
        }
      }
      dot(x, k, m, rows.data(), k, nw, k, sums.data(), kDotBlockRows);
      for (int64_t i = 0; i < m; ++i)
        for (int j = 0; j < nw; ++j) {
          float v = sums[size_t(i * kDotBlockRows + j)];
          if (bias) v += bias[n0 + j];
          size_t at = size_t(i * n + n0 + j);
          if (y_bf16)
            static_cast<uint16_t*>(yp)[at] = f32_to_bf16(v);
          else
            static_cast<float*>(yp)[at] = v;
        }
    }
  });
}

}  // namespace kinema::cpu
