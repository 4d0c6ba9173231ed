// Step caching: skip a sampler step's DiT forwards when the model's output is predicted to have
// barely changed, and reuse what the last computed step did to its input instead
// (docs/lora-and-distillation.md). For undistilled runs (tens of steps, guidance); a distilled
// run's few steps each change the sample a lot, so caching is off there (is_distilled_run).
//
// The denoise loop (denoise.h) asks skip() before each step; a computed step's outputs are given
// to store(), a skipped step's come from reuse().
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.h"
#include "pipeline/schedule.h"

namespace kinema {

class StepCache {
 public:
  virtual ~StepCache() = default;
  // Before step `step`'s forwards, with its input x (the sample at sigma_step): true when the
  // step is skipped, its outputs then coming from reuse(). Steps come in order 0, 1, ...
  virtual bool skip(int step, const Tensor& x) = 0;
  // The output of pass `pass` (0: the prompt, 1: the negative prompt) for a skipped step.
  virtual void reuse(int pass, const Tensor& x, Tensor& v) const = 0;
  // After pass `pass`'s forward at a computed step: its input and output.
  virtual void store(int step, int pass, const Tensor& x, const Tensor& v) = 0;
  virtual int skipped() const = 0;
  virtual std::string describe() const = 0;  // "easycache:0.05"
};

// EasyCache (Zhou et al. 2025, H-EmbodVis/EasyCache): a runtime-adaptive cache needing no
// calibration. With the L1 means |.| over the whole latent:
//   k = |v_c - v_c'| / |x_c - x_c'|  from the last two computed steps c' < c (the model's
//       transformation rate),
//   at step i: E += k * |x_i - x_{i-1}| / |v_c|; E < threshold: skip, v_i = x_i + (v_c - x_c)
//       for each pass; else compute and set E = 0.
// The first `warmup` steps and the last are always computed (k needs two computed steps).
struct EasyCacheOptions {
  double threshold = 0.05;  // the reference implementation's default for Wan
  int warmup = -1;          // -1: max(2, steps / 10)
};

class EasyCache : public StepCache {
 public:
  EasyCache(int steps, EasyCacheOptions options);
  bool skip(int step, const Tensor& x) override;
  void reuse(int pass, const Tensor& x, Tensor& v) const override;
  void store(int step, int pass, const Tensor& x, const Tensor& v) override;
  int skipped() const override { return skipped_; }
  std::string describe() const override;

  double accumulated() const { return accumulated_; }  // E, for tests
  double rate() const { return rate_; }                // k (0 until known)

 private:
  int steps_, warmup_;
  double threshold_;
  std::vector<float> previous_input_;                    // x_{i-1}
  std::vector<float> computed_input_, computed_output_;  // x_c, v_c (pass 0)
  std::vector<std::vector<float>> transform_;            // per pass: v_c - x_c
  double rate_ = 0, output_norm_ = 0, accumulated_ = 0, input_change_ = 0;
  int skipped_ = 0;
};

// "easycache" or "easycache:THRESHOLD" (--cache NAME[:THRESHOLD]); throws naming the choices.
struct CacheSpec {
  std::string name;  // "easycache"
  double threshold = 0.05;
};
CacheSpec parse_cache_spec(std::string_view text);
std::unique_ptr<StepCache> make_step_cache(const CacheSpec& spec, int steps);

// A run of a step-distilled model: the re-noising sampler, or guidance 1 with at most 10 steps.
// Step caching is turned off for these.
bool is_distilled_run(int steps, float guidance, SamplerKind sampler);

}  // namespace kinema
