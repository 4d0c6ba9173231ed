// Softmax against PyTorch (ref_attention.py writes its data) and the vectorised exp against
// std::exp.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "common/refdata.h"
#include "core/error.h"
#include "kernels/cpu/softmax.h"

namespace kinema {
namespace {

// Distance in units in the last place of the f32 nearest to `exact`.
double ulp_error(float got, double exact) {
  float nearest = float(exact);
  double ulp = std::fabs(double(std::nextafter(nearest, INFINITY)) - double(nearest));
  if (ulp == 0 || std::isinf(ulp)) ulp = std::numeric_limits<float>::denorm_min();
  return std::fabs(double(got) - exact) / ulp;
}

TEST(Exp, WithinTwoUlpAcrossTheRange) {
  // Every 97th f32 bit pattern in [-104, 89] plus a dense sweep near 0, where exp's relative
  // error is hardest to keep: both signs, normal and subnormal results.
  std::vector<float> x;
  for (float v = -104.0f; v < 89.0f; v += 0.0037f) x.push_back(v);
  for (uint32_t bits = 0x30000000u; bits < 0x3f000000u; bits += 97 * 256) {
    float v;
    std::memcpy(&v, &bits, 4);
    x.push_back(v);
    x.push_back(-v);
  }
  std::vector<float> y(x.size());
  cpu::softmax_exp_f32(x.data(), y.data(), int64_t(x.size()));
  double worst = 0;
  size_t worst_i = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    double err = ulp_error(y[i], std::exp(double(x[i])));
    if (err > worst) worst = err, worst_i = i;
  }
  EXPECT_LE(worst, 2.0) << "at x = " << x[worst_i] << ": got " << y[worst_i] << ", want "
                        << std::exp(double(x[worst_i]));
}

TEST(Exp, SpecialValues) {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> x = {0.0f,    -0.0f,  -inf,  inf,    std::nanf(""),
                          -200.0f, 200.0f, 88.7f, -87.0f, 1.0f};
  std::vector<float> y(x.size());
  cpu::softmax_exp_f32(x.data(), y.data(), int64_t(x.size()));
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_EQ(y[1], 1.0f);
  EXPECT_EQ(y[2], 0.0f);
  EXPECT_EQ(y[3], inf);
  EXPECT_TRUE(std::isnan(y[4]));
  EXPECT_EQ(y[5], 0.0f);
  EXPECT_EQ(y[6], inf);
  EXPECT_LE(ulp_error(y[7], std::exp(double(x[7]))), 2.0);
  EXPECT_LE(ulp_error(y[8], std::exp(-87.0)), 2.0);
  EXPECT_LE(ulp_error(y[9], std::exp(1.0)), 2.0);
}

TEST(Softmax, F32MatchesTorch) {
  Tensor x = test::ref("kernels", "softmax_f32_x");
  Tensor want = test::ref("kernels", "softmax_f32_y");
  Tensor y = Tensor::empty(x.shape(), DType::F32);
  cpu::softmax(ComputeContext{2}, x, y);
  // f32 sums over 1000 terms (sequential in the generic path: error up to ~n * 2^-24 / 2, in
  // practice about sqrt(n) * 2^-24) and a 2-ulp exp, against float64.
  EXPECT_TRUE(test::all_close(y, want, {1e-9, 1e-5}));
  Tensor in_place = x.clone();
  cpu::softmax(ComputeContext{1}, in_place, in_place);
  EXPECT_EQ(std::memcmp(in_place.raw(), y.raw(), y.nbytes()), 0);
}

TEST(Softmax, ShortRows) {
  Tensor x = test::ref("kernels", "softmax_short_x");
  Tensor want = test::ref("kernels", "softmax_short_y");
  Tensor y = Tensor::empty(x.shape(), DType::F32);
  cpu::softmax(ComputeContext{1}, x, y);
  EXPECT_TRUE(test::all_close(y, want, {1e-9, 1e-6}));
}

TEST(Softmax, Bf16MatchesTorchToOneBf16Ulp) {
  // softmax(x.float()).bfloat16(): a different f32 rounding may move a value across a bf16
  // rounding boundary, so allow one bf16 ulp (2^-8 relative).
  Tensor x = test::ref("kernels", "softmax_bf16_x");
  Tensor want = test::ref("kernels", "softmax_bf16_y");
  Tensor y = Tensor::empty(x.shape(), DType::BF16);
  cpu::softmax(ComputeContext{2}, x, y);
  EXPECT_TRUE(test::all_close(y, want, {0.0, 1.0 / 256}));
}

TEST(Softmax, RejectsMismatchedOutput) {
  Tensor x = Tensor::from_f32({2, 3}, test::random_floats(6, 5).data());
  Tensor y = Tensor::empty({3, 2}, DType::F32);
  EXPECT_THROW(cpu::softmax(ComputeContext{1}, x, y), Error);
  Tensor yb = Tensor::empty({2, 3}, DType::BF16);
  EXPECT_THROW(cpu::softmax(ComputeContext{1}, x, yb), Error);
}

}  // namespace
}  // namespace kinema
