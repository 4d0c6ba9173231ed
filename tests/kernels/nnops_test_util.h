// Comparison helpers for the norm / activation / elementwise / conv kernel tests.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/dtype.h"
#include "core/tensor.h"

namespace kinema::test {

// Distance in representable floats (0 for equal values, also +0 vs -0).
inline int64_t ulp_distance(float a, float b) {
  auto ordered = [](float f) {
    int32_t i;
    std::memcpy(&i, &f, 4);
    return i < 0 ? int64_t(INT32_MIN) - i : int64_t(i);
  };
  return std::llabs(ordered(a) - ordered(b));
}

// bf16 outputs against bf16 references: every element within `max_ulp` bf16 steps, and at least
// `min_exact` of them bit-identical (a systematic rounding error fails this). Elements within
// `abs` in value count as equal: results next to zero, where the f32 cancellation inside the
// reference's own formula dominates.
inline ::testing::AssertionResult bf16_close(const Tensor& got, const Tensor& want, int max_ulp,
                                             double abs, double min_exact) {
  if (got.dtype() != DType::BF16 || want.dtype() != DType::BF16)
    return ::testing::AssertionFailure() << "expected bf16 tensors";
  if (got.shape() != want.shape())
    return ::testing::AssertionFailure() << got.shape().str() << " != " << want.shape().str();
  const auto* g = got.data<uint16_t>();
  const auto* w = want.data<uint16_t>();
  int64_t exact = 0, worst = 0, worst_i = -1;
  for (int64_t i = 0; i < got.numel(); ++i) {
    float gf = bf16_to_f32(g[i]), wf = bf16_to_f32(w[i]);
    if (g[i] == w[i] || std::fabs(double(gf) - double(wf)) <= abs) {
      ++exact;
      continue;
    }
    int64_t d = ulp_distance(gf, wf) >> 16;
    if (d > max_ulp && d > worst) {
      worst = d;
      worst_i = i;
    }
  }
  if (worst_i >= 0)
    return ::testing::AssertionFailure()
           << "element " << worst_i << ": got " << bf16_to_f32(g[worst_i]) << ", want "
           << bf16_to_f32(w[worst_i]) << " (" << worst << " bf16 ulp apart, allowed " << max_ulp
           << ")";
  double frac = got.numel() ? double(exact) / double(got.numel()) : 1.0;
  if (frac < min_exact)
    return ::testing::AssertionFailure()
           << "only " << frac * 100 << "% bit-exact, expected at least " << min_exact * 100 << "%";
  return ::testing::AssertionSuccess();
}

// The largest |v| of a tensor, for tolerances relative to a result's scale.
inline double max_abs(const Tensor& t) {
  double m = 0;
  for (float v : t.to_f32_vector()) m = std::fmax(m, std::fabs(double(v)));
  return m;
}

inline Tensor empty_like(const Tensor& t, DType dtype) { return Tensor::empty(t.shape(), dtype); }

}  // namespace kinema::test
