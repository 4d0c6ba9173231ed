#include "kernels/cpu/norm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/norm_isa.h"

namespace kinema::cpu {

// The plain reference versions. Statistics accumulate in double, so these are also the most
// accurate.
namespace generic {
namespace {

void layer_norm_rows(const LayerNormArgs& a, int64_t begin, int64_t end) {
  const int64_t d = a.dim;
  for (int64_t r = begin; r < end; ++r) {
    int64_t base = r * d;
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < d; ++i) sum += load_elem(a.x, a.x_type, base + i);
    double mean = sum / double(d);
    for (int64_t i = 0; i < d; ++i) {
      double c = load_elem(a.x, a.x_type, base + i) - mean;
      sq += c * c;
    }
    float rstd = float(1.0 / std::sqrt(sq / double(d) + a.eps));
    int64_t group = a.scale ? r / a.rows_per_modulation : 0;
    for (int64_t i = 0; i < d; ++i) {
      float n = (load_elem(a.x, a.x_type, base + i) - float(mean)) * rstd;
      if (a.round_normed) n = round_to_bf16(n);
      if (a.weight) n = n * a.weight[i] + a.bias[i];
      if (a.scale) n = n * (1.0f + a.scale[group * d + i]) + a.shift[group * d + i];
      store_elem(a.y, a.y_type, base + i, n);
    }
  }
}

void rms_norm_rows(const RmsNormArgs& a, int64_t begin, int64_t end) {
  const int64_t d = a.dim;
  for (int64_t r = begin; r < end; ++r) {
    int64_t base = r * d;
    double sq = 0;
    for (int64_t i = 0; i < d; ++i) {
      double v = load_elem(a.x, a.x_type, base + i);
      sq += v * v;
    }
    float rs = float(1.0 / std::sqrt(sq / double(d) + a.eps));
    for (int64_t i = 0; i < d; ++i) {
      float n = load_elem(a.x, a.x_type, base + i) * rs;
      if (a.round_normed) n = round_to_bf16(n);
      store_elem(a.y, a.y_type, base + i, n * a.weight[i]);
    }
  }
}

void channel_norm_positions(const ChannelNormArgs& a, int64_t begin, int64_t end) {
  for (int64_t p = begin; p < end; ++p) {
    double sq = 0;
    for (int64_t c = 0; c < a.channels; ++c) {
      double v = a.x[c * a.positions + p];
      sq += v * v;
    }
    float norm = std::fmax(float(std::sqrt(sq)), 1e-12f);
    for (int64_t c = 0; c < a.channels; ++c) {
      float v = a.x[c * a.positions + p] / norm * a.gain[c];
      if (a.silu) v = v / (1.0f + std::exp(-v));
      a.y[c * a.positions + p] = v;
    }
  }
}

}  // namespace

const NormKernels norm_kernels = {layer_norm_rows, rms_norm_rows, channel_norm_positions};
}  // namespace generic

namespace {

const NormKernels& kernels() {
  return for_active_isa(generic::norm_kernels, avx2::norm_kernels, avx512::norm_kernels);
}

// Rows per thread chunk: about 16K elements, so small tensors stay on one thread.
int64_t row_grain(int64_t dim) {
  return std::max<int64_t>(1, (int64_t(1) << 14) / std::max<int64_t>(dim, 1));
}

int64_t last_dim(const Tensor& x, std::string_view op) {
  if (x.rank() < 1) fail(op, ": x must have at least one axis, found a scalar");
  return x.dim(-1);
}

void run_layer_norm(const ComputeContext& ctx, LayerNormArgs& args, const Tensor& x, Tensor& out,
                    std::string_view op) {
  args.x_type = float_elem(x, op, "x");
  args.y_type = float_elem(out, op, "out");
  check_output(out, x.shape(), op);
  args.x = x.raw();
  args.y = out.mutable_raw();
  int64_t rows = args.dim == 0 ? 0 : x.numel() / args.dim;
  const NormKernels& k = kernels();
  parallel_for(ctx, rows, row_grain(args.dim),
               [&](int64_t begin, int64_t end) { k.layer_norm(args, begin, end); });
}

}  // namespace

void layer_norm(const ComputeContext& ctx, const Tensor& x, const Tensor& weight,
                const Tensor& bias, float eps, Tensor& out) {
  constexpr std::string_view op = "layer_norm";
  LayerNormArgs args{};
  args.dim = last_dim(x, op);
  args.eps = eps;
  if (weight.defined() != bias.defined())
    fail(op, ": give both weight and bias, or neither (found only the ",
         weight.defined() ? "weight" : "bias", ")");
  if (weight.defined()) {
    args.weight = f32_vector(weight, args.dim, op, "weight");
    args.bias = f32_vector(bias, args.dim, op, "bias");
  }
  run_layer_norm(ctx, args, x, out, op);
}

void ln_modulate(const ComputeContext& ctx, const Tensor& x, const Tensor& scale,
                 const Tensor& shift, float eps, NormRounding rounding, Tensor& out) {
  constexpr std::string_view op = "ln_modulate";
  LayerNormArgs args{};
  args.dim = last_dim(x, op);
  args.eps = eps;
  args.round_normed = rounding == NormRounding::Bf16;
  args.rows_per_modulation = rows_per_vector(x, scale, op, "scale");
  args.scale = f32_vector(scale, scale.numel(), op, "scale");
  args.shift = f32_vector(shift, scale.numel(), op, "shift");
  run_layer_norm(ctx, args, x, out, op);
}

void rms_norm(const ComputeContext& ctx, const Tensor& x, const Tensor& weight, float eps,
              NormRounding rounding, Tensor& out) {
  constexpr std::string_view op = "rms_norm";
  RmsNormArgs args{};
  args.dim = last_dim(x, op);
  args.eps = eps;
  args.round_normed = rounding == NormRounding::Bf16;
  args.x_type = float_elem(x, op, "x");
  args.y_type = float_elem(out, op, "out");
  check_output(out, x.shape(), op);
  if (weight.numel() != args.dim)
    fail(op, ": weight has ", weight.numel(), " values, expected ", args.dim);
  // bf16 weights widen exactly; the product n * w is then the same f32 value torch rounds.
  std::vector<float> widened;
  if (float_elem(weight, op, "weight") == Elem::BF16) {
    widened = weight.to_f32_vector();
    args.weight = widened.data();
  } else {
    args.weight = weight.data<float>();
  }
  args.x = x.raw();
  args.y = out.mutable_raw();
  int64_t rows = args.dim == 0 ? 0 : x.numel() / args.dim;
  const NormKernels& k = kernels();
  parallel_for(ctx, rows, row_grain(args.dim),
               [&](int64_t begin, int64_t end) { k.rms_norm(args, begin, end); });
}

void channel_rms_norm(const ComputeContext& ctx, const Tensor& x, const Tensor& gamma,
                      ChannelNormAct act, Tensor& out) {
  constexpr std::string_view op = "channel_rms_norm";
  if (x.dtype() != DType::F32 || out.dtype() != DType::F32)
    fail(op, ": x and out must be f32, found ", name(x.dtype()), " and ", name(out.dtype()));
  if (x.rank() < 2) fail(op, ": x must be [N, C, ...], found ", x.shape().str());
  check_output(out, x.shape(), op);
  const int64_t batch = x.dim(0), channels = x.dim(1);
  const float* g = f32_vector(gamma, channels, op, "gamma");
  std::vector<float> gain(static_cast<size_t>(channels));
  const float root_c = float(std::sqrt(double(channels)));
  for (int64_t c = 0; c < channels; ++c) gain[size_t(c)] = root_c * g[c];
  const int64_t positions = channels == 0 || batch == 0 ? 0 : x.numel() / (batch * channels);
  const NormKernels& k = kernels();
  for (int64_t n = 0; n < batch; ++n) {
    ChannelNormArgs args{};
    args.x = x.data<float>() + n * channels * positions;
    args.y = out.mutable_data<float>() + n * channels * positions;
    args.channels = channels;
    args.positions = positions;
    args.gain = gain.data();
    args.silu = act == ChannelNormAct::Silu;
    // Chunks of whole 64-position tiles; a tile reads all C channels.
    parallel_for(ctx, (positions + 63) / 64,
                 std::max<int64_t>(1, 4096 / std::max<int64_t>(channels, 1)),
                 [&](int64_t begin, int64_t end) {
                   k.channel_norm(args, begin * 64, std::min(end * 64, positions));
                 });
  }
}

}  // namespace kinema::cpu
