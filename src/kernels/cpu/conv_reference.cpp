#include <vector>

#include "core/error.h"
#include "kernels/cpu/conv.h"
#include "kernels/cpu/conv_geometry.h"

namespace kinema::cpu {

Tensor conv_reference(const Tensor& x, const Tensor& weight, const Tensor& bias,
                      const ConvParams& params, const Tensor& history) {
  constexpr std::string_view op = "conv_reference";
  for (const Tensor* t : {&x, &weight, &bias, &history})
    if (t->defined() && t->dtype() != DType::F32)
      fail(op, ": operands must be f32, found ", name(t->dtype()));
  Shape bias_shape = bias.shape(), history_shape = history.shape();
  ConvGeometry g =
      conv_geometry(op, x.shape(), weight.shape(), params, bias.defined() ? &bias_shape : nullptr,
                    history.defined() ? &history_shape : nullptr);
  // Treat 2-D as 3-D with one frame and a 1-frame kernel.
  auto ext = [&](const std::vector<int64_t>& v, int64_t fill) {
    return g.axes == 3 ? v : std::vector<int64_t>{fill, v[0], v[1]};
  };
  std::vector<int64_t> in = ext(g.in, 1), k = ext(g.kernel, 1), s = ext(g.stride, 1),
                       pb = ext(g.before, 0), out = ext(g.out, 1);
  const int64_t frames_x = in[0] - g.history, plane = in[1] * in[2];
  const float* xs = x.data<float>();
  const float* hs = history.defined() ? history.data<float>() : nullptr;
  const float* ws = weight.data<float>();
  const float* bs = bias.defined() ? bias.data<float>() : nullptr;

  // Input value at (n, c, f, h, w) of the history + x sequence, zero outside.
  auto input = [&](int64_t n, int64_t c, int64_t f, int64_t h, int64_t w) -> double {
    if (f < 0 || f >= in[0] || h < 0 || h >= in[1] || w < 0 || w >= in[2]) return 0.0;
    if (f < g.history) return hs[((n * g.in_channels + c) * g.history + f) * plane + h * in[2] + w];
    f -= g.history;
    return xs[((n * g.in_channels + c) * frames_x + f) * plane + h * in[2] + w];
  };

  Tensor y = Tensor::empty(g.output_shape(), DType::F32);
  float* ys = y.mutable_data<float>();
  int64_t at = 0;
  for (int64_t n = 0; n < g.batch; ++n)
    for (int64_t o = 0; o < g.out_channels; ++o)
      for (int64_t ot = 0; ot < out[0]; ++ot)
        for (int64_t oh = 0; oh < out[1]; ++oh)
          for (int64_t ow = 0; ow < out[2]; ++ow) {
            double acc = bs ? bs[o] : 0.0;
            for (int64_t c = 0; c < g.in_channels; ++c)
              for (int64_t kt = 0; kt < k[0]; ++kt)
                for (int64_t kh = 0; kh < k[1]; ++kh)
                  for (int64_t kw = 0; kw < k[2]; ++kw) {
                    double v = input(n, c, ot * s[0] - pb[0] + kt, oh * s[1] - pb[1] + kh,
                                     ow * s[2] - pb[2] + kw);
                    acc += v *
                           ws[((o * g.in_channels + c) * k[0] + kt) * k[1] * k[2] + kh * k[2] + kw];
                  }
            ys[at++] = float(acc);
          }
  return y;
}

}  // namespace kinema::cpu
