// The Wan2.1 causal video VAE (wan-spec section 5), f32 throughout. Encoding and decoding run
// chunk by chunk with a FrameCache, so memory is bounded by one chunk's activations whatever
// the clip length, and the results equal the official chunked computation.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "core/parallel.h"
#include "core/tensor.h"
#include "io/weight_file.h"
#include "kernels/cpu/conv.h"
#include "models/wan/frame_cache.h"
#include "models/wan/vae_config.h"

namespace kinema {

class WanVAE {
 public:
  WanVAE(const WeightFile& file, const WanVAEConfig& config);
  ~WanVAE();

  const WanVAEConfig& config() const { return config_; }

  // video: [3, F, H, W] f32 in [-1, 1], F = 4n+1, H and W multiples of 8
  // -> normalised latent mean [z_dim, n+1, H/8, W/8]
  Tensor encode(const ComputeContext& ctx, const Tensor& video) const;

  // latent: [z_dim, T, h, w] normalised -> video [3, 4(T-1)+1, 8h, 8w] clamped to [-1, 1].
  // on_frame, when set, is called after each latent frame is decoded (progress).
  Tensor decode(const ComputeContext& ctx, const Tensor& latent,
                const std::function<void(int64_t done, int64_t total)>& on_frame = {}) const;

  struct Modules;  // vae.cpp

 private:
  WanVAEConfig config_;
  std::unique_ptr<Modules> m_;
};

// [3, F, H, W] in [-1, 1] -> [F, H, W, 3] uint8 as the reference writes videos: clamp, (x+1)/2,
// times 255, truncated.
std::vector<uint8_t> video_to_rgb8(const Tensor& video);

}  // namespace kinema
