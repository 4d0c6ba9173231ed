// The Wan2.1 VAE configuration and its tensor table (wan-spec 5.1, 5.7).
#pragma once

#include <array>
#include <string>
#include <vector>

#include "models/weight_table.h"

namespace kinema {

struct WanVAEConfig {
  int base_dim = 96;
  int z_dim = 16;
  std::vector<int> dim_mult = {1, 2, 4, 4};
  int num_res_blocks = 2;
  std::vector<bool> temporal_downsample = {false, true, true};

  // Channel widths of the encoder stages [base * 1, base * m0, ...] and of the decoder.
  std::vector<int> encoder_dims() const;
  std::vector<int> decoder_dims() const;
  // Pixels per latent cell: 2 per spatial downsampling stage (8 for Wan2.1), and frames per
  // latent frame after the first: 2 per temporal downsampling stage (4).
  int space_stride() const { return 1 << (int(dim_mult.size()) - 1); }
  int time_stride() const;
};

// The latent normalisation constants of Wan2.1 (WanVAE.__init__), per channel.
extern const std::array<float, 16> kWan21LatentMean;
extern const std::array<float, 16> kWan21LatentStd;

std::vector<ExpectedTensor> wan_vae_tensors(const WanVAEConfig& config);
// Official (= ComfyUI) names, and Diffusers names.
std::vector<WeightLayout> wan_vae_layouts(const WanVAEConfig& config);
const std::vector<std::string>& wan_vae_prefixes();

// Resolves the config from the file: the Wan2.1 VAE, or (allow_custom) a narrower one of the
// same structure read from encoder.conv1's width.
WanVAEConfig resolve_wan_vae_config(const WeightFile& file, bool allow_custom);

}  // namespace kinema
