#include "pipeline/schedule.h"

#include "core/error.h"

namespace kinema {

SamplerKind sampler_from_name(std::string_view name) {
  if (name == "unipc") return SamplerKind::UniPC;
  if (name == "dpm++" || name == "dpmpp" || name == "dpm++2m") return SamplerKind::DpmPP2M;
  if (name == "euler") return SamplerKind::Euler;
  if (name == "lcm") return SamplerKind::LCM;
  fail("unknown sampler '", name, "' (expected one of: unipc, dpm++, euler, lcm)");
}

std::string_view sampler_name(SamplerKind kind) {
  switch (kind) {
    case SamplerKind::UniPC: return "unipc";
    case SamplerKind::DpmPP2M: return "dpm++";
    case SamplerKind::Euler: return "euler";
    case SamplerKind::LCM: return "lcm";
  }
  return "?";
}

Schedule make_schedule(SamplerKind kind, int steps, double shift) {
  if (steps < 1) fail("steps must be at least 1, got ", steps);
  if (!(shift > 0.0)) fail("shift must be positive, got ", shift);
  if (kind == SamplerKind::LCM) return make_step_list_schedule(distill_step_list(steps), shift);
  // numpy.linspace(start, 0, steps + 1)[:steps]: start + i * step with step = -start / steps.
  double start = kind == SamplerKind::DpmPP2M ? 1.0 : double(0.999f);
  double step = (0.0 - start) / double(steps);
  Schedule s;
  for (int i = 0; i < steps; ++i) {
    double base = start + double(i) * step;
    double sigma = shift * base / (1.0 + (shift - 1.0) * base);
    s.timesteps.push_back(double(int64_t(sigma * 1000.0)));
    s.sigmas.push_back(float(sigma));
  }
  s.sigmas.push_back(0.0f);
  return s;
}

}  // namespace kinema

namespace kinema {

std::vector<int> distill_step_list(int steps) {
  if (steps < 1 || steps > 1000) fail("steps must be 1 to 1000, got ", steps);
  std::vector<int> grid;
  for (int k = 0; k < steps; ++k) grid.push_back(1000 - int(int64_t(k) * 1000 / steps));
  return grid;
}

Schedule make_step_list_schedule(const std::vector<int>& grid, double shift) {
  if (grid.empty()) fail("the timestep list is empty");
  if (!(shift > 0.0)) fail("shift must be positive, got ", shift);
  Schedule s;
  for (size_t k = 0; k < grid.size(); ++k) {
    if (grid[k] < 1 || grid[k] > 1000 || (k > 0 && grid[k] >= grid[k - 1]))
      fail("timestep list: expected decreasing values within 1..1000, got ", grid[k],
           k > 0 ? str_cat(" after ", grid[k - 1]) : std::string());
    const double base = double(grid[k]) / 1000.0;
    const float sigma = float(shift * base / (1.0 + (shift - 1.0) * base));
    s.sigmas.push_back(sigma);
    s.timesteps.push_back(double(sigma * 1000.0f));
  }
  s.sigmas.push_back(0.0f);
  return s;
}

}  // namespace kinema
