// Flow-matching solvers over a Schedule (wan-spec sections 6.3-6.5). The model predicts the
// velocity v; a step maps the sample at sigma_i to the sample at sigma_{i+1}. The arithmetic
// follows the reference's fp32 order of operations: scalar coefficients first, then
// ((ratio * x) - (c1 * m0)) - (c2 * res).
#pragma once

#include <memory>
#include <vector>

#include "pipeline/schedule.h"

namespace kinema {

class Sampler {
 public:
  virtual ~Sampler() = default;
  // x: [n] the sample at sigma_i, updated in place to sigma_{i+1}; v: [n] guided velocity.
  // Steps must be taken in order i = 0, 1, ..., steps - 1.
  virtual void step(int i, const float* v, float* x, int64_t n) = 0;
};

std::unique_ptr<Sampler> make_sampler(SamplerKind kind, const Schedule& schedule);

// Classifier-free guidance: out = uncond + g * (cond - uncond), in fp32.
void apply_guidance(const float* cond, const float* uncond, float guidance, float* out, int64_t n);

}  // namespace kinema
