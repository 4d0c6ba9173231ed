// Activations and the vectorised exp / tanh / erf: against the C library over dense sweeps, and
// against PyTorch (tests/kernels/ref_activation.py). Runs once per instruction-set level.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <vector>

#include "common/refdata.h"
#include "core/cpu.h"
#include "kernels/cpu/activation.h"
#include "nnops_test_util.h"

namespace kinema {
namespace {

using test::ref;

const ComputeContext kTwoThreads{2};

// Values across [lo, hi] on a fine grid plus random points, an odd count for the vector tails.
std::vector<float> sweep(float lo, float hi, int grid, uint64_t seed) {
  std::vector<float> x = test::random_floats(4099, seed, lo, hi);
  for (int i = 0; i <= grid; ++i) x.push_back(lo + (hi - lo) * float(i) / float(grid));
  return x;
}

// Largest ulp distance between f(x) and the double-precision C library result rounded to f32.
// Measured: exp 1, tanh 1, erf 2 ulp (AVX2 and AVX-512); the bounds leave one ulp of room.
int64_t max_ulp(void (*f)(const float*, float*, int64_t), double (*want)(double),
                const std::vector<float>& x, float* at) {
  std::vector<float> y(x.size());
  f(x.data(), y.data(), int64_t(x.size()));
  int64_t worst = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    int64_t d = test::ulp_distance(y[i], float(want(double(x[i]))));
    if (d > worst) {
      worst = d;
      *at = x[i];
    }
  }
  return worst;
}

double exp_d(double v) { return std::exp(v); }
double tanh_d(double v) { return std::tanh(v); }
double erf_d(double v) { return std::erf(v); }

TEST(VecMath, ExpWithinTwoUlp) {
  float at = 0;
  // The whole range with normal results; below -87.3 results are subnormal (checked separately).
  EXPECT_LE(max_ulp(cpu::exp_f32, exp_d, sweep(-87.3f, 88.7f, 200000, 1), &at), 2) << "at " << at;
  EXPECT_LE(max_ulp(cpu::exp_f32, exp_d, sweep(-1.0f, 1.0f, 200000, 2), &at), 2) << "at " << at;
  std::vector<float> edge = {89.0f, 1e30f, INFINITY, -104.0f, -1e30f, -INFINITY, 0.0f, -0.0f};
  std::vector<float> y(edge.size());
  cpu::exp_f32(edge.data(), y.data(), int64_t(edge.size()));
  EXPECT_TRUE(std::isinf(y[0]) && std::isinf(y[1]) && std::isinf(y[2]));
  EXPECT_EQ(y[3], 0.0f);
  EXPECT_EQ(y[4], 0.0f);
  EXPECT_EQ(y[5], 0.0f);
  EXPECT_EQ(y[6], 1.0f);
  EXPECT_EQ(y[7], 1.0f);
  float sub = -100.0f, sub_y;
  cpu::exp_f32(&sub, &sub_y, 1);  // e^-100 = 3.7e-44, subnormal: within a subnormal step
  EXPECT_NEAR(sub_y, std::exp(-100.0f), 1.5e-45f);
  float nan = NAN, nan_y;
  cpu::exp_f32(&nan, &nan_y, 1);
  EXPECT_TRUE(std::isnan(nan_y));
}

TEST(VecMath, TanhWithinTwoUlp) {
  float at = 0;
  EXPECT_LE(max_ulp(cpu::tanh_f32, tanh_d, sweep(-10.0f, 10.0f, 200000, 3), &at), 2) << "at " << at;
  EXPECT_LE(max_ulp(cpu::tanh_f32, tanh_d, sweep(-1.0f, 1.0f, 200000, 4), &at), 2) << "at " << at;
  EXPECT_LE(max_ulp(cpu::tanh_f32, tanh_d, sweep(-1e-3f, 1e-3f, 20000, 5), &at), 2) << "at " << at;
  std::vector<float> edge = {100.0f, -100.0f, INFINITY, -INFINITY, NAN};
  std::vector<float> y(edge.size());
  cpu::tanh_f32(edge.data(), y.data(), int64_t(edge.size()));
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_EQ(y[1], -1.0f);
  EXPECT_EQ(y[2], 1.0f);
  EXPECT_EQ(y[3], -1.0f);
  EXPECT_TRUE(std::isnan(y[4]));
}

TEST(VecMath, ErfWithinThreeUlp) {
  float at = 0;
  EXPECT_LE(max_ulp(cpu::erf_f32, erf_d, sweep(-6.0f, 6.0f, 200000, 6), &at), 3) << "at " << at;
  EXPECT_LE(max_ulp(cpu::erf_f32, erf_d, sweep(-1.2f, 1.2f, 200000, 7), &at), 3) << "at " << at;
  EXPECT_LE(max_ulp(cpu::erf_f32, erf_d, sweep(-1e-3f, 1e-3f, 20000, 8), &at), 3) << "at " << at;
  std::vector<float> edge = {100.0f, -100.0f, INFINITY, -INFINITY, NAN};
  std::vector<float> y(edge.size());
  cpu::erf_f32(edge.data(), y.data(), int64_t(edge.size()));
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_EQ(y[1], -1.0f);
  EXPECT_EQ(y[2], 1.0f);
  EXPECT_EQ(y[3], -1.0f);
  EXPECT_TRUE(std::isnan(y[4]));
}

using ActivationFn = void (*)(const ComputeContext&, const Tensor&, Tensor&);

// f32: the torch references carry up to ~4e-7 absolute error of their own (1 + tanh(z) cancels
// for negative x), hence the absolute term; elsewhere a few f32 ulp.
void check_f32(ActivationFn fn, const char* want_name) {
  Tensor x = ref("kernels", "act_x_f32");
  Tensor out = Tensor::empty(x.shape(), DType::F32);
  fn(kTwoThreads, x, out);
  EXPECT_TRUE(test::all_close(out, ref("kernels", want_name), {1e-6, 2e-6})) << want_name;
}

// bf16: the same single rounding as the reference, so equal except where the f32 values on
// either side straddle a rounding boundary (1 bf16 ulp), and next to zero (absolute 1e-6).
void check_bf16(ActivationFn fn, const char* want_name) {
  Tensor x = ref("kernels", "act_x_bf16");
  Tensor out = Tensor::empty(x.shape(), DType::BF16);
  fn(kTwoThreads, x, out);
  EXPECT_TRUE(test::bf16_close(out, ref("kernels", want_name), 1, 1e-6, 0.995)) << want_name;
}

TEST(Activation, GeluTanhF32) { check_f32(cpu::gelu_tanh, "gelu_tanh_f32"); }
TEST(Activation, GeluErfF32) { check_f32(cpu::gelu_erf, "gelu_erf_f32"); }
TEST(Activation, SiluF32) { check_f32(cpu::silu, "silu_f32"); }
TEST(Activation, GeluTanhBf16OneRounding) { check_bf16(cpu::gelu_tanh, "gelu_tanh_bf16"); }
TEST(Activation, GeluErfBf16OneRounding) { check_bf16(cpu::gelu_erf, "gelu_erf_bf16"); }
TEST(Activation, SiluBf16OneRounding) { check_bf16(cpu::silu, "silu_bf16"); }

TEST(Activation, MixedDtypesAndInPlace) {
  // f32 in -> bf16 out equals the f32 result rounded once; in place equals out of place.
  Tensor x = ref("kernels", "act_x_f32");
  Tensor f32_out = Tensor::empty(x.shape(), DType::F32);
  Tensor bf16_out = Tensor::empty(x.shape(), DType::BF16);
  cpu::gelu_tanh(kTwoThreads, x, f32_out);
  cpu::gelu_tanh(kTwoThreads, x, bf16_out);
  EXPECT_TRUE(test::bf16_close(bf16_out, f32_out.to(DType::BF16), 0, 0, 1.0));
  Tensor inplace = x.clone();
  cpu::gelu_tanh(kTwoThreads, inplace, inplace);
  EXPECT_TRUE(test::all_close(inplace, f32_out, {0, 0}));
  // bf16 in -> f32 out: the activation of the widened values, unrounded.
  Tensor xb = ref("kernels", "act_x_bf16");
  Tensor wide = Tensor::empty(xb.shape(), DType::F32);
  cpu::silu(kTwoThreads, xb, wide);
  Tensor wide_ref = Tensor::empty(xb.shape(), DType::F32);
  cpu::silu(kTwoThreads, xb.to(DType::F32), wide_ref);
  EXPECT_TRUE(test::all_close(wide, wide_ref, {0, 0}));
}

TEST(Activation, GeluT5OpByOpBf16) {
  Tensor x = ref("kernels", "act_x_bf16");
  Tensor out = Tensor::empty(x.shape(), DType::BF16);
  cpu::gelu_tanh_t5(kTwoThreads, x, out);
  // Seven intermediate roundings: a tanh 1 ulp off a boundary can move the result by one step.
  EXPECT_TRUE(test::bf16_close(out, ref("kernels", "gelu_t5_bf16"), 1, 0, 0.995));
}

TEST(Activation, GatedGeluT5Bf16) {
  Tensor a = ref("kernels", "gated_a_bf16");
  Tensor b = ref("kernels", "act_x_bf16");
  Tensor out = Tensor::empty(a.shape(), DType::BF16);
  cpu::gated_gelu_t5(kTwoThreads, a, b, out);
  EXPECT_TRUE(test::bf16_close(out, ref("kernels", "gated_t5_bf16"), 1, 0, 0.995));
}

TEST(Activation, RejectsBadOperands) {
  Tensor x = ref("kernels", "act_x_f32");
  Tensor wrong_shape = Tensor::empty({3}, DType::F32);
  EXPECT_THROW(cpu::gelu_tanh(kTwoThreads, x, wrong_shape), Error);
  Tensor bf16_out = Tensor::empty(x.shape(), DType::BF16);
  EXPECT_THROW(cpu::gelu_tanh_t5(kTwoThreads, x, bf16_out), Error);  // the T5 GELU needs bf16 x
  Tensor i32 = Tensor::empty(x.shape(), DType::I32);
  EXPECT_THROW(cpu::silu(kTwoThreads, x, i32), Error);
}

}  // namespace
}  // namespace kinema
