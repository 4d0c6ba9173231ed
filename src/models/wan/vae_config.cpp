#include "models/wan/vae_config.h"

#include "core/error.h"

namespace kinema {

const std::array<float, 16> kWan21LatentMean = {
    -0.7571f, -0.7089f, -0.9113f, 0.1075f,  -0.1745f, 0.9653f,  -0.1517f, 1.5508f,
    0.4134f,  -0.0715f, 0.5517f,  -0.3632f, -0.1922f, -0.9497f, 0.2503f,  -0.2921f};
const std::array<float, 16> kWan21LatentStd = {2.8184f, 1.4541f, 2.3275f, 2.6558f, 1.2196f, 1.7708f,
                                               2.6052f, 2.0743f, 3.2687f, 2.1526f, 2.8652f, 1.5579f,
                                               1.6382f, 1.1253f, 2.8251f, 1.9160f};

std::vector<int> WanVAEConfig::encoder_dims() const {
  return wan_vae::encoder_widths(base_dim, dim_mult);
}

std::vector<int> WanVAEConfig::decoder_dims() const {
  return wan_vae::decoder_widths(base_dim, dim_mult);
}

int WanVAEConfig::time_stride() const {
  int stride = 1;
  for (bool t : temporal_downsample) stride *= t ? 2 : 1;
  return stride;
}

namespace wan_vae {

std::vector<int> encoder_widths(int base, const std::vector<int>& mult) {
  std::vector<int> dims = {base};
  for (int m : mult) dims.push_back(base * m);
  return dims;
}

std::vector<int> decoder_widths(int base, const std::vector<int>& mult) {
  std::vector<int> dims = {base * mult.back()};
  for (auto it = mult.rbegin(); it != mult.rend(); ++it) dims.push_back(base * *it);
  return dims;
}

void add_conv(std::vector<ExpectedTensor>& t, const std::string& p, Shape w) {
  t.push_back({p + ".weight", w});
  t.push_back({p + ".bias", {w[0]}});
}

void add_residual(std::vector<ExpectedTensor>& t, const std::string& p, int64_t cin, int64_t cout) {
  t.push_back({p + ".residual.0.gamma", {cin, 1, 1, 1}});
  add_conv(t, p + ".residual.2", {cout, cin, 3, 3, 3});
  t.push_back({p + ".residual.3.gamma", {cout, 1, 1, 1}});
  add_conv(t, p + ".residual.6", {cout, cout, 3, 3, 3});
  if (cin != cout) add_conv(t, p + ".shortcut", {cout, cin, 1, 1, 1});
}

void add_middle(std::vector<ExpectedTensor>& t, const std::string& p, int64_t c) {
  add_residual(t, p + ".middle.0", c, c);
  t.push_back({p + ".middle.1.norm.gamma", {c, 1, 1}});
  add_conv(t, p + ".middle.1.to_qkv", {3 * c, c, 1, 1});
  add_conv(t, p + ".middle.1.proj", {c, c, 1, 1});
  add_residual(t, p + ".middle.2", c, c);
}

std::string diffusers_block_name(const std::string& name) {
  static const std::vector<std::pair<std::string_view, std::string_view>> inner = {
      {".residual.0.", ".norm1."},
      {".residual.2.", ".conv1."},
      {".residual.3.", ".norm2."},
      {".residual.6.", ".conv2."},
      {".shortcut.", ".conv_shortcut."},
      {".middle.0.", ".mid_block.resnets.0."},
      {".middle.1.", ".mid_block.attentions.0."},
      {".middle.2.", ".mid_block.resnets.1."},
      {".head.0.", ".norm_out."},
      {".head.2.", ".conv_out."},
      {"encoder.conv1.", "encoder.conv_in."},
      {"decoder.conv1.", "decoder.conv_in."},
      {"encoder.downsamples.", "encoder.down_blocks."}};
  if (name.rfind("conv1.", 0) == 0) return "quant_conv." + name.substr(6);
  if (name.rfind("conv2.", 0) == 0) return "post_quant_conv." + name.substr(6);
  return replace_all_in_order(name, inner);
}

}  // namespace wan_vae

namespace {

using Table = std::vector<ExpectedTensor>;
using wan_vae::add_conv;
using wan_vae::add_middle;
using wan_vae::add_residual;

}  // namespace

std::vector<ExpectedTensor> wan_vae_tensors(const WanVAEConfig& c) {
  Table t;
  const int64_t z = c.z_dim;
  auto enc = c.encoder_dims();
  add_conv(t, "encoder.conv1", {enc[0], 3, 3, 3, 3});
  int idx = 0;
  for (size_t i = 0; i + 1 < enc.size(); ++i) {
    int64_t cin = enc[i], cout = enc[i + 1];
    for (int r = 0; r < c.num_res_blocks; ++r, cin = cout)
      add_residual(t, "encoder.downsamples." + std::to_string(idx++), cin, cout);
    if (i + 2 < enc.size()) {
      std::string p = "encoder.downsamples." + std::to_string(idx++);
      add_conv(t, p + ".resample.1", {cout, cout, 3, 3});
      if (c.temporal_downsample[i]) add_conv(t, p + ".time_conv", {cout, cout, 3, 1, 1});
    }
  }
  add_middle(t, "encoder", enc.back());
  t.push_back({"encoder.head.0.gamma", {enc.back(), 1, 1, 1}});
  add_conv(t, "encoder.head.2", {2 * z, enc.back(), 3, 3, 3});
  add_conv(t, "conv1", {2 * z, 2 * z, 1, 1, 1});
  add_conv(t, "conv2", {z, z, 1, 1, 1});

  auto dec = c.decoder_dims();
  add_conv(t, "decoder.conv1", {dec[0], z, 3, 3, 3});
  add_middle(t, "decoder", dec[0]);
  idx = 0;
  for (size_t i = 0; i + 1 < dec.size(); ++i) {
    int64_t cin = i > 0 ? dec[i] / 2 : dec[i], cout = dec[i + 1];
    for (int r = 0; r <= c.num_res_blocks; ++r, cin = cout)
      add_residual(t, "decoder.upsamples." + std::to_string(idx++), cin, cout);
    if (i + 2 < dec.size()) {
      std::string p = "decoder.upsamples." + std::to_string(idx++);
      add_conv(t, p + ".resample.1", {cout / 2, cout, 3, 3});
      bool temporal = c.temporal_downsample[c.temporal_downsample.size() - 1 - i];
      if (temporal) add_conv(t, p + ".time_conv", {2 * cout, cout, 3, 1, 1});
    }
  }
  t.push_back({"decoder.head.0.gamma", {dec.back(), 1, 1, 1}});
  add_conv(t, "decoder.head.2", {3, dec.back(), 3, 3, 3});
  return t;
}

namespace {

// Diffusers names (convert_vae of the Diffusers conversion script; wan-spec 5.7): the decoder's
// flat upsamples list is regrouped into up_blocks, then the renames both Wan VAEs share.
std::string diffusers_vae_name(const WanVAEConfig& c, const std::string& name) {
  std::string n = name;
  const std::string up = "decoder.upsamples.";
  if (n.rfind(up, 0) == 0) {
    size_t dot = n.find('.', up.size());
    int idx = std::stoi(n.substr(up.size(), dot - up.size()));
    int per_stage = c.num_res_blocks + 2;  // resnets, then one upsampler
    int stage = idx / per_stage, within = idx % per_stage;
    std::string block =
        within <= c.num_res_blocks
            ? "decoder.up_blocks." + std::to_string(stage) + ".resnets." + std::to_string(within)
            : "decoder.up_blocks." + std::to_string(stage) + ".upsamplers.0";
    n = block + n.substr(dot);
  }
  return wan_vae::diffusers_block_name(n);
}

}  // namespace

std::vector<WeightLayout> wan_vae_layouts(const WanVAEConfig& config) {
  return {{"official", [](const std::string& n) { return n; }},
          {"diffusers", [config](const std::string& n) { return diffusers_vae_name(config, n); }}};
}

const std::vector<std::string>& wan_vae_prefixes() {
  static const std::vector<std::string> prefixes = {"", "first_stage_model.", "vae."};
  return prefixes;
}

WanVAEConfig resolve_wan_vae_config(const WeightFile& file, bool allow_custom) {
  WanVAEConfig c;
  for (const std::string& prefix : wan_vae_prefixes()) {
    for (const char* name : {"encoder.conv1.weight", "encoder.conv_in.weight",
                             "decoder.conv1.weight", "decoder.conv_in.weight"}) {
      const TensorInfo* info = file.find(prefix + name);
      if (!info || info->shape.rank() != 5) continue;
      bool encoder = name[0] == 'e';
      int64_t width = encoder ? info->shape[0] : info->shape[0] / c.dim_mult.back();
      if (width == c.base_dim) return c;
      if (!allow_custom)
        fail(file.path(), ": ", prefix + name, " is ", info->shape.str(),
             ": not the Wan2.1 VAE (base width 96)");
      c.base_dim = int(width);
      return c;
    }
  }
  fail(file.path(), ": not a Wan VAE: no encoder.conv1 / decoder.conv1 (or Diffusers conv_in)");
}

}  // namespace kinema
