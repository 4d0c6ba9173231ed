// Flow-matching sigma schedules with shift, as the official Wan2.1 code builds them
// (wan-spec section 6.2): float64 arithmetic, integer timesteps by truncation, fp32 sigmas.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace kinema {

enum class SamplerKind { UniPC, DpmPP2M, Euler };

// Parses "unipc", "dpm++" (or "dpmpp"), "euler"; throws naming the valid choices.
SamplerKind sampler_from_name(std::string_view name);
std::string_view sampler_name(SamplerKind kind);

struct Schedule {
  std::vector<int64_t> timesteps;  // [steps]: int64(1000 * sigma), what the DiT sees
  std::vector<float> sigmas;       // [steps + 1], the last one 0: what the solver uses
  int steps() const { return int(timesteps.size()); }
};

// UniPC and Euler start from fp32(0.999) (the top of the 1000-step training grid); DPM++
// starts from sigma 1 exactly, as the reference's two code paths do.
Schedule make_schedule(SamplerKind kind, int steps, double shift);

}  // namespace kinema
