// Elementwise kernels against PyTorch (tests/kernels/ref_elementwise.py). The arithmetic here
// rounds exactly as torch does, so most checks are bit-exact. Runs once per instruction-set level.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "common/refdata.h"
#include "kernels/cpu/convert.h"
#include "kernels/cpu/elementwise.h"
#include "nnops_test_util.h"

namespace kinema {
namespace {

const ComputeContext kTwoThreads{2};

Tensor r(const std::string& name) { return test::ref("kernels", name); }

// Bit-exact comparison of two f32 or bf16 tensors, except that any NaN equals any NaN (torch's
// vectorised bf16 conversion writes NaN as 0xffff, its scalar one as 0x7fc0).
::testing::AssertionResult same_bits(const Tensor& got, const Tensor& want) {
  if (got.dtype() != want.dtype() || got.shape() != want.shape())
    return ::testing::AssertionFailure() << "dtype or shape differ";
  std::vector<float> g = got.to_f32_vector(), w = want.to_f32_vector();
  for (size_t i = 0; i < g.size(); ++i) {
    if (std::isnan(g[i]) && std::isnan(w[i])) continue;
    if (f32_to_bits(g[i]) != f32_to_bits(w[i]))
      return ::testing::AssertionFailure()
             << "first difference at element " << i << ": got " << g[i] << ", want " << w[i];
  }
  return ::testing::AssertionSuccess();
}

TEST(Elementwise, AddMixedDtypes) {
  Tensor a = r("ew_a_f32"), b = r("ew_b_bf16");
  Tensor out = Tensor::empty(a.shape(), DType::F32);
  cpu::add(kTwoThreads, a, b, out);
  EXPECT_TRUE(same_bits(out, r("ew_add_f32_bf16")));
  Tensor out_bf16 = Tensor::empty(a.shape(), DType::BF16);
  cpu::add(kTwoThreads, a, b, out_bf16);
  EXPECT_TRUE(same_bits(out_bf16, r("ew_add_bf16_out")));
  Tensor inplace = a.clone();  // out aliasing a
  cpu::add(kTwoThreads, inplace, b, inplace);
  EXPECT_TRUE(same_bits(inplace, r("ew_add_f32_bf16")));
}

TEST(Elementwise, MulBf16RoundsOnce) {
  Tensor b = r("ew_b_bf16"), c = r("ew_c_bf16");
  Tensor out = Tensor::empty(b.shape(), DType::BF16);
  cpu::mul(kTwoThreads, b, c, out);
  EXPECT_TRUE(same_bits(out, r("ew_mul_bf16")));
}

TEST(Elementwise, Scale) {
  Tensor a = r("ew_a_f32");
  Tensor out = Tensor::empty(a.shape(), DType::F32);
  cpu::scale(kTwoThreads, a, 0.37f, out);
  EXPECT_TRUE(same_bits(out, r("ew_scale")));
}

TEST(Elementwise, GatedResidualPerBatchGate) {
  Tensor x = r("gated_x").clone();
  cpu::add_gated(kTwoThreads, x, r("gated_y"), r("gated_gate"));
  EXPECT_TRUE(same_bits(x, r("gated_out")));
}

TEST(Elementwise, GatedResidualSharedGate) {
  Tensor x = r("gated_x").clone();
  Tensor y = r("gated_y").to(DType::F32);
  Tensor gate = r("gated_gate").reshape({2, 1000}).slice_rows(1, 2).reshape({1000}).clone();
  Tensor want = x.clone();
  auto w = want.mutable_data<float>();
  auto yv = y.data<float>();
  auto gv = gate.data<float>();
  for (int64_t i = 0; i < want.numel(); ++i) w[i] += yv[i] * gv[i % 1000];
  cpu::add_gated(kTwoThreads, x, y, gate);
  EXPECT_TRUE(same_bits(x, want));
}

TEST(Elementwise, ConvertF32Bf16RoundTrip) {
  Tensor v = r("cast_f32");
  Tensor b = Tensor::empty(v.shape(), DType::BF16);
  cpu::convert(kTwoThreads, v, b);
  EXPECT_TRUE(same_bits(b, r("cast_bf16")));
  Tensor back = Tensor::empty(v.shape(), DType::F32);
  cpu::convert(kTwoThreads, b, back);
  const uint16_t* bits = b.data<uint16_t>();
  const float* f = back.data<float>();
  for (int64_t i = 0; i < v.numel(); ++i)
    ASSERT_EQ(f32_to_bits(f[i]), uint32_t(bits[i]) << 16) << "at " << i;  // widening is exact
  // The raw entry points agree with the tensor ones.
  std::vector<uint16_t> raw(size_t(v.numel()));
  cpu::convert_f32_to_bf16(v.data<float>(), raw.data(), v.numel());
  EXPECT_EQ(std::memcmp(raw.data(), bits, raw.size() * 2), 0);
  std::vector<float> wide(raw.size());
  cpu::convert_bf16_to_f32(raw.data(), wide.data(), v.numel());
  EXPECT_EQ(std::memcmp(wide.data(), f, wide.size() * 4), 0);
}

TEST(Elementwise, ClampKeepsNan) {
  Tensor v = r("cast_f32");
  Tensor out = Tensor::empty(v.shape(), DType::F32);
  cpu::clamp(kTwoThreads, v, -1.0f, 1.0f, out);
  EXPECT_TRUE(same_bits(out, r("clamp_out")));
  EXPECT_THROW(cpu::clamp(kTwoThreads, v, 1.0f, -1.0f, out), Error);
}

TEST(Elementwise, RejectsBadOperands) {
  Tensor a = r("ew_a_f32");
  Tensor small = Tensor::empty({3}, DType::F32);
  Tensor out = Tensor::empty(a.shape(), DType::F32);
  EXPECT_THROW(cpu::add(kTwoThreads, a, small, out), Error);
  EXPECT_THROW(cpu::add(kTwoThreads, a, a, small), Error);
  Tensor x = r("gated_x").clone();
  EXPECT_THROW(cpu::add_gated(kTwoThreads, x, r("gated_y"), small), Error);
  Tensor xb = x.to(DType::BF16);
  EXPECT_THROW(cpu::add_gated(kTwoThreads, xb, r("gated_y"), r("gated_gate")), Error);
}

}  // namespace
}  // namespace kinema
