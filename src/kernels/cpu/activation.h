// Activations (GELU variants, SiLU) and the vectorised elementary functions behind them.
//
// Tensor operands are f32 or bf16. Math is f32 and each fused activation rounds once, when it
// stores a bf16 output; `out` may be `x` itself when the dtypes match. Every function has a
// plain reference path (KINEMA_ISA=generic) and AVX2 / AVX-512 paths.
#pragma once

#include <cstdint>

#include "core/parallel.h"
#include "core/tensor.h"

namespace kinema::cpu {

// GELU, tanh approximation (nn.GELU(approximate='tanh')), fused: the Wan DiT FFN and text
// embedding. x: any shape, f32|bf16 -> out: same shape, f32|bf16.
void gelu_tanh(const ComputeContext& ctx, const Tensor& x, Tensor& out);
// Exact GELU 0.5 x (1 + erf(x/sqrt 2)): the I2V image MLP. x -> out as gelu_tanh.
void gelu_erf(const ComputeContext& ctx, const Tensor& x, Tensor& out);
// SiLU x * sigmoid(x): the time embedding and the VAE. x -> out as gelu_tanh.
void silu(const ComputeContext& ctx, const Tensor& x, Tensor& out);

// umT5's hand-written GELU, op by op on bf16 with a bf16 rounding after every operation.
// x: any shape, bf16 -> out: same shape, bf16.
void gelu_tanh_t5(const ComputeContext& ctx, const Tensor& x, Tensor& out);
// The umT5 gated feed-forward product fc1(u) * gelu_t5(gate(u)) in bf16 (one rounding for the
// product, after gelu_tanh_t5's own). a, b: same shape, bf16 -> out: same shape, bf16.
void gated_gelu_t5(const ComputeContext& ctx, const Tensor& a, const Tensor& b, Tensor& out);

// Elementwise f32 functions on raw arrays (single-threaded; y may equal x). Accuracy: exp about
// 1 ulp, tanh and erf a few ulp (bounds asserted in tests/kernels/test_activation.cpp); exp
// flushes results below 1e-45 to zero.
void exp_f32(const float* x, float* y, int64_t n);
void tanh_f32(const float* x, float* y, int64_t n);
void erf_f32(const float* x, float* y, int64_t n);

}  // namespace kinema::cpu
