// Nearest-neighbour 2x spatial upsampling (the Wan VAE's Upsample(scale_factor=(2, 2),
// mode='nearest-exact'), which for an integer factor of 2 equals plain nearest).
#pragma once

#include "core/parallel.h"
#include "core/tensor.h"

namespace kinema::cpu {

// out[..., 2h + i, 2w + j] = x[..., h, w] for i, j in {0, 1}; applied per frame of a video.
// x: [..., H, W] f32 -> out: [..., 2H, 2W] f32
void upsample_nearest2x(const ComputeContext& ctx, const Tensor& x, Tensor& out);
Tensor upsample_nearest2x(const ComputeContext& ctx, const Tensor& x);

}  // namespace kinema::cpu
