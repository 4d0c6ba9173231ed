#include "kernels/cpu/matmul.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/cpu.h"
#include "core/error.h"
#include "kernels/cpu/convert.h"
#include "kernels/cpu/matmul_direct.h"
#include "kernels/cpu/matmul_onednn.h"
#include "kernels/cpu/matmul_pack.h"

namespace kinema::cpu {
namespace {

// Up to this many rows, weights of another type go through the direct path (each weight row
// converted once, in cache, then dotted with every x row) instead of a converted copy and a GEMM.
// Measured on the FFN weight [8960, 1536] as Q8_0, 2 threads: the GEMM path takes 3.3 ms at any
// M up to 32 (converting and packing the weight), the direct one 2.0 ms at M = 1, 2.8 ms at 4,
// 3.8 ms at 8.
constexpr int64_t kDirectMaxRows = 4;

DType compute_type(MatmulPrecision precision) {
  return precision == MatmulPrecision::BF16 ? DType::BF16 : DType::F32;
}

// bf16 GEMMs need AVX512-BF16 or AMX (oneDNN has no bf16 kernels below that). Elsewhere, and
// when KINEMA_ISA caps the level below avx512bf16, BF16 precision runs as an f32 GEMM on operands
// rounded to bf16: the products of bf16 values are exact in f32, so only the summation order
// differs from a native bf16 GEMM.
bool native_bf16() {
  const CpuFeatures& f = cpu_features();
  return active_isa() >= Isa::Avx512Bf16 && (f.avx512bf16 || f.amx_bf16);
}

// `t` (any convertible type) as an f32 tensor of its values rounded through bf16.
Tensor rounded_through_bf16(const ComputeContext& ctx, const Tensor& t) {
  Tensor b = Tensor::empty(t.shape(), DType::BF16);
  convert(ctx, t, b);
  Tensor f = Tensor::empty(t.shape(), DType::F32);
  convert(ctx, b, f);
  return f;
}

size_t elem_bytes(DType d) { return size_t(traits(d).block_bytes); }

// Large temporaries (converted activations, a converted weight, an f32 staging output) are reused
// across calls, per calling thread: a fresh allocation would pay a page fault per 4 KiB each
// time. A buffer larger than kKeepBytes is freed when its lease ends.
class ScratchLease {
 public:
  enum Slot { kInput, kWeight, kOutput, kSlots };

  ScratchLease(Slot slot, size_t bytes) : buffer_(buffers()[slot]) {
    if (bytes > buffer_.capacity) {
      buffer_.data.reset(static_cast<std::byte*>(std::aligned_alloc(64, round_up(bytes))));
      if (!buffer_.data) fail("out of memory allocating ", bytes, " bytes of GEMM scratch");
      buffer_.capacity = bytes;
    }
  }
  ~ScratchLease() {
    if (buffer_.capacity > kKeepBytes) {
      buffer_.data.reset();
      buffer_.capacity = 0;
    }
  }
  ScratchLease(const ScratchLease&) = delete;
  ScratchLease& operator=(const ScratchLease&) = delete;

  void* get() const { return buffer_.data.get(); }

 private:
  // Enough for the converted FFN weight of a 14B model (141 MB in bf16).
  static constexpr size_t kKeepBytes = size_t(256) << 20;
  struct Free {
    void operator()(std::byte* p) const { std::free(p); }
  };
  struct Buffer {
    std::unique_ptr<std::byte, Free> data;
    size_t capacity = 0;
  };
  static std::array<Buffer, kSlots>& buffers() {
    thread_local std::array<Buffer, kSlots> b;
    return b;
  }
  static size_t round_up(size_t bytes) { return (bytes + 63) / 64 * 64; }

  Buffer& buffer_;
};

struct Dims {
  int64_t m, k, n;
};

bool is_f32_or_bf16(DType d) { return d == DType::F32 || d == DType::BF16; }

// x: [M, K] f32|bf16, w: [N, K], bias: [N] f32|bf16 or null -> y: [M, N] f32|bf16
Dims check_linear(const Tensor& x, const Shape& w_shape, DType w_dtype, const Tensor* bias,
                  const Tensor& y) {
  if (x.rank() != 2 || !is_f32_or_bf16(x.dtype()))
    fail("linear: x must be a [M, K] f32 or bf16 tensor, got ", x.shape().str(), " ",
         name(x.dtype()));
  Dims d{x.dim(0), x.dim(1), w_shape.rank() == 2 ? w_shape[0] : -1};
  if (w_shape.rank() != 2 || w_shape[1] != d.k)
    fail("linear: w must be [N, ", d.k, "] to match x ", x.shape().str(), ", got ", w_shape.str());
  if (!is_convertible(w_dtype)) fail("linear: cannot multiply by a ", name(w_dtype), " weight");
  if (bias && (bias->rank() != 1 || bias->dim(0) != d.n || !is_f32_or_bf16(bias->dtype())))
    fail("linear: bias must be a [", d.n, "] f32 or bf16 tensor, got ", bias->shape().str(), " ",
         name(bias->dtype()));
  if (y.shape() != Shape({d.m, d.n}) || !is_f32_or_bf16(y.dtype()))
    fail("linear: y must be a [", d.m, ", ", d.n, "] f32 or bf16 tensor, got ", y.shape().str(),
         " ", name(y.dtype()));
  if (!y.writable() && y.numel() > 0) fail("linear: y is a read-only view");
  return d;
}

// The bias as the GEMM adds it, in f32: autocast(bf16) casts it to bf16 like every other
// F.linear argument, so for BF16 it is rounded first.
std::vector<float> bias_values(const Tensor* bias, MatmulPrecision precision) {
  if (!bias) return {};
  std::vector<float> values = bias->to_f32_vector();
  if (precision == MatmulPrecision::BF16)
    for (float& v : values) v = bf16_to_f32(f32_to_bf16(v));
  return values;
}

// A [rows, cols] operand in the GEMM's input type: the tensor's own bytes when it already is
// of that type, else a converted copy in scratch.
const void* as_type(const ComputeContext& ctx, const Tensor& t, DType want, ScratchLease& lease) {
  if (t.dtype() == want) return t.raw();
  convert_rows(ctx, t.dtype(), t.raw(), want, lease.get(), t.dim(0), t.dim(1));
  return lease.get();
}

// Where the GEMM writes: y itself, or f32 staging when y is bf16 but the GEMM produces f32
// (oneDNN has no f32 x f32 -> bf16 matmul); finish() rounds the staging into y.
class Output {
 public:
  Output(const ComputeContext& ctx, Tensor& y, DType gemm_type)
      : ctx_(ctx),
        y_(y),
        staged_(gemm_type == DType::F32 && y.dtype() == DType::BF16),
        lease_(ScratchLease::kOutput, staged_ ? size_t(y.numel()) * 4 : 0) {}

  DType dtype() const { return staged_ ? DType::F32 : y_.dtype(); }
  void* data() { return staged_ ? lease_.get() : y_.mutable_raw(); }
  void finish() {
    if (staged_)
      convert_rows(ctx_, DType::F32, lease_.get(), DType::BF16, y_.mutable_raw(), y_.dim(0),
                   y_.dim(1));
  }

 private:
  const ComputeContext& ctx_;
  Tensor& y_;
  bool staged_;
  ScratchLease lease_;
};

// y = bias (or 0) when K = 0: an empty sum.
void fill_bias(const std::vector<float>& bias, Tensor& y) {
  for (int64_t i = 0; i < y.dim(0); ++i)
    for (int64_t j = 0; j < y.dim(1); ++j) {
      float v = bias.empty() ? 0.0f : bias[size_t(j)];
      size_t at = size_t(i * y.dim(1) + j);
      if (y.dtype() == DType::BF16)
        y.mutable_data<uint16_t>()[at] = f32_to_bf16(v);
      else
        y.mutable_data<float>()[at] = v;
    }
}

// y = x·wᵀ (+ bias) on oneDNN with the weight in the GEMM's type. Weights of another type are
// converted for the call into one scratch copy of the layer (not of the model), written straight
// into oneDNN's packed layout where that layout is known, as rows otherwise. Splitting N into
// panels would bound that copy further, but oneDNN 2.6 only runs its AMX kernels on a dense
// output: a panel writing into y's columns falls back to kernels 1.5x (plain rows) to 1000x
// (packed: the reference loop) slower.
void linear_gemm(const ComputeContext& ctx, Dims d, DType type, const void* x, const Tensor& w,
                 const float* bias, Output& out) {
  onednn::Gemm g{d.m, d.k, d.n, type, out.dtype(), onednn::BLayout::Transposed, bias != nullptr};
  // Weights already of the GEMM's type are used as they are: packing them per call costs about
  // what the packed GEMM saves (measured at M = 256..4096); PackedWeight packs once instead.
  if (w.dtype() == type) return onednn::run(ctx, g, x, w.raw(), bias, out.data());
  if (auto layout = onednn::packed_layout(d.k, d.n, type)) {
    ScratchLease lease(ScratchLease::kWeight, layout->bytes);
    pack_weight(ctx, w, type, *layout, lease.get());
    g.layout = onednn::BLayout::Packed;
    return onednn::run(ctx, g, x, lease.get(), bias, out.data());
  }
  ScratchLease lease(ScratchLease::kWeight, size_t(d.n * d.k) * elem_bytes(type));
  onednn::run(ctx, g, x, as_type(ctx, w, type, lease), bias, out.data());
}

// x as f32 values the way the GEMM would see them: rounded through bf16 for BF16.
std::vector<float> x_values(const Tensor& x, MatmulPrecision precision) {
  std::vector<float> values(size_t(x.numel()));
  std::vector<uint16_t> rounded;
  const void* src = x.raw();
  if (precision == MatmulPrecision::BF16 && x.dtype() == DType::F32) {
    rounded.resize(values.size());
    convert_row_to_bf16(DType::F32, src, rounded.data(), x.numel());
    src = rounded.data();
  }
  DType src_type = rounded.empty() ? x.dtype() : DType::BF16;
  convert_row_to_f32(src_type, src, values.data(), x.numel());
  return values;
}

}  // namespace

void linear(const ComputeContext& ctx, const Tensor& x, const Tensor& w, const Tensor* bias,
            Tensor& y, MatmulPrecision precision) {
  if (precision == MatmulPrecision::BF16 && !native_bf16()) {
    check_linear(x, w.shape(), w.dtype(), bias, y);
    Tensor rb = bias ? rounded_through_bf16(ctx, *bias) : Tensor();
    return linear(ctx, rounded_through_bf16(ctx, x), rounded_through_bf16(ctx, w),
                  bias ? &rb : nullptr, y, MatmulPrecision::F32);
  }
  Dims d = check_linear(x, w.shape(), w.dtype(), bias, y);
  if (d.m == 0 || d.n == 0) return;
  std::vector<float> b = bias_values(bias, precision);
  if (d.k == 0) return fill_bias(b, y);
  const float* bp = bias ? b.data() : nullptr;
  DType type = compute_type(precision);
  if (w.dtype() != type && d.m <= kDirectMaxRows) {
    std::vector<float> xv = x_values(x, precision);
    linear_small_m(ctx, xv.data(), w, bp, precision == MatmulPrecision::BF16, y);
    return;
  }
  ScratchLease x_lease(ScratchLease::kInput,
                       x.dtype() == type ? 0 : size_t(d.m * d.k) * elem_bytes(type));
  const void* xp = as_type(ctx, x, type, x_lease);
  Output out(ctx, y, type);
  linear_gemm(ctx, d, type, xp, w, bp, out);
  out.finish();
}

// ---- PackedWeight ----

// A packed weight holds its values in exactly the layout the per-call path of linear() would give
// the GEMM for the same stored weight, so that packing never changes a result (oneDNN picks its
// kernel, and so its summation order, by layout): weights already of the GEMM's type stay rows
// (no copy at all), other types are converted into oneDNN's blocked layout where it is known and
// into rows where it is not, and emulated bf16 keeps f32 rows of bf16-rounded values.
struct PackedWeight::Impl {
  int64_t n = 0, k = 0;
  MatmulPrecision precision = MatmulPrecision::F32;
  bool emulated = false;  // BF16 without native bf16: f32 values rounded through bf16
  onednn::BLayout layout = onednn::BLayout::Transposed;
  size_t bytes = 0;                  // of the copy; 0 when the weight is used as it is
  std::shared_ptr<std::byte> data;   // the packed copy, if any
  Tensor rows;                       // Transposed: the [N, K] rows the GEMM reads
  Tensor source;                     // the weight as stored (the direct path for tiny M)
};

PackedWeight PackedWeight::pack(const ComputeContext& ctx, const Tensor& w,
                                MatmulPrecision precision) {
  if (w.rank() != 2 || w.dim(0) == 0 || w.dim(1) == 0)
    fail("PackedWeight: w must be a non-empty [N, K] tensor, got ", w.shape().str());
  if (!is_convertible(w.dtype())) fail("PackedWeight: cannot pack a ", name(w.dtype()), " weight");
  auto impl = std::make_shared<Impl>();
  impl->n = w.dim(0);
  impl->k = w.dim(1);
  impl->precision = precision;
  impl->source = w;
  const DType type = compute_type(precision);
  if (precision == MatmulPrecision::BF16 && !native_bf16()) {
    impl->emulated = true;
    impl->rows = rounded_through_bf16(ctx, w);
    impl->bytes = impl->rows.nbytes();
  } else if (w.dtype() == type) {
    impl->rows = w;  // as linear() uses it: nothing to convert, nothing to copy
  } else if (auto layout = onednn::packed_layout(impl->k, impl->n, type)) {
    impl->layout = onednn::BLayout::Packed;
    impl->bytes = layout->bytes;
    impl->data.reset(static_cast<std::byte*>(std::aligned_alloc(64, (impl->bytes + 63) / 64 * 64)),
                     [](std::byte* p) { std::free(p); });
    if (!impl->data) fail("out of memory packing a ", w.shape().str(), " weight");
    pack_weight(ctx, w, type, *layout, impl->data.get());
  } else {
    impl->rows = Tensor::empty(w.shape(), type);
    convert_rows(ctx, w.dtype(), w.raw(), type, impl->rows.mutable_raw(), impl->n, impl->k);
    impl->bytes = impl->rows.nbytes();
  }
  PackedWeight packed;
  packed.impl_ = std::move(impl);
  return packed;
}

int64_t PackedWeight::out_features() const { return impl_ ? impl_->n : 0; }
int64_t PackedWeight::in_features() const { return impl_ ? impl_->k : 0; }
MatmulPrecision PackedWeight::precision() const {
  return impl_ ? impl_->precision : MatmulPrecision::F32;
}
size_t PackedWeight::nbytes() const { return impl_ ? impl_->bytes : 0; }

void linear(const ComputeContext& ctx, const Tensor& x, const PackedWeight& w, const Tensor* bias,
            Tensor& y) {
  if (!w.defined()) fail("linear: the packed weight is empty");
  const PackedWeight::Impl& p = *w.impl_;
  const DType type = compute_type(p.precision);
  // Where the per-call path would not run a GEMM on these values, neither does this one.
  if (p.emulated || x.rank() != 2 || (p.source.dtype() != type && x.dim(0) <= kDirectMaxRows) ||
      p.layout == onednn::BLayout::Transposed) {
    if (p.emulated) {
      check_linear(x, Shape({p.n, p.k}), DType::F32, bias, y);
      Tensor rb = bias ? rounded_through_bf16(ctx, *bias) : Tensor();
      return linear(ctx, rounded_through_bf16(ctx, x), p.rows, bias ? &rb : nullptr, y,
                    MatmulPrecision::F32);
    }
    const bool direct = x.rank() == 2 && p.source.dtype() != type && x.dim(0) <= kDirectMaxRows;
    return linear(ctx, x, direct ? p.source : p.rows, bias, y, p.precision);
  }
  Dims d = check_linear(x, Shape({p.n, p.k}), type, bias, y);
  if (d.m == 0) return;
  std::vector<float> b = bias_values(bias, p.precision);
  const float* bp = bias ? b.data() : nullptr;
  ScratchLease x_lease(ScratchLease::kInput,
                       x.dtype() == type ? 0 : size_t(d.m * d.k) * elem_bytes(type));
  const void* xp = as_type(ctx, x, type, x_lease);
  Output out(ctx, y, type);
  onednn::Gemm g{d.m, d.k, d.n, type, out.dtype(), onednn::BLayout::Packed, bp != nullptr};
  onednn::run(ctx, g, xp, p.data.get(), bp, out.data());
  out.finish();
}

// ---- matmul ----

// a: [M, K], b: [K, N] (same type, f32|bf16) -> c: [M, N] f32|bf16
void matmul(const ComputeContext& ctx, const Tensor& a, const Tensor& b, Tensor& c) {
  if (a.rank() != 2 || b.rank() != 2 || a.dim(1) != b.dim(0))
    fail("matmul: expected a [M, K] and b [K, N], got ", a.shape().str(), " and ", b.shape().str());
  if (!is_f32_or_bf16(a.dtype()) || a.dtype() != b.dtype())
    fail("matmul: a and b must both be f32 or both bf16, got ", name(a.dtype()), " and ",
         name(b.dtype()));
  int64_t m = a.dim(0), k = a.dim(1), n = b.dim(1);
  if (c.shape() != Shape({m, n}) || !is_f32_or_bf16(c.dtype()))
    fail("matmul: c must be a [", m, ", ", n, "] f32 or bf16 tensor, got ", c.shape().str(), " ",
         name(c.dtype()));
  if (m == 0 || n == 0) return;
  if (k == 0) return fill_bias({}, c);
  if (a.dtype() == DType::BF16 && !native_bf16()) {
    Tensor af = Tensor::empty(a.shape(), DType::F32), bf = Tensor::empty(b.shape(), DType::F32);
    convert(ctx, a, af);
    convert(ctx, b, bf);
    return matmul(ctx, af, bf, c);
  }
  Output out(ctx, c, a.dtype());
  onednn::Gemm g{m, k, n, a.dtype(), out.dtype(), onednn::BLayout::Plain, false};
  onednn::run(ctx, g, a.raw(), b.raw(), nullptr, out.data());
  out.finish();
}

std::string linear_implementation(const ComputeContext& ctx, int64_t m, int64_t k, int64_t n,
                                  MatmulPrecision precision) {
  DType type = compute_type(precision);
  onednn::Gemm g{m, k, n, type, DType::F32, onednn::BLayout::Transposed, false};
  return onednn::implementation(ctx, g);
}

}  // namespace kinema::cpu
