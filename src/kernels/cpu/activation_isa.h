// Internal: the activation kernels each instruction-set level provides (see activation.h).
#pragma once

#include <cstdint>

#include "kernels/cpu/kernel_types.h"

namespace kinema::cpu {

enum class ActKind : uint8_t { GeluTanh, GeluErf, Silu, GeluTanhT5 };

struct ActivationArgs {
  const void* x;
  Elem x_type;
  void* y;  // may equal x when the types match
  Elem y_type;
  ActKind kind;
};

struct ActivationKernels {
  // Elements [begin, end) of y = kind(x).
  void (*apply)(const ActivationArgs& args, int64_t begin, int64_t end);
  // y = bf16(a * gelu_tanh_t5(b)) for n elements.
  void (*gated_gelu_t5)(const uint16_t* a, const uint16_t* b, uint16_t* y, int64_t n);
  void (*exp)(const float* x, float* y, int64_t n);
  void (*tanh)(const float* x, float* y, int64_t n);
  void (*erf)(const float* x, float* y, int64_t n);
};

namespace generic {
extern const ActivationKernels activation_kernels;
}
namespace avx2 {
extern const ActivationKernels activation_kernels;
}
namespace avx512 {
extern const ActivationKernels activation_kernels;
}

}  // namespace kinema::cpu
