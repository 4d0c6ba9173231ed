// Linear layers and matrix products: oneDNN GEMMs (AMX, AVX512-BF16 or AVX-512, whatever the
// processor has) fed by the vectorised converters (convert.h) for weights stored in any other
// type, f16, fp8 and the GGUF block types included.
//
// Precision follows PyTorch 1.13 on the CPU, checked against it in tests/kernels/test_matmul.cpp:
//   F32:  x, w and bias taken as f32 exactly; f32 products and sums (the Wan VAE, the DiT's time
//         embedding and head). A bf16 y is rounded once at the end.
//   BF16: x, w and bias rounded to bf16, as autocast(bf16) casts every F.linear argument; the
//         products are summed in f32, the bias is added in f32 to that sum, and a bf16 y is
//         rounded once from it. This is what torch's bf16 addmm (oneDNN with a fused sum) does:
//         round(x·wᵀ + b), not round(round(x·wᵀ) + b).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/parallel.h"
#include "core/tensor.h"

namespace kinema::cpu {

enum class MatmulPrecision { F32, BF16 };

// A Linear weight converted to its GEMM type and laid out in oneDNN's preferred blocked format
// once, at load time. Optional: linear() takes plain weights too; packing trades memory (the
// packed copy is f32 or bf16, larger than a quantized weight) for a faster GEMM. A packed weight
// gives exactly the results of the plain one (same layout, same kernel), and a weight already of
// the GEMM's type is not copied at all (nbytes() is 0).
class PackedWeight {
 public:
  PackedWeight() = default;
  // w: [N, K] of any type convert.h reads
  static PackedWeight pack(const ComputeContext& ctx, const Tensor& w, MatmulPrecision precision);

  bool defined() const { return impl_ != nullptr; }
  int64_t out_features() const;  // N
  int64_t in_features() const;   // K
  MatmulPrecision precision() const;
  size_t nbytes() const;  // of the copy made; 0 when the stored weight is used as it is

 private:
  friend void linear(const ComputeContext&, const Tensor&, const PackedWeight&, const Tensor*,
                     Tensor&);
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

// y = x·wᵀ + bias, as torch's F.linear.
// x: [M, K] f32|bf16, w: [N, K] f32|bf16|f16|f8_e4m3|f8_e5m2|q8_0|q4_0|q4_k|q5_k|q6_k,
// bias: [N] f32|bf16 or null -> y: [M, N] f32|bf16 (preallocated; its type is the output type)
void linear(const ComputeContext& ctx, const Tensor& x, const Tensor& w, const Tensor* bias,
            Tensor& y, MatmulPrecision precision);
// The same with a packed weight, in the precision it was packed for.
void linear(const ComputeContext& ctx, const Tensor& x, const PackedWeight& w, const Tensor* bias,
            Tensor& y);

// c = a·b with f32 accumulation; bf16 inputs are multiplied exactly, a bf16 c is rounded once.
// a: [M, K], b: [K, N], both f32 or both bf16 -> c: [M, N] f32|bf16 (preallocated)
void matmul(const ComputeContext& ctx, const Tensor& a, const Tensor& b, Tensor& c);

// The plain reference for linear(): the operands as `precision` sees them (core's scalar
// conversions, bf16 rounding for BF16), sums in f64, one rounding to y's type. The test oracle
// for weight types PyTorch does not have.
void linear_reference(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                      MatmulPrecision precision);

// What oneDNN runs for a linear of this shape and type (e.g. "brg:avx512_core_amx_bf16"), for
// benchmarks and `kinema system`.
std::string linear_implementation(const ComputeContext& ctx, int64_t m, int64_t k, int64_t n,
                                  MatmulPrecision precision);

}  // namespace kinema::cpu
