#include "pipeline/step_cache.h"

#include <charconv>
#include <cmath>

#include "core/error.h"

namespace kinema {
namespace {

// Mean absolute difference |a - b| (double sums), or |a| when b is null.
double mean_abs(const float* a, const float* b, int64_t n) {
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::fabs(double(a[i]) - (b ? double(b[i]) : 0.0));
  return n > 0 ? sum / double(n) : 0.0;
}

std::vector<float> copy_of(const Tensor& t) {
  const float* p = t.data<float>();
  return std::vector<float>(p, p + t.numel());
}

void check_f32(const Tensor& t, const char* what) {
  if (t.dtype() != DType::F32) fail("step cache: ", what, " must be f32");
}

}  // namespace

EasyCache::EasyCache(int steps, EasyCacheOptions options)
    : steps_(steps),
      warmup_(options.warmup >= 0 ? options.warmup : std::max(2, steps / 10)),
      threshold_(options.threshold) {
  if (!(threshold_ >= 0) || !std::isfinite(threshold_))
    fail("easycache threshold must be a non-negative number, got ", threshold_);
  transform_.resize(2);
}

bool EasyCache::skip(int step, const Tensor& x) {
  check_f32(x, "the sample");
  const int64_t n = x.numel();
  const float* xp = x.data<float>();
  input_change_ =
      previous_input_.size() == size_t(n) ? mean_abs(xp, previous_input_.data(), n) : 0.0;
  previous_input_.assign(xp, xp + n);
  const bool must_compute = step < warmup_ || step >= steps_ - 1 || rate_ <= 0 ||
                            output_norm_ <= 0 || transform_[0].size() != size_t(n);
  if (must_compute) {
    accumulated_ = 0;
    return false;
  }
  accumulated_ += rate_ * input_change_ / output_norm_;
  if (accumulated_ < threshold_) {
    ++skipped_;
    return true;
  }
  accumulated_ = 0;
  return false;
}

void EasyCache::reuse(int pass, const Tensor& x, Tensor& v) const {
  KINEMA_CHECK(pass >= 0 && pass < 2 && transform_[size_t(pass)].size() == size_t(x.numel()));
  check_f32(v, "the output");
  const float* xp = x.data<float>();
  const float* d = transform_[size_t(pass)].data();
  float* out = v.mutable_data<float>();
  for (int64_t i = 0; i < x.numel(); ++i) out[i] = xp[i] + d[i];
}

void EasyCache::store(int step, int pass, const Tensor& x, const Tensor& v) {
  KINEMA_CHECK(pass >= 0 && pass < 2);
  check_f32(x, "the sample");
  check_f32(v, "the output");
  const int64_t n = x.numel();
  const float* xp = x.data<float>();
  const float* vp = v.data<float>();
  std::vector<float>& d = transform_[size_t(pass)];
  d.resize(size_t(n));
  for (int64_t i = 0; i < n; ++i) d[size_t(i)] = vp[i] - xp[i];
  if (pass != 0) return;
  if (computed_output_.size() == size_t(n)) {
    const double out_change = mean_abs(vp, computed_output_.data(), n);
    const double in_change = mean_abs(xp, computed_input_.data(), n);
    if (in_change > 0) rate_ = out_change / in_change;
  }
  computed_input_ = copy_of(x);
  computed_output_ = copy_of(v);
  output_norm_ = mean_abs(vp, nullptr, n);
}

std::string EasyCache::describe() const { return str_cat("easycache:", threshold_); }

CacheSpec parse_cache_spec(std::string_view text) {
  CacheSpec spec;
  const size_t colon = text.find(':');
  spec.name = std::string(text.substr(0, colon));
  if (spec.name != "easycache")
    fail("unknown step cache '", spec.name, "' (expected easycache or easycache:THRESHOLD)");
  if (colon != std::string_view::npos) {
    const std::string_view tail = text.substr(colon + 1);
    const char* end = tail.data() + tail.size();
    auto [ptr, ec] = std::from_chars(tail.data(), end, spec.threshold);
    if (ec != std::errc() || ptr != end || !std::isfinite(spec.threshold) || spec.threshold < 0)
      fail("--cache ", text, ": the threshold must be a non-negative number");
  }
  return spec;
}

std::unique_ptr<StepCache> make_step_cache(const CacheSpec& spec, int steps) {
  if (spec.name == "easycache")
    return std::make_unique<EasyCache>(steps, EasyCacheOptions{spec.threshold});
  fail("unknown step cache '", spec.name, "'");
}

bool is_distilled_run(int steps, float guidance, SamplerKind sampler) {
  return sampler == SamplerKind::LCM || (guidance == 1.0f && steps <= 10);
}

}  // namespace kinema
