// The denoise loop and EasyCache against the Python reference (tests/reference/step_cache.py),
// with a smooth fake model: one pass per step at guidance 1, two otherwise, and the same skipped
// steps and final sample with the cache on.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "common/refdata.h"
#include "pipeline/denoise.h"
#include "pipeline/noise.h"

namespace kinema {
namespace {

// The same expression as ref_samplers.py's fake_model, in f32.
Tensor fake_model(const Tensor& x, double t, int pass) {
  const float a = float(0.3 + 0.1 * pass);
  const float r = float(t / 1000.0);
  Tensor v = Tensor::empty(x.shape(), DType::F32);
  const float* xp = x.data<float>();
  float* vp = v.mutable_data<float>();
  for (int64_t i = 0; i < x.numel(); ++i)
    vp[i] = (a * xp[i]) * r - 0.2f * (1.0f - r) + 0.05f * (xp[i] * xp[i]);
  return v;
}

nlohmann::json runs() {
  std::ifstream in(test::ref_path("pipeline", "denoise_runs.json"));
  return nlohmann::json::parse(in);
}

struct DenoiseRun {
  const char* name;
  float guidance;
  double threshold;  // < 0: no cache
};

TEST(Denoise, MatchesReferenceWithAndWithoutEasyCache) {
  const nlohmann::json want = runs();
  for (const DenoiseRun& r : {DenoiseRun{"g5", 5.0f, -1}, DenoiseRun{"g5_cache05", 5.0f, 0.05},
                              DenoiseRun{"g5_cache20", 5.0f, 0.2}, DenoiseRun{"g1", 1.0f, -1}}) {
    Tensor x = test::ref("pipeline", "denoise_x0").clone();
    DenoiseSettings s;
    s.sampler = SamplerKind::UniPC;
    s.schedule = make_schedule(SamplerKind::UniPC, 20, 3.0);
    s.guidance = r.guidance;
    std::unique_ptr<StepCache> cache;
    if (r.threshold >= 0) cache = make_step_cache(CacheSpec{"easycache", r.threshold}, 20);
    s.cache = cache.get();
    int calls = 0, progress = 0;
    DenoiseStats stats = denoise(
        x, s,
        [&](const Tensor& sample, double t, int pass) {
          ++calls;
          EXPECT_TRUE(pass == 0 || r.guidance != 1.0f) << "negative pass at guidance 1";
          return fake_model(sample, t, pass);
        },
        DenoiseHooks{[&](int done, int total) {
                       EXPECT_EQ(done, ++progress);
                       EXPECT_EQ(total, 20);
                     },
                     {},
                     {},
                     {}});
    EXPECT_EQ(stats.forwards, want[r.name]["forwards"].get<int>()) << r.name;
    EXPECT_EQ(stats.skipped_steps, want[r.name]["skipped"].get<int>()) << r.name;
    EXPECT_EQ(calls, stats.forwards);
    EXPECT_TRUE(
        test::all_close(x, test::ref("pipeline", str_cat("denoise_", r.name)), {1e-5, 1e-5}))
        << r.name;
  }
}

TEST(Denoise, DistilledRunIsOnePassPerStepWithFreshNoise) {
  Tensor x = test::ref("pipeline", "denoise_x0").clone();
  Tensor noise = test::ref("pipeline", "lcm_noise");
  DenoiseSettings s;
  s.sampler = SamplerKind::LCM;
  s.schedule = make_schedule(SamplerKind::LCM, 4, 5.0);
  s.guidance = 1.0f;
  s.noise = [&](int step, float* out, int64_t n) {
    std::memcpy(out, noise.data<float>() + step * n, size_t(n) * 4);
  };
  std::vector<double> seen;
  DenoiseStats stats = denoise(x, s, [&](const Tensor& sample, double t, int pass) {
    seen.push_back(t);
    return fake_model(sample, t, pass);
  });
  EXPECT_EQ(stats.forwards, 4);
  EXPECT_EQ(seen, (std::vector<double>{1000.0, 937.5, double(0.8333333f * 1000.0f), 625.0}));
  EXPECT_TRUE(test::all_close(x, test::ref("pipeline", "denoise_lcm"), {1e-5, 1e-5}));
}

TEST(Denoise, CancelStopsBetweenPasses) {
  Tensor x = test::ref("pipeline", "denoise_x0").clone();
  DenoiseSettings s;
  s.schedule = make_schedule(SamplerKind::UniPC, 20, 3.0);
  int calls = 0;
  DenoiseHooks hooks;
  hooks.check_cancel = [&] {
    if (calls == 3) fail("stop");
  };
  EXPECT_THROW(denoise(
                   x, s,
                   [&](const Tensor& sample, double t, int pass) {
                     ++calls;
                     return fake_model(sample, t, pass);
                   },
                   hooks),
               Error);
  EXPECT_EQ(calls, 3);
}

TEST(StepCache, SpecsAndDistilledRuns) {
  CacheSpec a = parse_cache_spec("easycache");
  EXPECT_EQ(a.name, "easycache");
  EXPECT_DOUBLE_EQ(a.threshold, 0.05);
  EXPECT_DOUBLE_EQ(parse_cache_spec("easycache:0.1").threshold, 0.1);
  EXPECT_THROW(parse_cache_spec("teacache"), Error);
  EXPECT_THROW(parse_cache_spec("easycache:fast"), Error);
  EXPECT_THROW(parse_cache_spec("easycache:-1"), Error);
  EXPECT_EQ(make_step_cache(a, 50)->describe(), "easycache:0.05");
  EXPECT_TRUE(is_distilled_run(4, 1.0f, SamplerKind::LCM));
  EXPECT_TRUE(is_distilled_run(30, 5.0f, SamplerKind::LCM));
  EXPECT_TRUE(is_distilled_run(8, 1.0f, SamplerKind::Euler));
  EXPECT_FALSE(is_distilled_run(20, 1.0f, SamplerKind::UniPC));
  EXPECT_FALSE(is_distilled_run(4, 5.0f, SamplerKind::UniPC));
  EXPECT_FALSE(uses_negative_prompt(1.0f));
  EXPECT_TRUE(uses_negative_prompt(1.5f));
}

// Warm-up and the last step are always computed; with a huge threshold every other step is
// answered from the cache.
TEST(StepCache, WarmupAndLastStepAreComputed) {
  Tensor x = test::ref("pipeline", "denoise_x0").clone();
  DenoiseSettings s;
  s.schedule = make_schedule(SamplerKind::UniPC, 20, 3.0);
  EasyCache cache(20, {1e9, 3});
  s.cache = &cache;
  std::vector<int> computed;
  int step = 0;
  DenoiseHooks hooks;
  hooks.progress = [&](int done, int) { step = done; };
  denoise(
      x, s,
      [&](const Tensor& sample, double t, int pass) {
        if (pass == 0) computed.push_back(step);
        return fake_model(sample, t, pass);
      },
      hooks);
  EXPECT_EQ(computed, (std::vector<int>{0, 1, 2, 19}));
  EXPECT_EQ(cache.skipped(), 16);
}

}  // namespace
}  // namespace kinema
