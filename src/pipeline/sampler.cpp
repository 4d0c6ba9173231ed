#include "pipeline/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "pipeline/noise.h"

namespace kinema {
namespace {

struct Point {
  float lambda, alpha, sigma;
};

// lambda = log(alpha) - log(sigma) in fp32; sigma = 0 gives lambda = +inf as in the reference.
Point at(float sigma) {
  float alpha = 1.0f - sigma;
  return {std::log(alpha) - std::log(sigma), alpha, sigma};
}

// The data prediction m = x - sigma * v.
std::vector<float> data_prediction(const float* x, const float* v, float sigma, int64_t n) {
  std::vector<float> m(size_t(n), 0.0f);
  for (int64_t j = 0; j < n; ++j) m[size_t(j)] = x[j] - sigma * v[j];
  return m;
}

class UniPCSampler : public Sampler {
 public:
  explicit UniPCSampler(Schedule s) : s_(std::move(s)) {}

  void step(int i, const float* v, float* x, int64_t n) override {
    KINEMA_CHECK(i >= 0 && i < s_.steps());
    std::vector<float> m = data_prediction(x, v, s_.sigmas[size_t(i)], n);
    if (i > 0) correct(i, m, x, n);
    prev_model_ = std::move(last_model_);
    last_model_ = std::move(m);
    int order = std::min({2, s_.steps() - i, lower_order_nums_ + 1});
    lower_order_nums_ = std::min(lower_order_nums_ + 1, 2);
    last_sample_.assign(x, x + n);
    prev_order_ = order;
    predict(i, x, n, order);
  }

 private:
  // UniP from sigma_i to sigma_{i+1}; order 2 uses the fixed rho = 0.5 of the reference.
  void predict(int i, float* x, int64_t n, int order) {
    Point t = at(s_.sigmas[size_t(i) + 1]), s0 = at(s_.sigmas[size_t(i)]);
    float h = t.lambda - s0.lambda;
    float phi = std::expm1(-h);
    float ratio = t.sigma / s0.sigma;
    float c1 = t.alpha * phi;
    const float* m0 = last_model_.data();
    if (order == 1) {
      for (int64_t j = 0; j < n; ++j) x[j] = ratio * x[j] - c1 * m0[j];
      return;
    }
    float r = (at(s_.sigmas[size_t(i) - 1]).lambda - s0.lambda) / h;
    const float* m1 = prev_model_.data();
    for (int64_t j = 0; j < n; ++j) {
      float d = (m1[j] - m0[j]) / r;
      x[j] = (ratio * x[j] - c1 * m0[j]) - c1 * (0.5f * d);
    }
  }

  // UniC at step i, with the new data prediction m_new, using the order of the last predictor.
  void correct(int i, const std::vector<float>& m_new, float* x, int64_t n) {
    Point t = at(s_.sigmas[size_t(i)]), s0 = at(s_.sigmas[size_t(i) - 1]);
    float h = t.lambda - s0.lambda;
    float hh = -h;
    float phi = std::expm1(hh);
    float b = phi;  // bh2
    float g1 = phi / hh - 1.0f;
    float ratio = t.sigma / s0.sigma;
    float c1 = t.alpha * phi, c2 = t.alpha * b;
    const float* m0 = last_model_.data();
    const float* prev = last_sample_.data();
    if (prev_order_ == 1) {
      const float rho = 0.5f;
      for (int64_t j = 0; j < n; ++j) {
        float res = rho * (m_new[size_t(j)] - m0[j]);
        x[j] = (ratio * prev[j] - c1 * m0[j]) - c2 * res;
      }
      return;
    }
    float r = (at(s_.sigmas[size_t(i) - 2]).lambda - s0.lambda) / h;
    float g2 = g1 / hh - 0.5f;
    float b1 = g1 / b, b2 = 2.0f * g2 / b;
    // Solve [[1, 1], [r, 1]] rho = [b1, b2] (the reference's fp32 linalg.solve).
    double rho_d = (double(b1) - double(b2)) / (1.0 - double(r));
    double rho_last = double(b1) - rho_d;
    float rd = float(rho_d), rl = float(rho_last);
    const float* m1 = prev_model_.data();
    for (int64_t j = 0; j < n; ++j) {
      float d = (m1[j] - m0[j]) / r;
      float res = rd * d + rl * (m_new[size_t(j)] - m0[j]);
      x[j] = (ratio * prev[j] - c1 * m0[j]) - c2 * res;
    }
  }

  Schedule s_;
  std::vector<float> last_model_, prev_model_, last_sample_;
  int prev_order_ = 0;
  int lower_order_nums_ = 0;
};

class DpmSampler : public Sampler {
 public:
  explicit DpmSampler(Schedule s) : s_(std::move(s)) {}

  void step(int i, const float* v, float* x, int64_t n) override {
    KINEMA_CHECK(i >= 0 && i < s_.steps());
    std::vector<float> m = data_prediction(x, v, s_.sigmas[size_t(i)], n);
    Point t = at(s_.sigmas[size_t(i) + 1]), s0 = at(s_.sigmas[size_t(i)]);
    float h = t.lambda - s0.lambda;
    float e = std::expm1(-h);
    float ratio = t.sigma / s0.sigma;
    float c1 = t.alpha * e;
    bool second_order = i > 0 && i < s_.steps() - 1;
    if (!second_order) {
      for (int64_t j = 0; j < n; ++j) x[j] = ratio * x[j] - c1 * m[size_t(j)];
    } else {
      float r0 = (s0.lambda - at(s_.sigmas[size_t(i) - 1]).lambda) / h;
      float c2 = 0.5f * t.alpha * e;
      for (int64_t j = 0; j < n; ++j) {
        float d1 = (m[size_t(j)] - prev_model_[size_t(j)]) / r0;
        x[j] = (ratio * x[j] - c1 * m[size_t(j)]) - c2 * d1;
      }
    }
    prev_model_ = std::move(m);
  }

 private:
  Schedule s_;
  std::vector<float> prev_model_;
};

class EulerSampler : public Sampler {
 public:
  explicit EulerSampler(Schedule s) : s_(std::move(s)) {}
  void step(int i, const float* v, float* x, int64_t n) override {
    KINEMA_CHECK(i >= 0 && i < s_.steps());
    float dt = s_.sigmas[size_t(i) + 1] - s_.sigmas[size_t(i)];
    for (int64_t j = 0; j < n; ++j) x[j] = x[j] + dt * v[j];
  }

 private:
  Schedule s_;
};

class LcmSampler : public Sampler {
 public:
  LcmSampler(Schedule s, StepNoise noise) : s_(std::move(s)), noise_(std::move(noise)) {}
  void step(int i, const float* v, float* x, int64_t n) override {
    KINEMA_CHECK(i >= 0 && i < s_.steps());
    const float sigma = s_.sigmas[size_t(i)], next = s_.sigmas[size_t(i) + 1];
    for (int64_t j = 0; j < n; ++j) x[j] = x[j] - sigma * v[j];
    if (next == 0.0f) return;
    fresh_.resize(size_t(n));
    noise_(i, fresh_.data(), n);
    const float keep = 1.0f - next;
    for (int64_t j = 0; j < n; ++j) x[j] = keep * x[j] + next * fresh_[size_t(j)];
  }

 private:
  Schedule s_;
  StepNoise noise_;
  std::vector<float> fresh_;
};

}  // namespace

std::unique_ptr<Sampler> make_sampler(SamplerKind kind, const Schedule& schedule, StepNoise noise) {
  switch (kind) {
    case SamplerKind::UniPC: return std::make_unique<UniPCSampler>(schedule);
    case SamplerKind::DpmPP2M: return std::make_unique<DpmSampler>(schedule);
    case SamplerKind::Euler: return std::make_unique<EulerSampler>(schedule);
    case SamplerKind::LCM:
      if (!noise) fail("the lcm sampler re-noises every step: it needs a noise source (a seed)");
      return std::make_unique<LcmSampler>(schedule, std::move(noise));
  }
  fail("unknown sampler");
}

StepNoise seeded_step_noise(const ComputeContext& ctx, const Shape& shape, uint64_t seed) {
  return [ctx, shape, seed](int step, float* out, int64_t n) {
    KINEMA_CHECK(n == shape.numel());
    Tensor t = gaussian_noise(ctx, shape, seed, uint32_t(step) + 1);
    std::memcpy(out, t.data<float>(), size_t(n) * sizeof(float));
  };
}

void apply_guidance(const float* cond, const float* uncond, float guidance, float* out, int64_t n) {
  for (int64_t j = 0; j < n; ++j) out[j] = uncond[j] + guidance * (cond[j] - uncond[j]);
}

}  // namespace kinema
