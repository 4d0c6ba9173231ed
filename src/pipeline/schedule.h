// Flow-matching sigma schedules with shift, as the official Wan2.1 code builds them
// (wan-spec section 6.2): float64 arithmetic, integer timesteps by truncation, fp32 sigmas. And
// the schedule of the step-distilled releases (docs/lora-and-distillation.md): a list of
// timesteps on the 1000-step grid, shifted, fed to the DiT as 1000 * sigma without truncation.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace kinema {

// LCM is the re-noising few-step sampler of the distilled releases (sampler.h).
enum class SamplerKind { UniPC, DpmPP2M, Euler, LCM };

// Parses "unipc", "dpm++" (or "dpmpp"), "euler", "lcm"; throws naming the valid choices.
SamplerKind sampler_from_name(std::string_view name);
std::string_view sampler_name(SamplerKind kind);

struct Schedule {
  std::vector<double> timesteps;  // [steps]: what the DiT sees (int64(1000 * sigma) for Wan's)
  std::vector<float> sigmas;      // [steps + 1], the last one 0: what the solver uses
  int steps() const { return int(timesteps.size()); }
};

// UniPC and Euler start from fp32(0.999) (the top of the 1000-step training grid); DPM++
// starts from sigma 1 exactly, as the reference's two code paths do. LCM uses the distilled
// releases' list, make_step_list_schedule(distill_step_list(steps), shift).
Schedule make_schedule(SamplerKind kind, int steps, double shift);

// The grid timesteps of an n-step distilled run: 1000 - floor(k * 1000 / n), k = 0..n-1
// ([1000, 750, 500, 250] for 4: lightx2v's denoising_step_list, and the sigmas ComfyUI's
// "simple" scheduler takes from a flow model's 1000-entry table).
std::vector<int> distill_step_list(int steps);

// sigma_k = shift * s / (1 + (shift - 1) * s) with s = grid_k / 1000, in float64, stored as f32;
// the DiT sees the f32 product sigma_k * 1000 (937.5 for grid 750 at shift 5). The grid must be
// decreasing, within 1..1000.
Schedule make_step_list_schedule(const std::vector<int>& grid, double shift);

}  // namespace kinema
