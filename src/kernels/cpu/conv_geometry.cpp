#include "kernels/cpu/conv_geometry.h"

#include "core/error.h"

namespace kinema::cpu {

ConvParams ConvParams::symmetric(int axes, int64_t pad, int64_t stride) {
  ConvParams p;
  p.stride.assign(size_t(axes), stride);
  p.pad_before.assign(size_t(axes), pad);
  p.pad_after.assign(size_t(axes), pad);
  return p;
}

ConvParams ConvParams::causal3d(int64_t pt, int64_t ph, int64_t pw, std::vector<int64_t> stride) {
  ConvParams p;
  p.stride = std::move(stride);
  p.pad_before = {2 * pt, ph, pw};
  p.pad_after = {0, ph, pw};
  return p;
}

int64_t conv_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t before,
                         int64_t after) {
  int64_t span = in + before + after - kernel;
  return span < 0 ? 0 : span / stride + 1;
}

Shape ConvGeometry::output_shape() const {
  std::vector<int64_t> dims = {batch, out_channels};
  dims.insert(dims.end(), out.begin(), out.end());
  return Shape(dims);
}

Shape ConvGeometry::input_shape() const {
  std::vector<int64_t> dims = {batch, in_channels};
  dims.insert(dims.end(), in.begin(), in.end());
  return Shape(dims);
}

namespace {

std::vector<int64_t> per_axis(std::string_view op, const std::vector<int64_t>& v, int axes,
                              int64_t fallback, std::string_view field) {
  if (v.empty()) return std::vector<int64_t>(size_t(axes), fallback);
  if (int(v.size()) != axes)
    fail(op, ": params.", field, " has ", v.size(), " values, expected ", axes,
         " (one per spatial axis)");
  return v;
}

}  // namespace

ConvGeometry conv_geometry(std::string_view op, const Shape& x, const Shape& weight,
                           const ConvParams& params, const Shape* bias, const Shape* history) {
  ConvGeometry g;
  if (weight.rank() != 4 && weight.rank() != 5)
    fail(op, ": weight must be [O, I, kh, kw] or [O, I, kt, kh, kw], found ", weight.str());
  g.axes = weight.rank() - 2;
  if (x.rank() != weight.rank())
    fail(op, ": x must have rank ", weight.rank(), " to match weight ", weight.str(), ", found ",
         x.str());
  g.batch = x[0];
  g.in_channels = x[1];
  g.out_channels = weight[0];
  if (weight[1] != g.in_channels)
    fail(op, ": x has ", g.in_channels, " channels but weight ", weight.str(), " expects ",
         weight[1]);
  if (bias && (bias->rank() != 1 || (*bias)[0] != g.out_channels))
    fail(op, ": bias must be [", g.out_channels, "], found ", bias->str());
  g.stride = per_axis(op, params.stride, g.axes, 1, "stride");
  g.before = per_axis(op, params.pad_before, g.axes, 0, "pad_before");
  g.after = per_axis(op, params.pad_after, g.axes, 0, "pad_after");
  for (int a = 0; a < g.axes; ++a) {
    if (g.stride[size_t(a)] < 1) fail(op, ": stride on axis ", a, " must be >= 1");
    if (g.before[size_t(a)] < 0 || g.after[size_t(a)] < 0)
      fail(op, ": padding on axis ", a, " must be >= 0");
    g.kernel.push_back(weight[2 + a]);
    g.in.push_back(x[2 + a]);
  }
  if (history) {
    if (g.axes != 3) fail(op, ": a history of frames needs a 3-D convolution");
    const Shape& h = *history;
    if (h.rank() != 5 || h[0] != x[0] || h[1] != x[1] || h[3] != x[3] || h[4] != x[4])
      fail(op, ": history must be [", x[0], ", ", x[1], ", c, ", x[3], ", ", x[4],
           "] to precede x ", x.str(), ", found ", h.str());
    g.history = h[2];
    if (g.history > g.before[0])
      fail(op, ": history has ", g.history, " frames but the convolution pads only ", g.before[0],
           " in front");
    g.in[0] += g.history;
    g.before[0] -= g.history;
  }
  for (int a = 0; a < g.axes; ++a) {
    size_t i = size_t(a);
    g.out.push_back(conv_output_size(g.in[i], g.kernel[i], g.stride[i], g.before[i], g.after[i]));
    if (g.out.back() < 1)
      fail(op, ": input ", x.str(), " is smaller than the kernel ", weight.str(),
           " on spatial axis ", a, " even with padding");
  }
  return g;
}

}  // namespace kinema::cpu
