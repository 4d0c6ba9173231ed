// Normalisations: LayerNorm (plain, affine, and fused with the DiT's adaptive modulation),
// RMSNorm (umT5, Wan q/k, plain f32) and the Wan VAE's channel-first RMS_norm.
//
// Tensor operands are f32 or bf16 as stated; statistics and arithmetic are f32. `out` may be `x`
// when the dtypes match. Each op has a plain reference path (KINEMA_ISA=generic) and AVX2 /
// AVX-512 paths, threaded over rows (or positions).
#pragma once

#include "core/parallel.h"
#include "core/tensor.h"

namespace kinema::cpu {

// Where the reference rounds the normalised value to bf16 before its next multiply: Wan's
// WanRMSNorm and umT5's T5LayerNorm always do (`.type_as`), and the DiT's LN1 does in block 0,
// where the residual stream is still bf16.
enum class NormRounding { None, Bf16 };

// torch.nn.functional.layer_norm over the last axis, biased variance.
// x: [..., D] f32|bf16; weight, bias: [D] f32, or both undefined (no affine)
// -> out: [..., D] f32|bf16
void layer_norm(const ComputeContext& ctx, const Tensor& x, const Tensor& weight,
                const Tensor& bias, float eps, Tensor& out);

// The DiT's modulated LayerNorm: out = n * (1 + scale) + shift with n = LN(x) (no affine),
// rounded to bf16 first under NormRounding::Bf16.
// x: [B, ..., D] f32|bf16; scale, shift: [D] or [B, 1, D] / [B, D] f32 (per batch item)
// -> out: [B, ..., D] f32|bf16
void ln_modulate(const ComputeContext& ctx, const Tensor& x, const Tensor& scale,
                 const Tensor& shift, float eps, NormRounding rounding, Tensor& out);

// RMSNorm over the last axis: n = x / sqrt(mean(x^2) + eps) in f32, optionally rounded to bf16,
// then out = n * weight. umT5: x, weight, out bf16 with NormRounding::Bf16 (the product of two
// bf16 values is exact in f32, so out rounds once as torch's bf16 multiply does). Wan q/k norm
// (across all heads): x bf16, weight f32, out f32, NormRounding::Bf16.
// x: [..., D] f32|bf16; weight: [D] f32|bf16 -> out: [..., D] f32|bf16
void rms_norm(const ComputeContext& ctx, const Tensor& x, const Tensor& weight, float eps,
              NormRounding rounding, Tensor& out);

// What channel_rms_norm applies after normalising.
enum class ChannelNormAct { None, Silu };

// The Wan VAE's RMS_norm, channel-first: at every position, out = x / max(||x||_2 over C, 1e-12)
// * sqrt(C) * gamma[c]; with ChannelNormAct::Silu, SiLU of that (the VAE always follows its
// norms with SiLU, so the fused form saves a pass over the activations).
// x: [N, C, *spatial] f32; gamma: [C] f32 (the checkpoint's [C, 1, 1(, 1)] flattened)
// -> out: same shape as x, f32
void channel_rms_norm(const ComputeContext& ctx, const Tensor& x, const Tensor& gamma,
                      ChannelNormAct act, Tensor& out);

}  // namespace kinema::cpu
