// Normalisations against PyTorch transcriptions of the Wan / umT5 modules
// (tests/kernels/ref_norm.py). Runs once per instruction-set level.
#include <gtest/gtest.h>

#include <string>

#include "common/refdata.h"
#include "kernels/cpu/norm.h"
#include "nnops_test_util.h"

namespace kinema {
namespace {

using cpu::NormRounding;
using test::ref;

const ComputeContext kTwoThreads{2};
constexpr float kEps = 1e-6f;

Tensor r(const std::string& name) { return ref("kernels", name); }

// f32 LayerNorm outputs are O(1): torch's Welford statistics and our two-pass ones differ by a
// few f32 ulp of the mean and variance.
constexpr test::Tolerance kLnTol{2e-6, 2e-6};

TEST(LayerNorm, PlainAndAffineF32) {
  for (const char* name : {"ln_a", "ln_b"}) {
    std::string n = name;
    Tensor x = r(n + "_x");
    Tensor out = Tensor::empty(x.shape(), DType::F32);
    cpu::layer_norm(kTwoThreads, x, Tensor(), Tensor(), kEps, out);
    EXPECT_TRUE(test::all_close(out, r(n + "_plain"), kLnTol)) << name;
    cpu::layer_norm(kTwoThreads, x, r(n + "_w"), r(n + "_b"), kEps, out);
    EXPECT_TRUE(test::all_close(out, r(n + "_affine"), kLnTol)) << name;
    Tensor inplace = x.clone();  // out may alias x
    cpu::layer_norm(kTwoThreads, inplace, Tensor(), Tensor(), kEps, inplace);
    EXPECT_TRUE(test::all_close(inplace, r(n + "_plain"), kLnTol)) << name;
  }
}

TEST(LayerNorm, Bf16StreamRoundsOnce) {
  Tensor x = r("ln_bf16_x");
  Tensor out = Tensor::empty(x.shape(), DType::BF16);
  cpu::layer_norm(kTwoThreads, x, Tensor(), Tensor(), kEps, out);
  EXPECT_TRUE(test::bf16_close(out, r("ln_bf16_out"), 1, 0, 0.99));
}

TEST(LayerNorm, ModulateF32PerBatch) {
  Tensor x = r("mod_x");
  Tensor out = Tensor::empty(x.shape(), DType::F32);
  cpu::ln_modulate(kTwoThreads, x, r("mod_scale"), r("mod_shift"), kEps, NormRounding::None, out);
  EXPECT_TRUE(test::all_close(out, r("mod_out"), {4e-6, 4e-6}));
  // bf16 output (the next GEMM's input) is the f32 result rounded once.
  Tensor out_bf16 = Tensor::empty(x.shape(), DType::BF16);
  cpu::ln_modulate(kTwoThreads, x, r("mod_scale"), r("mod_shift"), kEps, NormRounding::None,
                   out_bf16);
  EXPECT_TRUE(test::bf16_close(out_bf16, r("mod_out").to(DType::BF16), 1, 0, 0.99));
}

TEST(LayerNorm, ModulateBlockZeroRoundsNormToBf16) {
  Tensor x = r("mod0_x");
  Tensor out = Tensor::empty(x.shape(), DType::F32);
  cpu::ln_modulate(kTwoThreads, x, r("mod_scale"), r("mod_shift"), kEps, NormRounding::Bf16, out);
  // A statistic 1 ulp off can flip a rounding of n: one bf16 step of n (|n| < 8, so 2^-5 at
  // most) times (1 + scale) ~ 1.6. Nearly all elements match to f32 precision.
  Tensor want = r("mod0_out");
  EXPECT_TRUE(test::all_close(out, want, {0.05, 0}));
  auto g = out.to_f32_vector(), w = want.to_f32_vector();
  size_t close = 0;
  for (size_t i = 0; i < g.size(); ++i)
    close += std::fabs(g[i] - w[i]) <= 4e-6 + 4e-6 * std::fabs(w[i]);
  EXPECT_GE(double(close) / double(g.size()), 0.99);
  // Without the rounding the result differs visibly: the option matters.
  Tensor unrounded = Tensor::empty(x.shape(), DType::F32);
  cpu::ln_modulate(kTwoThreads, x, r("mod_scale"), r("mod_shift"), kEps, NormRounding::None,
                   unrounded);
  EXPECT_FALSE(test::all_close(unrounded, want, {1e-4, 0}));
}

TEST(LayerNorm, SharedModulationVector) {
  // A [D] scale applies to every row: the same as the per-batch form with equal rows.
  Tensor x = r("mod_x");
  const int64_t d = x.dim(-1);
  Tensor scale = r("mod_scale").reshape({2, d}).slice_rows(0, 1).reshape({d}).clone();
  Tensor shift = r("mod_shift").reshape({2, d}).slice_rows(0, 1).reshape({d}).clone();
  Tensor x0 = x.slice_rows(0, 1);
  Tensor got = Tensor::empty(x0.shape(), DType::F32);
  cpu::ln_modulate(kTwoThreads, x0, scale, shift, kEps, NormRounding::None, got);
  Tensor want_full = Tensor::empty(x.shape(), DType::F32);
  cpu::ln_modulate(kTwoThreads, x, r("mod_scale"), r("mod_shift"), kEps, NormRounding::None,
                   want_full);
  EXPECT_TRUE(test::all_close(got, want_full.slice_rows(0, 1), {0, 0}));
}

TEST(RmsNorm, T5Bf16) {
  Tensor x = r("t5_x");
  Tensor out = Tensor::empty(x.shape(), DType::BF16);
  cpu::rms_norm(kTwoThreads, x, r("t5_w"), kEps, NormRounding::Bf16, out);
  // Two roundings (n, then n * w): a 1-ulp flip of n moves the result by at most one step.
  EXPECT_TRUE(test::bf16_close(out, r("t5_out"), 1, 0, 0.99));
}

TEST(RmsNorm, WanQkAcrossHeads) {
  Tensor x = r("qk_x");
  Tensor out = Tensor::empty(x.shape(), DType::F32);
  cpu::rms_norm(kTwoThreads, x, r("qk_w"), kEps, NormRounding::Bf16, out);
  // n is rounded to bf16 (relative step 2^-8) and then multiplied in f32: equal to f32 precision
  // unless a rounding of n flipped.
  Tensor want = r("qk_out");
  EXPECT_TRUE(test::all_close(out, want, {0, 1.0 / 128}));
  auto g = out.to_f32_vector(), w = want.to_f32_vector();
  size_t exact = 0;
  for (size_t i = 0; i < g.size(); ++i) exact += g[i] == w[i];
  EXPECT_GE(double(exact) / double(g.size()), 0.99);
}

TEST(RmsNorm, PlainF32) {
  Tensor x = r("rms_f32_x");
  Tensor out = Tensor::empty(x.shape(), DType::F32);
  cpu::rms_norm(kTwoThreads, x, r("rms_f32_w"), kEps, NormRounding::None, out);
  EXPECT_TRUE(test::all_close(out, r("rms_f32_out"), {1e-6, 2e-6}));
}

TEST(ChannelRmsNorm, VaeNormAndFusedSilu) {
  for (const char* name : {"vae_a", "vae_b"}) {
    std::string n = name;
    Tensor x = r(n + "_x");
    Tensor gamma = r(n + "_gamma");
    gamma = gamma.reshape({gamma.numel()});
    Tensor out = Tensor::empty(x.shape(), DType::F32);
    cpu::channel_rms_norm(kTwoThreads, x, gamma, cpu::ChannelNormAct::None, out);
    EXPECT_TRUE(test::all_close(out, r(n + "_out"), {1e-6, 2e-6})) << name;
    cpu::channel_rms_norm(kTwoThreads, x, gamma, cpu::ChannelNormAct::Silu, out);
    EXPECT_TRUE(test::all_close(out, r(n + "_silu"), {1e-6, 2e-6})) << name;
    Tensor inplace = x.clone();
    cpu::channel_rms_norm(kTwoThreads, inplace, gamma, cpu::ChannelNormAct::Silu, inplace);
    EXPECT_TRUE(test::all_close(inplace, r(n + "_silu"), {1e-6, 2e-6})) << name;
  }
}

TEST(Norm, RejectsBadOperands) {
  Tensor x = r("ln_a_x");
  Tensor out = Tensor::empty(x.shape(), DType::F32);
  EXPECT_THROW(cpu::layer_norm(kTwoThreads, x, r("ln_a_w"), Tensor(), kEps, out), Error);
  EXPECT_THROW(cpu::layer_norm(kTwoThreads, x, r("ln_b_w"), r("ln_b_b"), kEps, out), Error);
  EXPECT_THROW(
      cpu::rms_norm(kTwoThreads, x, r("rms_f32_w").to(DType::I32), kEps, NormRounding::None, out),
      Error);
  Tensor small = Tensor::empty({2}, DType::F32);
  EXPECT_THROW(cpu::ln_modulate(kTwoThreads, x, small, small, kEps, NormRounding::None, out),
               Error);
  Tensor gamma = Tensor::empty({5}, DType::F32);
  EXPECT_THROW(
      cpu::channel_rms_norm(kTwoThreads, r("vae_a_x"), gamma, cpu::ChannelNormAct::None, out),
      Error);
}

}  // namespace
}  // namespace kinema
