#include "kernels/cpu/elementwise.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/elementwise_isa.h"

namespace kinema::cpu {

// The plain reference versions.
namespace generic {
namespace {

void binary(const BinaryArgs& a, int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i) {
    float x = load_elem(a.a, a.a_type, i), y = load_elem(a.b, a.b_type, i);
    store_elem(a.y, a.y_type, i, a.op == BinaryOp::Add ? x + y : x * y);
  }
}

void unary(const UnaryArgs& a, int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i) {
    float v = load_elem(a.x, a.x_type, i);
    switch (a.op) {
      case UnaryOp::Copy: break;
      case UnaryOp::Scale: v *= a.s; break;
      case UnaryOp::Clamp:
        if (!std::isnan(v)) v = std::min(std::max(v, a.lo), a.hi);
        break;
    }
    store_elem(a.y, a.y_type, i, v);
  }
}

void add_gated(const GatedArgs& a, int64_t begin, int64_t end) {
  for (int64_t r = begin; r < end; ++r) {
    const float* gate = a.gate + (r / a.rows_per_gate) * a.dim;
    for (int64_t i = 0; i < a.dim; ++i) {
      float prod = load_elem(a.y, a.y_type, r * a.dim + i) * gate[i];
      a.x[r * a.dim + i] += prod;
    }
  }
}

void f32_to_bf16_array(const float* x, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = f32_to_bf16(x[i]);
}
void bf16_to_f32_array(const uint16_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = bf16_to_f32(x[i]);
}

}  // namespace

const ElementwiseKernels elementwise_kernels = {binary, unary, add_gated, f32_to_bf16_array,
                                                bf16_to_f32_array};
}  // namespace generic

namespace {

constexpr int64_t kGrain = 1 << 15;

const ElementwiseKernels& kernels() {
  return for_active_isa(generic::elementwise_kernels, avx2::elementwise_kernels,
                        avx512::elementwise_kernels);
}

void run_binary(const ComputeContext& ctx, const Tensor& a, const Tensor& b, Tensor& out,
                BinaryOp op, std::string_view name) {
  BinaryArgs args{};
  args.a_type = float_elem(a, name, "a");
  args.b_type = float_elem(b, name, "b");
  args.y_type = float_elem(out, name, "out");
  check_same_shape(a, b, name, "a", "b");
  check_output(out, a.shape(), name);
  args.a = a.raw();
  args.b = b.raw();
  args.y = out.mutable_raw();
  args.op = op;
  const ElementwiseKernels& k = kernels();
  parallel_for(ctx, a.numel(), kGrain,
               [&](int64_t begin, int64_t end) { k.binary(args, begin, end); });
}

void run_unary(const ComputeContext& ctx, const Tensor& x, Tensor& out, UnaryArgs args,
               std::string_view name) {
  args.x_type = float_elem(x, name, "x");
  args.y_type = float_elem(out, name, "out");
  check_output(out, x.shape(), name);
  args.x = x.raw();
  args.y = out.mutable_raw();
  const ElementwiseKernels& k = kernels();
  parallel_for(ctx, x.numel(), kGrain,
               [&](int64_t begin, int64_t end) { k.unary(args, begin, end); });
}

}  // namespace

void add(const ComputeContext& ctx, const Tensor& a, const Tensor& b, Tensor& out) {
  run_binary(ctx, a, b, out, BinaryOp::Add, "add");
}
void mul(const ComputeContext& ctx, const Tensor& a, const Tensor& b, Tensor& out) {
  run_binary(ctx, a, b, out, BinaryOp::Mul, "mul");
}

void scale(const ComputeContext& ctx, const Tensor& x, float s, Tensor& out) {
  UnaryArgs args{};
  args.op = UnaryOp::Scale;
  args.s = s;
  run_unary(ctx, x, out, args, "scale");
}

void clamp(const ComputeContext& ctx, const Tensor& x, float lo, float hi, Tensor& out) {
  if (!(lo <= hi)) fail("clamp: lo (", lo, ") must not exceed hi (", hi, ")");
  UnaryArgs args{};
  args.op = UnaryOp::Clamp;
  args.lo = lo;
  args.hi = hi;
  run_unary(ctx, x, out, args, "clamp");
}

void add_gated(const ComputeContext& ctx, Tensor& x, const Tensor& y, const Tensor& gate) {
  constexpr std::string_view op = "add_gated";
  if (x.dtype() != DType::F32) fail(op, ": x must be f32, found ", name(x.dtype()));
  if (x.rank() < 1) fail(op, ": x must have at least one axis");
  if (gate.dtype() != DType::F32) fail(op, ": gate must be f32, found ", name(gate.dtype()));
  GatedArgs args{};
  args.y_type = float_elem(y, op, "y");
  check_same_shape(x, y, op, "x", "y");
  args.dim = x.dim(-1);
  const int64_t rows = args.dim == 0 ? 0 : x.numel() / args.dim;
  args.rows_per_gate = rows_per_vector(x, gate, op, "gate");
  args.x = x.mutable_data<float>();
  args.y = y.raw();
  args.gate = gate.data<float>();
  const ElementwiseKernels& k = kernels();
  parallel_for(ctx, rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(args.dim, 1)),
               [&](int64_t begin, int64_t end) { k.add_gated(args, begin, end); });
}

void convert_f32_to_bf16(const float* x, uint16_t* y, int64_t n) { kernels().f32_to_bf16(x, y, n); }
void convert_bf16_to_f32(const uint16_t* x, float* y, int64_t n) { kernels().bf16_to_f32(x, y, n); }

}  // namespace kinema::cpu
