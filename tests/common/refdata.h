// Where the reference data made by the PyTorch scripts lives, and comparison helpers.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/npy.h"
#include "core/tensor.h"

namespace kinema::test {

// Path of a reference file: <build>/refdata/<layer>/<name>.
std::string ref_path(const std::string& layer, const std::string& name);
// Loads <build>/refdata/<layer>/<name>.npy.
Tensor ref(const std::string& layer, const std::string& name);

// Fresh random values (never zeros) for inputs made on the C++ side; deterministic per seed.
std::vector<float> random_floats(size_t n, uint64_t seed, float lo = -1.0f, float hi = 1.0f);

struct Tolerance {
  double abs;
  double rel;
};

// Asserts |got - want| <= abs + rel * |want| elementwise, reporting the worst element.
::testing::AssertionResult all_close(const std::vector<float>& got, const std::vector<float>& want,
                                     Tolerance tol);
::testing::AssertionResult all_close(const Tensor& got, const Tensor& want, Tolerance tol);

}  // namespace kinema::test
