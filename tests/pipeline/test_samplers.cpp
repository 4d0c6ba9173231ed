#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "common/refdata.h"
#include "pipeline/noise.h"
#include "pipeline/sampler.h"

namespace kinema {
namespace {

std::string schedule_name(const char* kind, int steps, int shift) {
  return std::string("schedule_") + kind + "_" + std::to_string(steps) + "_" +
         std::to_string(shift);
}

TEST(Schedule, MatchesReference) {
  for (auto [steps, shift] : {std::pair{50, 5}, {50, 3}, {7, 8}}) {
    for (auto [kind, name] :
         {std::pair{SamplerKind::UniPC, "unipc"}, {SamplerKind::DpmPP2M, "dpm"}}) {
      Schedule s = make_schedule(kind, steps, shift);
      Tensor t = test::ref("pipeline", schedule_name(name, steps, shift) + "_t");
      Tensor sig = test::ref("pipeline", schedule_name(name, steps, shift) + "_s");
      ASSERT_EQ(t.numel(), steps);
      for (int i = 0; i < steps; ++i)
        EXPECT_EQ(s.timesteps[size_t(i)], t.data<int64_t>()[i]) << name << i;
      for (int i = 0; i <= steps; ++i)
        EXPECT_EQ(s.sigmas[size_t(i)], sig.data<float>()[i]) << name << i;
    }
  }
  // The spec's table: shift 5, 50 steps starts 999, 995, 991 and ends at 92.
  Schedule s = make_schedule(SamplerKind::UniPC, 50, 5.0);
  EXPECT_EQ(s.timesteps[0], 999);
  EXPECT_EQ(s.timesteps[2], 991);
  EXPECT_EQ(s.timesteps[49], 92);
}

// The distilled releases' schedule: the 1000-step grid's list, shifted, unrounded timesteps.
TEST(Schedule, DistilledListsMatchReference) {
  for (auto [steps, shift] : {std::pair{4, 5}, {4, 3}, {8, 8}, {3, 1}, {1, 5}}) {
    Schedule s = make_schedule(SamplerKind::LCM, steps, shift);
    Tensor t = test::ref("pipeline", schedule_name("lcm", steps, shift) + "_t");
    Tensor sig = test::ref("pipeline", schedule_name("lcm", steps, shift) + "_s");
    ASSERT_EQ(s.steps(), steps);
    for (int i = 0; i < steps; ++i)
      EXPECT_EQ(s.timesteps[size_t(i)], double(t.data<float>()[i])) << steps << " " << i;
    for (int i = 0; i <= steps; ++i)
      EXPECT_EQ(s.sigmas[size_t(i)], sig.data<float>()[i]) << steps << " " << i;
  }
  // lightx2v's Wan2.1 configs: denoising_step_list [1000, 750, 500, 250] with shift 5.
  EXPECT_EQ(distill_step_list(4), (std::vector<int>{1000, 750, 500, 250}));
  Schedule s = make_schedule(SamplerKind::LCM, 4, 5.0);
  EXPECT_EQ(s.timesteps[0], 1000.0);
  EXPECT_EQ(s.timesteps[1], 937.5);
  EXPECT_EQ(s.timesteps[3], 625.0);
  EXPECT_THROW(make_step_list_schedule({1000, 1000}, 5.0), Error);
  EXPECT_THROW(make_step_list_schedule({1001}, 5.0), Error);
  EXPECT_THROW(make_step_list_schedule({}, 5.0), Error);
}

TEST(Schedule, RejectsBadArguments) {
  EXPECT_THROW(make_schedule(SamplerKind::UniPC, 0, 5.0), Error);
  EXPECT_THROW(make_schedule(SamplerKind::UniPC, 10, -1.0), Error);
  EXPECT_THROW(sampler_from_name("ddim"), Error);
  EXPECT_EQ(sampler_from_name("dpm++"), SamplerKind::DpmPP2M);
  EXPECT_EQ(sampler_from_name("lcm"), SamplerKind::LCM);
}

void check_sampler(SamplerKind kind, const char* file) {
  const int steps = 6;
  Tensor x0 = test::ref("pipeline", "sampler_x0");
  Tensor vs = test::ref("pipeline", "sampler_v");
  Tensor want = test::ref("pipeline", file);
  const int64_t n = x0.numel();
  Schedule schedule = make_schedule(kind, steps, 5.0);
  auto sampler = make_sampler(kind, schedule);
  std::vector<float> x = x0.to_f32_vector();
  for (int i = 0; i < steps; ++i) {
    sampler->step(i, vs.data<float>() + i * n, x.data(), n);
    std::vector<float> expected(want.data<float>() + i * n, want.data<float>() + (i + 1) * n);
    // fp32 arithmetic in the same order; log/expm1 may differ from torch's by an ulp.
    ASSERT_TRUE(test::all_close(x, expected, {1e-5, 1e-5})) << file << " step " << i;
  }
}

TEST(Sampler, UniPCMatchesReference) { check_sampler(SamplerKind::UniPC, "sampler_unipc"); }
TEST(Sampler, DpmMatchesReference) { check_sampler(SamplerKind::DpmPP2M, "sampler_dpmpp"); }
TEST(Sampler, EulerMatchesReference) { check_sampler(SamplerKind::Euler, "sampler_euler"); }

// Re-noising: x0 = x - sigma v, then (1 - sigma') x0 + sigma' noise, x0 at the end.
TEST(Sampler, LcmMatchesReference) {
  Tensor x0 = test::ref("pipeline", "sampler_x0");
  Tensor vs = test::ref("pipeline", "sampler_v");
  Tensor noise = test::ref("pipeline", "lcm_noise");
  Tensor want = test::ref("pipeline", "sampler_lcm");
  const int64_t n = x0.numel();
  std::vector<int> asked;
  auto sampler = make_sampler(SamplerKind::LCM, make_schedule(SamplerKind::LCM, 4, 5.0),
                              [&](int step, float* out, int64_t count) {
                                ASSERT_EQ(count, n);
                                asked.push_back(step);
                                std::memcpy(out, noise.data<float>() + step * n, size_t(n) * 4);
                              });
  std::vector<float> x = x0.to_f32_vector();
  for (int i = 0; i < 4; ++i) {
    sampler->step(i, vs.data<float>() + i * n, x.data(), n);
    std::vector<float> expected(want.data<float>() + i * n, want.data<float>() + (i + 1) * n);
    ASSERT_TRUE(test::all_close(x, expected, {1e-6, 1e-6})) << "step " << i;
  }
  EXPECT_EQ(asked, (std::vector<int>{0, 1, 2}));  // no fresh noise after the last step
  EXPECT_THROW(make_sampler(SamplerKind::LCM, make_schedule(SamplerKind::LCM, 4, 5.0)), Error);
}

TEST(Noise, StreamsAreIndependentAndStreamZeroIsTheStartingNoise) {
  const ComputeContext c = ComputeContext::with_threads(2);
  Tensor a = gaussian_noise(c, {3, 50}, 9);
  Tensor b = gaussian_noise(c, {3, 50}, 9, 0);
  EXPECT_EQ(std::memcmp(a.raw(), b.raw(), a.nbytes()), 0);
  Tensor s1 = gaussian_noise(c, {3, 50}, 9, 1);
  EXPECT_NE(std::memcmp(a.raw(), s1.raw(), a.nbytes()), 0);
  std::vector<float> step0(150);
  seeded_step_noise(c, {3, 50}, 9)(0, step0.data(), 150);
  EXPECT_EQ(std::memcmp(step0.data(), s1.raw(), s1.nbytes()), 0);
}

TEST(Noise, PhiloxKnownAnswers) {
  // Random123's published test vectors for philox4x32_10.
  auto a = philox4x32_10({0, 0, 0, 0}, {0, 0});
  EXPECT_EQ(a, (std::array<uint32_t, 4>{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  auto b =
      philox4x32_10({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff});
  EXPECT_EQ(b, (std::array<uint32_t, 4>{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
}

TEST(Noise, MatchesDocumentedDefinition) {
  Tensor want = test::ref("pipeline", "noise_seed");
  Tensor got = gaussian_noise(ComputeContext::with_threads(1), {want.numel()}, 0x123456789ABCull);
  EXPECT_TRUE(test::all_close(got, want, {1e-6, 1e-6}));
}

TEST(Noise, IndependentOfThreadCountAndShape) {
  Tensor a = gaussian_noise(ComputeContext::with_threads(1), {16, 5, 6, 7}, 42);
  Tensor b = gaussian_noise(ComputeContext::with_threads(2), {16 * 5 * 6 * 7}, 42);
  ASSERT_EQ(a.nbytes(), b.nbytes());
  EXPECT_EQ(std::memcmp(a.raw(), b.raw(), a.nbytes()), 0);
  Tensor c = gaussian_noise(ComputeContext::with_threads(1), {16, 5, 6, 7}, 43);
  EXPECT_NE(std::memcmp(a.raw(), c.raw(), a.nbytes()), 0);
}

TEST(Noise, ReadsInjectedNoiseFiles) {
  Tensor want = test::ref("pipeline", "noise_injected");
  Tensor named = read_noise_file(test::ref_path("pipeline", "noise_named.safetensors"));
  EXPECT_TRUE(test::all_close(named, want, {0.0, 0.0}));
  Tensor single = read_noise_file(test::ref_path("pipeline", "noise_single.safetensors"));
  EXPECT_EQ(single.dtype(), DType::F32);
  EXPECT_TRUE(test::all_close(single, want, {0.0, 1e-2}));
  try {
    read_noise_file(test::ref_path("pipeline", "noise_two.safetensors"));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("noise_two.safetensors"), std::string::npos);
  }
}

TEST(Noise, IsStandardNormal) {
  Tensor t = gaussian_noise(ComputeContext::with_threads(2), {1 << 20}, 7);
  double sum = 0, sq = 0, within1 = 0;
  for (float v : t.to_f32_vector()) {
    sum += v;
    sq += double(v) * v;
    within1 += std::fabs(v) < 1.0f;
  }
  double n = double(t.numel());
  EXPECT_NEAR(sum / n, 0.0, 0.005);
  EXPECT_NEAR(sq / n, 1.0, 0.005);
  EXPECT_NEAR(within1 / n, 0.6827, 0.003);
}

}  // namespace
}  // namespace kinema
