// Reads NumPy .npy files (version 1/2, little-endian, C order): the reference-data format the
// PyTorch scripts write. Test-only.
#pragma once

#include <string>

#include "core/tensor.h"

namespace kinema::test {

// Loads f32, f64 (as f32), f16, i64, i32, u8 and u16 arrays. u16 arrays are bf16 bit patterns
// (numpy has no bfloat16): they come back as a BF16 tensor.
Tensor load_npy(const std::string& path);

}  // namespace kinema::test
