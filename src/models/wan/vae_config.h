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

namespace wan_vae {
// Stage widths of an encoder [base, base*m0, ..., base*m_last] and of a decoder
// [base*m_last, base*m_last, ..., base*m0].
std::vector<int> encoder_widths(int base, const std::vector<int>& mult);
std::vector<int> decoder_widths(int base, const std::vector<int>& mult);
// Table pieces both Wan VAEs use (vae22_config.cpp too): a conv's weight and bias, a residual
// block (with its 1x1x1 shortcut when the widths differ), the middle [residual, attention,
// residual] at path.middle.
void add_conv(std::vector<ExpectedTensor>& t, const std::string& path, Shape weight);
void add_residual(std::vector<ExpectedTensor>& t, const std::string& path, int64_t cin,
                  int64_t cout);
void add_middle(std::vector<ExpectedTensor>& t, const std::string& path, int64_t c);
// The Diffusers renames both VAEs share, once a name's stage indices are in Diffusers' form:
// quant_conv/post_quant_conv, conv_in, norm1/conv1/norm2/conv2/conv_shortcut, mid_block,
// norm_out/conv_out, encoder.down_blocks.
std::string diffusers_block_name(const std::string& name);
}  // namespace wan_vae

// Resolves the config from the file: the Wan2.1 VAE, or (allow_custom) a narrower one of the
// same structure read from encoder.conv1's width.
WanVAEConfig resolve_wan_vae_config(const WeightFile& file, bool allow_custom);

}  // namespace kinema
