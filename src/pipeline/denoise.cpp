#include "pipeline/denoise.h"

#include "core/error.h"

namespace kinema {

bool uses_negative_prompt(float guidance) { return guidance != 1.0f; }

DenoiseStats denoise(Tensor& x, const DenoiseSettings& s, const VelocityFn& velocity,
                     const DenoiseHooks& hooks) {
  if (x.dtype() != DType::F32) fail("denoise: the sample must be f32");
  const int steps = s.schedule.steps();
  const bool guided = uses_negative_prompt(s.guidance);
  const int passes = guided ? 2 : 1;
  auto sampler = make_sampler(s.sampler, s.schedule, s.noise);
  const int64_t n = x.numel();
  DenoiseStats stats;
  std::vector<Tensor> out(static_cast<size_t>(passes));
  Tensor v = guided ? Tensor::empty(x.shape(), DType::F32) : Tensor();
  for (int i = 0; i < steps; ++i) {
    const double t = s.schedule.timesteps[size_t(i)];
    if (s.cache && s.cache->skip(i, x)) {
      for (int p = 0; p < passes; ++p) {
        out[size_t(p)] = Tensor::empty(x.shape(), DType::F32);
        s.cache->reuse(p, x, out[size_t(p)]);
      }
      ++stats.skipped_steps;
    } else {
      for (int p = 0; p < passes; ++p) {
        out[size_t(p)] = velocity(x, t, p);
        if (out[size_t(p)].shape() != x.shape() || out[size_t(p)].dtype() != DType::F32)
          fail("denoise: the model returned ", out[size_t(p)].shape().str(), " for a sample ",
               x.shape().str());
        ++stats.forwards;
        if (s.cache) s.cache->store(i, p, x, out[size_t(p)]);
        if (hooks.check_cancel) hooks.check_cancel();
      }
    }
    if (guided)
      apply_guidance(out[0].data<float>(), out[1].data<float>(), s.guidance,
                     v.mutable_data<float>(), n);
    const Tensor& guided_v = guided ? v : out[0];
    if (hooks.velocity) hooks.velocity(i, guided_v);
    sampler->step(i, guided_v.data<float>(), x.mutable_data<float>(), n);
    if (hooks.sample) hooks.sample(i, x);
    if (hooks.progress) hooks.progress(i + 1, steps);
    if (hooks.check_cancel) hooks.check_cancel();
  }
  return stats;
}

}  // namespace kinema
