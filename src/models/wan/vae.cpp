#include "models/wan/vae.h"

#include "models/wan/vae_blocks.h"

namespace kinema {

using wan_vae::Layer;

struct WanVAE::Modules {
  wan_vae::Trunk trunk;
  std::vector<Layer> enc_down, dec_up;
};

WanVAE::WanVAE(const WeightFile& file, const WanVAEConfig& config)
    : config_(config), m_(std::make_unique<Modules>()) {
  BoundWeights w = bind_weights(file, "Wan VAE", wan_vae_tensors(config), wan_vae_layouts(config),
                                wan_vae_prefixes());
  Modules& m = *m_;
  wan_vae::BlockBuilder b(w, m.trunk.cache_layout);
  m.trunk.build(b);
  m.trunk.mean = kWan21LatentMean;
  m.trunk.std = kWan21LatentStd;
  using Mode = wan_vae::Resample::Mode;

  auto enc = config.encoder_dims();
  int idx = 0;
  for (size_t i = 0; i + 1 < enc.size(); ++i) {
    for (int r = 0; r < config.num_res_blocks; ++r)
      m.enc_down.push_back(
          {b.res_block("encoder.downsamples." + std::to_string(idx++)), nullptr, nullptr});
    if (i + 2 < enc.size()) {
      Mode mode = config.temporal_downsample[i] ? Mode::Down3d : Mode::Down2d;
      m.enc_down.push_back(
          {nullptr, nullptr, b.resample("encoder.downsamples." + std::to_string(idx++), mode)});
    }
  }
  auto dec = config.decoder_dims();
  idx = 0;
  for (size_t i = 0; i + 1 < dec.size(); ++i) {
    for (int r = 0; r <= config.num_res_blocks; ++r)
      m.dec_up.push_back(
          {b.res_block("decoder.upsamples." + std::to_string(idx++)), nullptr, nullptr});
    if (i + 2 < dec.size()) {
      bool temporal = config.temporal_downsample[config.temporal_downsample.size() - 1 - i];
      m.dec_up.push_back({nullptr, nullptr,
                          b.resample("decoder.upsamples." + std::to_string(idx++),
                                     temporal ? Mode::Up3d : Mode::Up2d)});
    }
  }
}

WanVAE::~WanVAE() = default;

Tensor WanVAE::encode(const ComputeContext& ctx, const Tensor& video) const {
  if (video.rank() != 4 || video.dim(0) != 3 || video.dtype() != DType::F32 ||
      (video.dim(1) - 1) % 4 != 0 || video.dim(2) % 8 || video.dim(3) % 8)
    fail("Wan VAE encode: expected an f32 video [3, 4n+1, H, W] with H, W multiples of 8, got ",
         video.shape().str());
  const Modules& m = *m_;
  return m.trunk.encode(ctx, video.reshape({1, 3, video.dim(1), video.dim(2), video.dim(3)}), 4,
                        [&](const Tensor& x, FrameCache::State& s) {
                          return wan_vae::run_layers(ctx, m.enc_down, x, s);
                        });
}

void WanVAE::decode_stream(const ComputeContext& ctx, const Tensor& latent,
                           const std::function<void(const Tensor&)>& sink) const {
  const int64_t z = config_.z_dim;
  if (latent.rank() != 4 || latent.dim(0) != z || latent.dtype() != DType::F32)
    fail("Wan VAE decode: expected an f32 latent [", z, ", T, h, w], got ", latent.shape().str());
  const Modules& m = *m_;
  m.trunk.decode(
      ctx, latent,
      [&](const Tensor& x, FrameCache::State& s, bool) {
        return wan_vae::run_layers(ctx, m.dec_up, x, s);
      },
      [](const Tensor& head) { return head; }, sink);
}

Tensor WanVAE::decode(const ComputeContext& ctx, const Tensor& latent,
                      const std::function<void(int64_t, int64_t)>& on_frame) const {
  return wan_vae::collect_frames(
      latent.rank() == 4 ? latent.dim(1) : 0,
      [&](const std::function<void(const Tensor&)>& sink) { decode_stream(ctx, latent, sink); },
      on_frame);
}

}  // namespace kinema
