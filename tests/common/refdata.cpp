#include "common/refdata.h"

#include <cmath>
#include <random>

namespace kinema::test {

std::string ref_path(const std::string& layer, const std::string& name) {
  return std::string(KINEMA_REFDATA_DIR) + "/" + layer + "/" + name;
}

Tensor ref(const std::string& layer, const std::string& name) {
  return load_npy(ref_path(layer, name + ".npy"));
}

std::vector<float> random_floats(size_t n, uint64_t seed, float lo, float hi) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) {
    do x = dist(rng);
    while (x == 0.0f);
  }
  return v;
}

::testing::AssertionResult all_close(const std::vector<float>& got, const std::vector<float>& want,
                                     Tolerance tol) {
  if (got.size() != want.size())
    return ::testing::AssertionFailure() << "size " << got.size() << " != " << want.size();
  double worst = -1;
  size_t worst_i = 0, bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    double diff = std::fabs(double(got[i]) - double(want[i]));
    double limit = tol.abs + tol.rel * std::fabs(double(want[i]));
    bool ok = diff <= limit || (std::isnan(got[i]) && std::isnan(want[i]));
    if (!ok) {
      ++bad;
      double excess = std::isnan(diff) ? 1e300 : diff - limit;
      if (excess > worst) {
        worst = excess;
        worst_i = i;
      }
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << bad << " of " << got.size() << " elements out of tolerance (abs " << tol.abs << ", rel "
         << tol.rel << "); worst at " << worst_i << ": got " << got[worst_i] << ", want "
         << want[worst_i];
}

::testing::AssertionResult all_close(const Tensor& got, const Tensor& want, Tolerance tol) {
  if (got.shape() != want.shape())
    return ::testing::AssertionFailure()
           << "shape " << got.shape().str() << " != " << want.shape().str();
  return all_close(got.to_f32_vector(), want.to_f32_vector(), tol);
}

}  // namespace kinema::test
