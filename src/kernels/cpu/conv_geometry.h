// Internal: a convolution's shapes checked and resolved once, shared by Conv and conv_reference.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "core/shape.h"
#include "kernels/cpu/conv.h"

namespace kinema::cpu {

struct ConvGeometry {
  int axes = 0;  // spatial axes: 2 or 3
  int64_t batch = 0, in_channels = 0, out_channels = 0;
  int64_t history = 0;  // frames prepended from the history tensor
  // Per spatial axis. `in` counts the history frames on the time axis and `before` is the zero
  // padding left after them, so the convolution sees in + before + after positions.
  std::vector<int64_t> in, kernel, stride, before, after, out;

  Shape output_shape() const;
  // The padded input as oneDNN receives it: [N, I, c + T, H, W].
  Shape input_shape() const;
};

// Checks x, weight, bias and history against each other and `params`; every failure names `op`,
// the operand, what was expected and what was found.
ConvGeometry conv_geometry(std::string_view op, const Shape& x, const Shape& weight,
                           const ConvParams& params, const Shape* bias, const Shape* history);

}  // namespace kinema::cpu
