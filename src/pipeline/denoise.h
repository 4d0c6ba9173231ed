// The denoise loop of a generation: for each step of a schedule, the model's velocities for the
// prompt (and, with guidance, the negative prompt), classifier-free guidance, a step cache, and
// the sampler's update. Model-agnostic: the model is a function, so the loop is tested with
// counting fakes as well as with the Wan DiT.
#pragma once

#include <functional>

#include "core/tensor.h"
#include "pipeline/sampler.h"
#include "pipeline/schedule.h"
#include "pipeline/step_cache.h"

namespace kinema {

// The model's velocity for sample x at `timestep`, for pass 0 (the prompt) or 1 (the negative
// prompt): [C, T, H, W] f32 like x.
using VelocityFn = std::function<Tensor(const Tensor& x, double timestep, int pass)>;

// Guidance 1 is exactly the prompt's velocity: the negative prompt's pass is not run and its
// text need not be encoded.
bool uses_negative_prompt(float guidance);

struct DenoiseSettings {
  SamplerKind sampler = SamplerKind::UniPC;
  Schedule schedule;
  float guidance = 5.0f;
  StepNoise noise;             // the re-noising sampler's fresh noise (seeded_step_noise)
  StepCache* cache = nullptr;  // optional
};

struct DenoiseStats {
  int forwards = 0;       // model passes run
  int skipped_steps = 0;  // steps the cache answered
};

struct DenoiseHooks {
  std::function<void(int done, int total)> progress;  // after each step
  std::function<void()> check_cancel;                 // between passes and steps; throws to stop
  std::function<void(int step, const Tensor& v)> velocity;  // the guided velocity, for checks
  std::function<void(int step, const Tensor& x)> sample;    // the sample after each update
};

// x: the starting noise, updated in place to the final latent.
DenoiseStats denoise(Tensor& x, const DenoiseSettings& settings, const VelocityFn& velocity,
                     const DenoiseHooks& hooks = {});

}  // namespace kinema
