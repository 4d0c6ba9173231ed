#include "models/wan/vae22_config.h"

#include "core/error.h"
#include "models/wan/vae_config.h"

namespace kinema {

const std::array<float, 48> kWan22LatentMean = {
    -0.2289f, -0.0052f, -0.1323f, -0.2339f, -0.2799f, 0.0174f,  0.1838f,  0.1557f,
    -0.1382f, 0.0542f,  0.2813f,  0.0891f,  0.1570f,  -0.0098f, 0.0375f,  -0.1825f,
    -0.2246f, -0.1207f, -0.0698f, 0.5109f,  0.2665f,  -0.2108f, -0.2158f, 0.2502f,
    -0.2055f, -0.0322f, 0.1109f,  0.1567f,  -0.0729f, 0.0899f,  -0.2799f, -0.1230f,
    -0.0313f, -0.1649f, 0.0117f,  0.0723f,  -0.2839f, -0.2083f, -0.0520f, 0.3748f,
    0.0152f,  0.1957f,  0.1433f,  -0.2944f, 0.3573f,  -0.0548f, -0.1681f, -0.0667f};
const std::array<float, 48> kWan22LatentStd = {
    0.4765f, 1.0364f, 0.4514f, 1.1677f, 0.5313f, 0.4990f, 0.4818f, 0.5013f, 0.8158f, 1.0344f,
    0.5894f, 1.0901f, 0.6885f, 0.6165f, 0.8454f, 0.4978f, 0.5759f, 0.3523f, 0.7135f, 0.6804f,
    0.5833f, 1.4146f, 0.8986f, 0.5659f, 0.7069f, 0.5338f, 0.4889f, 0.4917f, 0.4069f, 0.4999f,
    0.6866f, 0.4093f, 0.5709f, 0.6065f, 0.6415f, 0.4944f, 0.5726f, 1.2042f, 0.5458f, 1.6887f,
    0.3971f, 1.0600f, 0.3943f, 0.5537f, 0.5444f, 0.4089f, 0.7468f, 0.7744f};

std::vector<int> WanVAE22Config::encoder_dims() const {
  return wan_vae::encoder_widths(encoder_dim, dim_mult);
}

std::vector<int> WanVAE22Config::decoder_dims() const {
  return wan_vae::decoder_widths(decoder_dim, dim_mult);
}

bool WanVAE22Config::temporal(int stage) const {
  return stage >= 0 && stage < int(temporal_downsample.size()) &&
         temporal_downsample[size_t(stage)];
}

int WanVAE22Config::time_stride() const {
  int stride = 1;
  for (int i = 0; i + 1 < stages(); ++i) stride *= temporal(i) ? 2 : 1;
  return stride;
}

std::string wan_vae22_block(bool encoder, int stage, int index) {
  const std::string list = encoder ? "downsamples." : "upsamples.";
  return (encoder ? "encoder." : "decoder.") + list + std::to_string(stage) + "." + list +
         std::to_string(index);
}

std::vector<ExpectedTensor> wan_vae22_tensors(const WanVAE22Config& c) {
  using wan_vae::add_conv;
  using wan_vae::add_residual;
  std::vector<ExpectedTensor> t;
  const int64_t z = c.z_dim, last = c.stages() - 1;
  auto enc = c.encoder_dims();
  add_conv(t, "encoder.conv1", {enc[0], c.pixel_channels(), 3, 3, 3});
  for (int i = 0; i <= last; ++i) {
    int64_t cin = enc[size_t(i)];
    const int64_t cout = enc[size_t(i) + 1];
    for (int r = 0; r < c.num_res_blocks; ++r, cin = cout)
      add_residual(t, wan_vae22_block(true, i, r), cin, cout);
    if (i != last) {
      const std::string p = wan_vae22_block(true, i, c.num_res_blocks);
      add_conv(t, p + ".resample.1", {cout, cout, 3, 3});
      if (c.temporal(i)) add_conv(t, p + ".time_conv", {cout, cout, 3, 1, 1});
    }
  }
  wan_vae::add_middle(t, "encoder", enc.back());
  t.push_back({"encoder.head.0.gamma", {enc.back(), 1, 1, 1}});
  add_conv(t, "encoder.head.2", {2 * z, enc.back(), 3, 3, 3});
  add_conv(t, "conv1", {2 * z, 2 * z, 1, 1, 1});
  add_conv(t, "conv2", {z, z, 1, 1, 1});

  auto dec = c.decoder_dims();
  add_conv(t, "decoder.conv1", {dec[0], z, 3, 3, 3});
  wan_vae::add_middle(t, "decoder", dec[0]);
  for (int i = 0; i <= last; ++i) {
    int64_t cin = dec[size_t(i)];
    const int64_t cout = dec[size_t(i) + 1];
    for (int r = 0; r <= c.num_res_blocks; ++r, cin = cout)
      add_residual(t, wan_vae22_block(false, i, r), cin, cout);
    if (i != last) {  // the upsample conv keeps the width (Wan2.1's halves it)
      const std::string p = wan_vae22_block(false, i, c.num_res_blocks + 1);
      add_conv(t, p + ".resample.1", {cout, cout, 3, 3});
      if (c.temporal(int(last) - 1 - i)) add_conv(t, p + ".time_conv", {2 * cout, cout, 3, 1, 1});
    }
  }
  t.push_back({"decoder.head.0.gamma", {dec.back(), 1, 1, 1}});
  add_conv(t, "decoder.head.2", {c.pixel_channels(), dec.back(), 3, 3, 3});
  return t;
}

namespace {

// Diffusers (convert_vae_22): encoder.downsamples.S.downsamples.J ->
// encoder.down_blocks.S.resnets.J or, for the stage's resample, encoder.down_blocks.S.downsampler;
// the decoder likewise with up_blocks/upsampler; then the renames both Wan VAEs share.
std::string diffusers_vae22_name(const WanVAE22Config& c, const std::string& name) {
  struct Stage {
    std::string_view from, to, sampler;
    int resnets;
  };
  const Stage stages[] = {
      {"encoder.downsamples.", "encoder.down_blocks.", ".downsampler", c.num_res_blocks},
      {"decoder.upsamples.", "decoder.up_blocks.", ".upsampler", c.num_res_blocks + 1}};
  for (const Stage& s : stages) {
    if (name.rfind(s.from, 0) != 0) continue;
    // from S . <inner list> . J . rest
    const size_t stage_end = name.find('.', s.from.size());
    const size_t inner_end = name.find('.', stage_end + 1);
    const size_t index_end = name.find('.', inner_end + 1);
    if (stage_end == std::string::npos || inner_end == std::string::npos ||
        index_end == std::string::npos)
      break;
    const std::string stage = name.substr(s.from.size(), stage_end - s.from.size());
    const int index = std::stoi(name.substr(inner_end + 1, index_end - inner_end - 1));
    const std::string block =
        index < s.resnets ? ".resnets." + std::to_string(index) : std::string(s.sampler);
    return wan_vae::diffusers_block_name(std::string(s.to) + stage + block +
                                         name.substr(index_end));
  }
  return wan_vae::diffusers_block_name(name);
}

}  // namespace

std::vector<WeightLayout> wan_vae22_layouts(const WanVAE22Config& config) {
  return {
      {"official", [](const std::string& n) { return n; }},
      {"diffusers", [config](const std::string& n) { return diffusers_vae22_name(config, n); }}};
}

namespace {

// The first present of `names` under any Wan VAE prefix, if it is a 5-D conv weight.
const TensorInfo* find_conv(const WeightFile& file, std::initializer_list<const char*> names) {
  for (const std::string& prefix : wan_vae_prefixes())
    for (const char* name : names)
      if (const TensorInfo* info = file.find(prefix + name); info && info->shape.rank() == 5)
        return info;
  return nullptr;
}

const TensorInfo* encoder_conv(const WeightFile& file) {
  return find_conv(file, {"encoder.conv1.weight", "encoder.conv_in.weight"});
}

}  // namespace

bool holds_wan_vae22(const WeightFile& file) {
  const TensorInfo* enc = encoder_conv(file);
  return enc && enc->shape[1] == WanVAE22Config{}.pixel_channels();
}

WanVAE22Config resolve_wan_vae22_config(const WeightFile& file, bool allow_custom) {
  WanVAE22Config c;
  const TensorInfo* enc = encoder_conv(file);
  const TensorInfo* dec = find_conv(file, {"decoder.conv1.weight", "decoder.conv_in.weight"});
  if (!enc || !dec)
    fail(file.path(), ": not a Wan2.2 VAE: no ", !enc ? "encoder" : "decoder",
         ".conv1 (or Diffusers conv_in) 5-D weight");
  constexpr int64_t kMaxWidth = int64_t(1) << 20;
  const int64_t enc_width = enc->shape[0], dec_channels = dec->shape[0], z = dec->shape[1];
  const int64_t mult = c.dim_mult.back();
  if (enc->shape[1] != c.pixel_channels())
    fail(file.path(), ": ", enc->name, " is ", enc->shape.str(), ": a Wan2.2 VAE takes ",
         c.pixel_channels(), " (2x2-patchified RGB) input channels");
  if (z != c.z_dim)
    fail(file.path(), ": ", dec->name, " is ", dec->shape.str(), ": the Wan2.2 VAE's latent has ",
         c.z_dim, " channels (its normalisation constants are per channel)");
  if (enc_width < 1 || enc_width > kMaxWidth || dec_channels < mult || dec_channels % mult ||
      dec_channels / mult > kMaxWidth)
    fail(file.path(), ": ", enc->name, " ", enc->shape.str(), " and ", dec->name, " ",
         dec->shape.str(), " give no Wan2.2 VAE widths");
  const int64_t dec_width = dec_channels / mult;
  if (enc_width == c.encoder_dim && dec_width == c.decoder_dim) return c;
  if (!allow_custom)
    fail(file.path(), ": ", enc->name, " is ", enc->shape.str(), " and ", dec->name, " is ",
         dec->shape.str(), ": not the Wan2.2 VAE (widths 160 and 256); a narrower VAE of the same ",
         "structure needs --allow-custom");
  c.encoder_dim = int(enc_width);
  c.decoder_dim = int(dec_width);
  return c;
}

}  // namespace kinema
