// Flow-matching solvers over a Schedule (wan-spec sections 6.3-6.5). The model predicts the
// velocity v; a step maps the sample at sigma_i to the sample at sigma_{i+1}. The arithmetic
// follows the reference's fp32 order of operations: scalar coefficients first, then
// ((ratio * x) - (c1 * m0)) - (c2 * res).
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "core/parallel.h"
#include "core/shape.h"
#include "pipeline/schedule.h"

namespace kinema {

class Sampler {
 public:
  virtual ~Sampler() = default;
  // x: [n] the sample at sigma_i, updated in place to sigma_{i+1}; v: [n] guided velocity.
  // Steps must be taken in order i = 0, 1, ..., steps - 1.
  virtual void step(int i, const float* v, float* x, int64_t n) = 0;
};

// Fresh Gaussian noise for a re-noising sampler: fills out[0, n) with step `step`'s noise.
using StepNoise = std::function<void(int step, float* out, int64_t n)>;

// The re-noising sampler (LCM: lightx2v's step-distill scheduler, ComfyUI's "lcm" on a flow
// model) takes the data prediction x0 = x - sigma_i v and re-noises it to the next sigma:
// x = (1 - sigma_{i+1}) x0 + sigma_{i+1} noise_i, and x = x0 after the last step. It needs
// `noise`; the other samplers ignore it.
std::unique_ptr<Sampler> make_sampler(SamplerKind kind, const Schedule& schedule,
                                      StepNoise noise = {});

// A generation's re-noising noise: step i draws gaussian_noise(shape, seed, stream i + 1), so a
// seed gives the same video on every machine (noise.h).
StepNoise seeded_step_noise(const ComputeContext& ctx, const Shape& shape, uint64_t seed);

// Classifier-free guidance: out = uncond + g * (cond - uncond), in fp32.
void apply_guidance(const float* cond, const float* uncond, float guidance, float* out, int64_t n);

}  // namespace kinema
