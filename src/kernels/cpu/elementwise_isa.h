// Internal: the elementwise kernels each instruction-set level provides (see elementwise.h).
#pragma once

#include <cstdint>

#include "kernels/cpu/kernel_types.h"

namespace kinema::cpu {

enum class BinaryOp : uint8_t { Add, Mul };
enum class UnaryOp : uint8_t { Copy, Scale, Clamp };

struct BinaryArgs {
  const void* a;
  Elem a_type;
  const void* b;
  Elem b_type;
  void* y;
  Elem y_type;
  BinaryOp op;
};

struct UnaryArgs {
  const void* x;
  Elem x_type;
  void* y;
  Elem y_type;
  UnaryOp op;
  float s;       // Scale
  float lo, hi;  // Clamp
};

struct GatedArgs {
  float* x;
  const void* y;
  Elem y_type;
  const float* gate;
  int64_t dim;
  int64_t rows_per_gate;  // consecutive rows sharing one gate vector
};

struct ElementwiseKernels {
  // Elements [begin, end).
  void (*binary)(const BinaryArgs& args, int64_t begin, int64_t end);
  void (*unary)(const UnaryArgs& args, int64_t begin, int64_t end);
  // Rows [begin, end) of x.
  void (*add_gated)(const GatedArgs& args, int64_t row_begin, int64_t row_end);
  void (*f32_to_bf16)(const float* x, uint16_t* y, int64_t n);
  void (*bf16_to_f32)(const uint16_t* x, float* y, int64_t n);
};

namespace generic {
extern const ElementwiseKernels elementwise_kernels;
}
namespace avx2 {
extern const ElementwiseKernels elementwise_kernels;
}
namespace avx512 {
extern const ElementwiseKernels elementwise_kernels;
}

}  // namespace kinema::cpu
