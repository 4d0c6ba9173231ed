// Plain types shared by the kernel dispatchers and their per-instruction-set implementations.
// Declarations only: safe to include from every *_avx2.cpp / *_avx512.cpp.
#pragma once

#include <cstdint>

namespace kinema::cpu {

// Element type of a kernel operand. bf16 values travel as their uint16_t bit patterns.
enum class Elem : uint8_t { F32, BF16 };

}  // namespace kinema::cpu
