#include "pipeline/noise.h"

#include <cmath>
#include <random>

#include "io/weight_file.h"

namespace kinema {
namespace {

constexpr double kLn2 = 0.693147180559945309417232121458;
constexpr double kTwoPi = 6.28318530717958647692528676656;

// ln(u) for u in (0, 1]: u = m * 2^e with m in [sqrt(1/2), sqrt(2)), ln(m) = 2 atanh(s),
// s = (m - 1) / (m + 1), |s| < 0.172, series to s^21.
double det_log(double u) {
  int e;
  double m = std::frexp(u, &e);  // exact
  if (m < 0.70710678118654752440) {
    m *= 2.0;
    e -= 1;
  }
  double s = (m - 1.0) / (m + 1.0);
  double s2 = s * s;
  double series = 1.0 / 21.0;
  for (int k = 19; k >= 1; k -= 2) series = 1.0 / double(k) + s2 * series;
  return double(e) * kLn2 + 2.0 * s * series;
}

// sin and cos of 2*pi*turns for turns in (0, 1): reduce to |x| <= pi/4 by quadrant, Taylor to
// x^18.
void det_sincos_turns(double turns, double* sin_out, double* cos_out) {
  double q = std::nearbyint(turns * 4.0);  // exact: turns has at most 33 significant bits
  double x = (turns - q * 0.25) * kTwoPi;
  double x2 = x * x;
  double s = 1.0, c = 1.0;
  // Horner over the Taylor coefficients, innermost first.
  for (int k = 17; k >= 3; k -= 2) s = 1.0 - x2 / double(k * (k - 1)) * s;
  for (int k = 18; k >= 2; k -= 2) c = 1.0 - x2 / double(k * (k - 1)) * c;
  s *= x;
  switch (int(q) & 3) {
    case 0:
      *sin_out = s;
      *cos_out = c;
      break;
    case 1:
      *sin_out = c;
      *cos_out = -s;
      break;
    case 2:
      *sin_out = -s;
      *cos_out = -c;
      break;
    default:
      *sin_out = -c;
      *cos_out = s;
      break;
  }
}

double uniform(uint32_t w) { return (double(w) + 0.5) * (1.0 / 4294967296.0); }

}  // namespace

std::array<uint32_t, 4> philox4x32_10(std::array<uint32_t, 4> ctr, std::array<uint32_t, 2> key) {
  constexpr uint64_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  for (int round = 0; round < 10; ++round) {
    uint64_t p0 = kM0 * ctr[0], p1 = kM1 * ctr[2];
    auto hi0 = uint32_t(p0 >> 32), lo0 = uint32_t(p0);
    auto hi1 = uint32_t(p1 >> 32), lo1 = uint32_t(p1);
    ctr = {hi1 ^ ctr[1] ^ key[0], lo1, hi0 ^ ctr[3] ^ key[1], lo0};
    key[0] += 0x9E3779B9u;
    key[1] += 0xBB67AE85u;
  }
  return ctr;
}

Tensor gaussian_noise(const ComputeContext& ctx, const Shape& shape, uint64_t seed,
                      uint32_t stream) {
  Tensor out = Tensor::empty(shape, DType::F32);
  float* y = out.mutable_data<float>();
  const int64_t n = shape.numel();
  const std::array<uint32_t, 2> key = {uint32_t(seed), uint32_t(seed >> 32)};
  parallel_for(ctx, (n + 3) / 4, 1024, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      auto w = philox4x32_10({uint32_t(b), uint32_t(uint64_t(b) >> 32), stream, 0}, key);
      double z[4];
      for (int pair = 0; pair < 2; ++pair) {
        double r = std::sqrt(-2.0 * det_log(uniform(w[2 * pair])));
        double s, c;
        det_sincos_turns(uniform(w[2 * pair + 1]), &s, &c);
        z[2 * pair] = r * c;
        z[2 * pair + 1] = r * s;
      }
      for (int k = 0; k < 4 && 4 * b + k < n; ++k) y[4 * b + k] = float(z[k]);
    }
  });
  return out;
}

Tensor read_noise_file(const std::string& path) {
  auto file = WeightFile::open(path);
  const TensorInfo* info = file->find("noise");
  if (!info && file->tensors().size() == 1) info = &file->tensors()[0];
  if (!info)
    fail(printable(path), ": expected a tensor named 'noise' or a single tensor, found ",
         file->tensors().size(), " tensors");
  if (!traits(info->dtype).is_float)
    fail(printable(path), ": noise tensor '", printable(info->name, 80), "' is ", name(info->dtype),
         ", expected a float type");
  Tensor noise = file->tensor(info->name).to(DType::F32);
  const float* v = noise.data<float>();
  for (int64_t i = 0, n = noise.numel(); i < n; ++i)
    if (!std::isfinite(v[i]))
      fail(printable(path), ": noise tensor '", printable(info->name, 80),
           "' holds a non-finite value (", v[i], ") at element ", i);
  return noise;
}

uint64_t random_seed() {
  std::random_device rd;
  return (uint64_t(rd()) << 32) ^ uint64_t(rd());
}

}  // namespace kinema
