// The Wan2.2 VAE (48 latent channels, 4x16x16; docs/wan22-spec.md section 4): its configuration,
// resolved from tensor shapes, and its tensor table in the official (= ComfyUI) and Diffusers
// layouts. It mirrors Wan-Video/Wan2.2 wan/modules/vae2_2.py (Wan2_2_VAE, WanVAE_).
#pragma once

#include <array>
#include <string>
#include <vector>

#include "models/weight_table.h"

namespace kinema {

struct WanVAE22Config {
  int encoder_dim = 160;  // Wan2_2_VAE's c_dim
  int decoder_dim = 256;  // WanVAE_'s dec_dim, a default the official loader never overrides
  int z_dim = 48;
  std::vector<int> dim_mult = {1, 2, 4, 4};
  int num_res_blocks = 2;
  std::vector<bool> temporal_downsample = {false, true, true};
  int patch = 2;  // pixels are space-to-channel patchified 2x2 (3 -> 12 channels) first

  // Widths of the encoder [E, E*m0, ..., E*m_last] and decoder [D*m_last, D*m_last, ..., D*m0].
  std::vector<int> encoder_dims() const;
  std::vector<int> decoder_dims() const;
  int stages() const { return int(dim_mult.size()); }
  // Encoder stage i halves time (its decoder mirror, stage stages()-1-i, doubles it).
  bool temporal(int encoder_stage) const;
  int pixel_channels() const { return 3 * patch * patch; }
  // Pixels per latent cell (16) and frames per latent frame after the first (4).
  int space_stride() const { return patch << (stages() - 1); }
  int time_stride() const;
};

// Wan2_2_VAE.__init__'s latent normalisation, per channel.
extern const std::array<float, 48> kWan22LatentMean;
extern const std::array<float, 48> kWan22LatentStd;

// The module path of block `index` of an encoder or decoder stage:
// encoder.downsamples.S.downsamples.J or decoder.upsamples.S.upsamples.J.
std::string wan_vae22_block(bool encoder, int stage, int index);

std::vector<ExpectedTensor> wan_vae22_tensors(const WanVAE22Config& config);
// Official (= ComfyUI's wan2.2_vae) names, and Diffusers names (convert_vae_22).
std::vector<WeightLayout> wan_vae22_layouts(const WanVAE22Config& config);

// Whether the file's first encoder conv takes 12 channels (patchified pixels): the Wan2.2 VAE,
// not the Wan2.1 one (3 channels).
bool holds_wan_vae22(const WeightFile& file);
// The Wan2.2 VAE's widths from encoder.conv1 and decoder.conv1 (any layout and prefix): the
// official VAE, or (allow_custom) narrower ones of the same structure. The latent must have 48
// channels (the normalisation constants are per channel).
WanVAE22Config resolve_wan_vae22_config(const WeightFile& file, bool allow_custom);

}  // namespace kinema
