#include "pipeline/schedule.h"

#include "core/error.h"

namespace kinema {

SamplerKind sampler_from_name(std::string_view name) {
  if (name == "unipc") return SamplerKind::UniPC;
  if (name == "dpm++" || name == "dpmpp" || name == "dpm++2m") return SamplerKind::DpmPP2M;
  if (name == "euler") return SamplerKind::Euler;
  fail("unknown sampler '", name, "' (expected one of: unipc, dpm++, euler)");
}

std::string_view sampler_name(SamplerKind kind) {
  switch (kind) {
    case SamplerKind::UniPC: return "unipc";
    case SamplerKind::DpmPP2M: return "dpm++";
    case SamplerKind::Euler: return "euler";
  }
  return "?";
}

Schedule make_schedule(SamplerKind kind, int steps, double shift) {
  if (steps < 1) fail("steps must be at least 1, got ", steps);
  if (!(shift > 0.0)) fail("shift must be positive, got ", shift);
  // numpy.linspace(start, 0, steps + 1)[:steps]: start + i * step with step = -start / steps.
  double start = kind == SamplerKind::DpmPP2M ? 1.0 : double(0.999f);
  double step = (0.0 - start) / double(steps);
  Schedule s;
  for (int i = 0; i < steps; ++i) {
    double base = start + double(i) * step;
    double sigma = shift * base / (1.0 + (shift - 1.0) * base);
    s.timesteps.push_back(int64_t(sigma * 1000.0));
    s.sigmas.push_back(float(sigma));
  }
  s.sigmas.push_back(0.0f);
  return s;
}

}  // namespace kinema
