// f32 convolutions, 2-D ([N, C, H, W]) and 3-D ([N, C, T, H, W]), with per-side zero padding
// and an optional history of preceding frames (the Wan VAE's CausalConv3d and its frame cache).
//
// Conv runs oneDNN's convolution primitive: it reorders its weights once into the blocked layout
// oneDNN prefers and keeps one primitive per input shape, because the VAE calls the same
// convolution on the same shapes many times. conv_reference is the plain direct loop the tests
// check it (and PyTorch) against.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/parallel.h"
#include "core/tensor.h"

namespace kinema::cpu {

// Geometry per spatial axis, in tensor order ((T,) H, W). Empty vectors mean 1 (stride) or 0
// (padding) on every axis.
struct ConvParams {
  std::vector<int64_t> stride;
  std::vector<int64_t> pad_before;  // zeros before each axis: front, top, left
  std::vector<int64_t> pad_after;   // zeros after each axis: back, bottom, right

  // Symmetric padding `pad` on every one of `axes` spatial axes (nn.ConvNd(padding=pad)).
  static ConvParams symmetric(int axes, int64_t pad, int64_t stride = 1);
  // The Wan VAE's CausalConv3d with declared padding (pt, ph, pw): 2*pt frames before and none
  // after in time, (ph, ph) and (pw, pw) in space.
  static ConvParams causal3d(int64_t pt, int64_t ph, int64_t pw, std::vector<int64_t> stride = {});
};

struct ConvGeometry;  // conv_geometry.h

// The output extent of one axis: floor((in + before + after - kernel) / stride) + 1.
int64_t conv_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t before, int64_t after);

class Conv {
 public:
  // weight: [O, I, kh, kw] or [O, I, kt, kh, kw] f32; bias: [O] f32, or undefined for none.
  // Keeps references to both (views into a weight file stay mapped).
  Conv(const Tensor& weight, const Tensor& bias, ConvParams params);
  ~Conv();
  Conv(Conv&&) noexcept;
  Conv& operator=(Conv&&) noexcept;

  // x: [N, I, (T,) H, W] f32 -> [N, O, (T',) H', W'] f32
  Tensor forward(const ComputeContext& ctx, const Tensor& x) const;
  // 3-D only. history: [N, I, c, H, W] f32, the c input frames that precede x in time
  // (c <= pad_before[0]); they replace the last c of the zero frames padded in front, so a causal
  // convolution over a clip split into chunks equals one over the whole clip. An undefined
  // history means c = 0.
  Tensor forward(const ComputeContext& ctx, const Tensor& x, const Tensor& history) const;
  // As forward, into `out` (which must have output_shape(x, c), f32, writable).
  void forward_into(const ComputeContext& ctx, const Tensor& x, const Tensor& history,
                    Tensor& out) const;

  Shape output_shape(const Shape& x, int64_t history_frames = 0) const;
  int64_t in_channels() const;
  int64_t out_channels() const;
  const ConvParams& params() const;
  // The oneDNN implementation chosen for the most recent new input shape ("jit:avx512_core"...),
  // for benchmarks and diagnostics; empty before the first call.
  std::string implementation() const;

 private:
  struct Impl;
  void run(const ComputeContext& ctx, const ConvGeometry& g, const Tensor& x, const Tensor& history,
           Tensor& out) const;
  std::unique_ptr<Impl> impl_;
};

// The plain direct-loop convolution (double accumulation), same contract as Conv::forward.
// x: [N, I, (T,) H, W] f32; weight: [O, I, (kt,) kh, kw] f32; bias: [O] f32 or undefined;
// history: [N, I, c, H, W] f32 or undefined -> [N, O, (T',) H', W'] f32
Tensor conv_reference(const Tensor& x, const Tensor& weight, const Tensor& bias,
                      const ConvParams& params, const Tensor& history = Tensor());

}  // namespace kinema::cpu
