// The Wan2.2 causal video VAE (docs/wan22-spec.md section 4): 48 latent channels, 4x in time and
// 16x in space, used by TI2V-5B. f32 throughout. Like the Wan2.1 VAE (vae.h) it encodes and
// decodes chunk by chunk with a FrameCache, so memory is bounded by one chunk's activations, and
// the results equal the official chunked computation.
#pragma once

#include <functional>
#include <memory>

#include "core/parallel.h"
#include "core/tensor.h"
#include "io/weight_file.h"
#include "models/wan/vae22_config.h"

namespace kinema {

class WanVAE22 {
 public:
  WanVAE22(const WeightFile& file, const WanVAE22Config& config);
  ~WanVAE22();

  const WanVAE22Config& config() const { return config_; }

  // video: [3, F, H, W] f32 in [-1, 1], F = 4n+1, H and W multiples of 16
  // -> normalised latent mean [48, n+1, H/16, W/16]
  Tensor encode(const ComputeContext& ctx, const Tensor& video) const;

  // latent: [48, T, h, w] normalised -> video [3, 4(T-1)+1, 16h, 16w] clamped to [-1, 1].
  // on_frame, when set, is called after each latent frame is decoded (progress).
  Tensor decode(const ComputeContext& ctx, const Tensor& latent,
                const std::function<void(int64_t done, int64_t total)>& on_frame = {}) const;

  // The same, streaming: `sink` receives the frames of each latent frame as soon as they are
  // decoded, [3, n, 16h, 16w] clamped to [-1, 1] (n = 1 for the first latent frame, 4 after), in
  // order. A non-finite value in the decoder's output is an error naming the frames.
  void decode_stream(const ComputeContext& ctx, const Tensor& latent,
                     const std::function<void(const Tensor& frames)>& sink) const;

  struct Modules;  // vae22.cpp

 private:
  WanVAE22Config config_;
  std::unique_ptr<Modules> m_;
};

// The VAE's pixel (un)patchify, exposed for tests: [1, 3, T, H, W] <-> [1, 12, T, H/2, W/2],
// channel c*4 + 2*(column offset) + (row offset).
Tensor wan22_patchify(const ComputeContext& ctx, const Tensor& video);
Tensor wan22_unpatchify(const ComputeContext& ctx, const Tensor& x);

}  // namespace kinema
