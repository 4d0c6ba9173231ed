// Elementwise arithmetic, the gated residual, f32 <-> bf16 conversion and clamping.
//
// Tensor operands are f32 or bf16 unless stated; arithmetic is f32 and a bf16 output rounds once
// (to nearest even, as torch). `out` may alias an input. Plain reference path under
// KINEMA_ISA=generic, AVX2 / AVX-512 otherwise; threaded in chunks of ~32K elements.
#pragma once

#include <cstdint>

#include "core/parallel.h"
#include "core/tensor.h"

namespace kinema::cpu {

// a, b, out: same shape, each f32|bf16.
void add(const ComputeContext& ctx, const Tensor& a, const Tensor& b, Tensor& out);
void mul(const ComputeContext& ctx, const Tensor& a, const Tensor& b, Tensor& out);
// out = x * s. x, out: same shape, f32|bf16.
void scale(const ComputeContext& ctx, const Tensor& x, float s, Tensor& out);
// out = min(max(x, lo), hi); NaN stays NaN (torch.clamp). x, out: same shape, f32|bf16.
void clamp(const ComputeContext& ctx, const Tensor& x, float lo, float hi, Tensor& out);
// (Tensor dtype conversion is cpu::convert in convert.h.)

// The DiT's gated residual, in place: x = x + y * gate, the product rounded to f32 before the sum
// as torch evaluates it.
// x: [B, ..., D] f32; y: same shape, f32|bf16; gate: [D] or [B, 1, D] / [B, D] f32 (per batch item)
void add_gated(const ComputeContext& ctx, Tensor& x, const Tensor& y, const Tensor& gate);

// Raw single-threaded conversions for other kernels' inner loops.
void convert_f32_to_bf16(const float* x, uint16_t* y, int64_t n);
void convert_bf16_to_f32(const uint16_t* x, float* y, int64_t n);

}  // namespace kinema::cpu
