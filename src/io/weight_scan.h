// Finding the weights behind a non-finite result: when a model produces NaN or inf, the first
// tensor of its file that holds one is what a user needs to hear about (a corrupted download,
// a bad conversion), rather than a black video.
#pragma once

#include <optional>
#include <string>

#include "io/weight_file.h"

namespace kinema {

struct NonFiniteWeight {
  std::string tensor;  // its name in the file
  int64_t index = 0;   // the first non-finite element
  float value = 0;     // NaN, inf or -inf
};

// Scans every floating-point tensor of `file` (any stored type, converted block by block);
// nullopt when all values are finite. Reads the whole file: call it on the error path only.
std::optional<NonFiniteWeight> find_nonfinite_weight(const WeightFile& file);

}  // namespace kinema
