#include "kernels/cpu/activation.h"

#include <cmath>

#include "core/error.h"
#include "kernels/cpu/activation_isa.h"
#include "kernels/cpu/dispatch.h"

namespace kinema::cpu {

// The plain reference versions: the formulas as PyTorch writes them, with the C library's
// functions.
namespace generic {
namespace {

float gelu_tanh(float x) {
  float cube = x * x * x;
  return 0.5f * x * (1.0f + std::tanh(0.7978845608028654f * (x + 0.044715f * cube)));
}
float gelu_erf(float x) { return 0.5f * x * (1.0f + std::erf(x * 0.707106781186547524f)); }
float silu(float x) { return x / (1.0f + std::exp(-x)); }

// x holds a bf16 value; see vmath_simd.h for the order of the roundings.
float gelu_tanh_t5(float x) {
  float cube = round_to_bf16(round_to_bf16(x * x) * x);
  float t = round_to_bf16(cube * 0.044677734375f);
  t = round_to_bf16(x + t);
  t = round_to_bf16(t * 0.796875f);
  t = round_to_bf16(std::tanh(t));
  t = round_to_bf16(1.0f + t);
  float half = round_to_bf16(x * 0.5f);
  return round_to_bf16(half * t);
}

float activate(ActKind kind, float x) {
  switch (kind) {
    case ActKind::GeluTanh: return gelu_tanh(x);
    case ActKind::GeluErf: return gelu_erf(x);
    case ActKind::Silu: return silu(x);
    case ActKind::GeluTanhT5: return gelu_tanh_t5(x);
  }
  return x;
}

void apply(const ActivationArgs& a, int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i)
    store_elem(a.y, a.y_type, i, activate(a.kind, load_elem(a.x, a.x_type, i)));
}

void gated_gelu_t5(const uint16_t* a, const uint16_t* b, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    y[i] = f32_to_bf16(bf16_to_f32(a[i]) * gelu_tanh_t5(bf16_to_f32(b[i])));
}

void exp_array(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::exp(x[i]);
}
void tanh_array(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
}
void erf_array(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::erf(x[i]);
}

}  // namespace

const ActivationKernels activation_kernels = {apply, gated_gelu_t5, exp_array, tanh_array,
                                              erf_array};
}  // namespace generic

namespace {

// Elementwise work is memory-bound; chunks this large amortise the thread start.
constexpr int64_t kGrain = 1 << 15;

const ActivationKernels& kernels() {
  return for_active_isa(generic::activation_kernels, avx2::activation_kernels,
                        avx512::activation_kernels);
}

void run(const ComputeContext& ctx, const Tensor& x, Tensor& out, ActKind kind,
         std::string_view op) {
  ActivationArgs args{};
  args.x_type = float_elem(x, op, "x");
  args.y_type = float_elem(out, op, "out");
  check_output(out, x.shape(), op);
  if (kind == ActKind::GeluTanhT5 && (args.x_type != Elem::BF16 || args.y_type != Elem::BF16))
    fail(op, ": x and out must be bf16 (the umT5 GELU is defined by its bf16 roundings)");
  args.x = x.raw();
  args.y = out.mutable_raw();
  args.kind = kind;
  const ActivationKernels& k = kernels();
  parallel_for(ctx, x.numel(), kGrain,
               [&](int64_t begin, int64_t end) { k.apply(args, begin, end); });
}

}  // namespace

void gelu_tanh(const ComputeContext& ctx, const Tensor& x, Tensor& out) {
  run(ctx, x, out, ActKind::GeluTanh, "gelu_tanh");
}
void gelu_erf(const ComputeContext& ctx, const Tensor& x, Tensor& out) {
  run(ctx, x, out, ActKind::GeluErf, "gelu_erf");
}
void silu(const ComputeContext& ctx, const Tensor& x, Tensor& out) {
  run(ctx, x, out, ActKind::Silu, "silu");
}
void gelu_tanh_t5(const ComputeContext& ctx, const Tensor& x, Tensor& out) {
  run(ctx, x, out, ActKind::GeluTanhT5, "gelu_tanh_t5");
}

void gated_gelu_t5(const ComputeContext& ctx, const Tensor& a, const Tensor& b, Tensor& out) {
  constexpr std::string_view op = "gated_gelu_t5";
  if (a.dtype() != DType::BF16 || b.dtype() != DType::BF16 || out.dtype() != DType::BF16)
    fail(op, ": a, b and out must be bf16, found ", name(a.dtype()), ", ", name(b.dtype()), ", ",
         name(out.dtype()));
  check_same_shape(a, b, op, "a", "b");
  check_output(out, a.shape(), op);
  const auto* pa = a.data<uint16_t>();
  const auto* pb = b.data<uint16_t>();
  auto* py = out.mutable_data<uint16_t>();
  const ActivationKernels& k = kernels();
  parallel_for(ctx, a.numel(), kGrain, [&](int64_t begin, int64_t end) {
    k.gated_gelu_t5(pa + begin, pb + begin, py + begin, end - begin);
  });
}

void exp_f32(const float* x, float* y, int64_t n) { kernels().exp(x, y, n); }
void tanh_f32(const float* x, float* y, int64_t n) { kernels().tanh(x, y, n); }
void erf_f32(const float* x, float* y, int64_t n) { kernels().erf(x, y, n); }

}  // namespace kinema::cpu
