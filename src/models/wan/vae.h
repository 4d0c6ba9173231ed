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

  // The same, streaming: `sink` receives the frames of each latent frame as soon as they are
  // decoded, [3, n, 8h, 8w] clamped to [-1, 1] (n = 1 for the first latent frame, 4 after), in
  // order; memory stays bounded by one chunk. A non-finite value in the decoder's output is an
  // error naming the frames (clamping would turn a NaN into a silent black pixel).
  void decode_stream(const ComputeContext& ctx, const Tensor& latent,
                     const std::function<void(const Tensor& frames)>& sink) const;

  struct Modules;  // vae.cpp

 private:
  WanVAEConfig config_;
  std::unique_ptr<Modules> m_;
};

}  // namespace kinema
