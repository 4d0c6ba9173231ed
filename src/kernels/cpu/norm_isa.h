// Internal: the normalisation kernels each instruction-set level provides (see norm.h).
#pragma once

#include <cstdint>

#include "kernels/cpu/kernel_types.h"

namespace kinema::cpu {

struct LayerNormArgs {
  const void* x;
  Elem x_type;
  void* y;
  Elem y_type;
  int64_t dim;
  float eps;
  const float* weight;  // affine, or nullptr
  const float* bias;    // with weight
  const float* scale;   // modulation n * (1 + scale) + shift, or nullptr
  const float* shift;
  int64_t rows_per_modulation;  // consecutive rows sharing one scale/shift vector
  bool round_normed;            // round n to bf16 before the affine / modulation step
};

struct RmsNormArgs {
  const void* x;
  Elem x_type;
  void* y;
  Elem y_type;
  int64_t dim;
  float eps;
  const float* weight;  // f32 (bf16 weights are widened exactly by the dispatcher)
  bool round_normed;
};

// One batch item of the channel-first norm: element (c, p) at x[c * positions + p].
struct ChannelNormArgs {
  const float* x;
  float* y;
  int64_t channels;
  int64_t positions;
  const float* gain;  // sqrt(C) * gamma[c]
  bool silu;
};

struct NormKernels {
  void (*layer_norm)(const LayerNormArgs& args, int64_t row_begin, int64_t row_end);
  void (*rms_norm)(const RmsNormArgs& args, int64_t row_begin, int64_t row_end);
  void (*channel_norm)(const ChannelNormArgs& args, int64_t pos_begin, int64_t pos_end);
};

namespace generic {
extern const NormKernels norm_kernels;
}
namespace avx2 {
extern const NormKernels norm_kernels;
}
namespace avx512 {
extern const NormKernels norm_kernels;
}

}  // namespace kinema::cpu
