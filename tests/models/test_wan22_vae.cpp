// The Wan2.2 VAE against the PyTorch reference (tests/models/ref_wan22_vae.py, from
// tests/reference/wan_vae22.py): tables, names, patchify, chunked encode and decode, layouts and
// bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/refdata.h"
#include "models/wan/vae.h"
#include "models/wan/vae22.h"

namespace kinema {
namespace {

const ComputeContext& ctx() {
  static const ComputeContext c = ComputeContext::with_threads(0);
  return c;
}

std::string path(const std::string& name) { return test::ref_path("models", "vae22/" + name); }
Tensor vae22_ref(const std::string& name) { return test::load_npy(path(name + ".npy")); }

// |got - want| <= rel * max|want| + rel * |want|: the f32 reference up to accumulation order.
::testing::AssertionResult close_to_scale(const Tensor& got, const Tensor& want, double rel) {
  double scale = 0;
  for (float v : want.to_f32_vector()) scale = std::max(scale, double(std::fabs(v)));
  return test::all_close(got, want, {rel * scale, rel});
}

WanVAE22Config tiny() {
  WanVAE22Config c;
  c.encoder_dim = 16;
  c.decoder_dim = 16;
  return c;
}

TEST(WanVAE22Config, StridesAndWidths) {
  const WanVAE22Config c;
  EXPECT_EQ(c.space_stride(), 16);
  EXPECT_EQ(c.time_stride(), 4);
  EXPECT_EQ(c.encoder_dims(), (std::vector<int>{160, 160, 320, 640, 640}));
  EXPECT_EQ(c.decoder_dims(), (std::vector<int>{1024, 1024, 1024, 512, 256}));
  int64_t params = 0;
  for (const ExpectedTensor& t : wan_vae22_tensors(c)) params += t.shape.numel();
  // The reference model's parameters at the official widths (tables.json), summed.
  std::ifstream in(path("tables.json"));
  const nlohmann::json tables = nlohmann::json::parse(in);
  int64_t want = 0;
  for (const auto& entry : tables["official"]) {
    int64_t n = 1;
    for (int64_t d : entry[1].get<std::vector<int64_t>>()) n *= d;
    want += n;
  }
  EXPECT_EQ(params, want);
}

TEST(WanVAE22Config, DiffusersNames) {
  auto name = wan_vae22_layouts(WanVAE22Config{})[1].file_name;
  EXPECT_EQ(name("encoder.downsamples.1.downsamples.0.residual.2.weight"),
            "encoder.down_blocks.1.resnets.0.conv1.weight");
  EXPECT_EQ(name("encoder.downsamples.0.downsamples.1.shortcut.bias"),
            "encoder.down_blocks.0.resnets.1.conv_shortcut.bias");
  EXPECT_EQ(name("encoder.downsamples.2.downsamples.2.time_conv.weight"),
            "encoder.down_blocks.2.downsampler.time_conv.weight");
  EXPECT_EQ(name("encoder.downsamples.0.downsamples.2.resample.1.bias"),
            "encoder.down_blocks.0.downsampler.resample.1.bias");
  EXPECT_EQ(name("decoder.upsamples.1.upsamples.0.residual.0.gamma"),
            "decoder.up_blocks.1.resnets.0.norm1.gamma");
  EXPECT_EQ(name("decoder.upsamples.0.upsamples.3.time_conv.bias"),
            "decoder.up_blocks.0.upsampler.time_conv.bias");
  EXPECT_EQ(name("decoder.upsamples.2.upsamples.3.resample.1.weight"),
            "decoder.up_blocks.2.upsampler.resample.1.weight");
  EXPECT_EQ(name("decoder.middle.1.proj.weight"), "decoder.mid_block.attentions.0.proj.weight");
  EXPECT_EQ(name("encoder.conv1.weight"), "encoder.conv_in.weight");
  EXPECT_EQ(name("conv2.bias"), "post_quant_conv.bias");
  EXPECT_EQ(name("decoder.head.0.gamma"), "decoder.norm_out.gamma");
}

TEST(WanVAE22Config, ResolvedFromShapes) {
  auto file = WeightFile::open(path("vae22_official.safetensors"));
  EXPECT_TRUE(holds_wan_vae22(*file));
  WanVAE22Config c = resolve_wan_vae22_config(*file, true);
  EXPECT_EQ(c.encoder_dim, 16);
  EXPECT_EQ(c.decoder_dim, 16);
  EXPECT_EQ(c.z_dim, 48);
  try {
    resolve_wan_vae22_config(*file, false);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--allow-custom"), std::string::npos) << e.what();
  }
  // Diffusers names resolve the same.
  auto diffusers = WeightFile::open(path("vae22_diffusers.safetensors"));
  EXPECT_EQ(resolve_wan_vae22_config(*diffusers, true).decoder_dim, 16);
  // A Wan2.1 VAE is not a Wan2.2 one, and says why.
  auto wan21 = WeightFile::open(test::ref_path("models", "vae_tiny.safetensors"));
  EXPECT_FALSE(holds_wan_vae22(*wan21));
  try {
    resolve_wan_vae22_config(*wan21, true);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("encoder.conv1.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("12"), std::string::npos) << msg;
  }
}

TEST(WanVAE22, PatchifyMatchesReferenceAndInverts) {
  Tensor video = vae22_ref("patch_video");
  Tensor patches = wan22_patchify(ctx(), video);
  EXPECT_TRUE(test::all_close(patches, vae22_ref("patch_out"), {0, 0}));
  EXPECT_TRUE(test::all_close(wan22_unpatchify(ctx(), patches), video, {0, 0}));
}

class WanVAE22Test : public ::testing::Test {
 protected:
  void SetUp() override {
    file_ = WeightFile::open(path("Wan2.2_VAE.pth"));
    vae_ = std::make_unique<WanVAE22>(*file_, resolve_wan_vae22_config(*file_, true));
  }
  std::unique_ptr<WeightFile> file_;
  std::unique_ptr<WanVAE22> vae_;
};

TEST_F(WanVAE22Test, EncodeMatchesReference) {
  for (int frames : {1, 5, 9, 13}) {
    Tensor z = vae_->encode(ctx(), vae22_ref("video_" + std::to_string(frames)));
    EXPECT_EQ(z.shape(), Shape({48, (frames - 1) / 4 + 1, 2, 4})) << frames;
    EXPECT_TRUE(close_to_scale(z, vae22_ref("encoded_" + std::to_string(frames)), 1e-4))
        << frames << " frames";
  }
}

TEST_F(WanVAE22Test, DecodeMatchesReferenceChunkByChunk) {
  for (int t : {1, 2, 3, 4}) {
    Tensor z = vae22_ref("latent_" + std::to_string(t));
    std::vector<int64_t> chunk_frames;
    vae_->decode_stream(ctx(), z, [&](const Tensor& frames) {
      EXPECT_EQ(frames.dim(0), 3);
      EXPECT_EQ(frames.dim(2), 32);
      EXPECT_EQ(frames.dim(3), 64);
      chunk_frames.push_back(frames.dim(1));
    });
    std::vector<int64_t> want = {1};
    for (int i = 1; i < t; ++i) want.push_back(4);
    EXPECT_EQ(chunk_frames, want) << t;
    int calls = 0;
    Tensor video = vae_->decode(ctx(), z, [&](int64_t, int64_t) { ++calls; });
    EXPECT_EQ(calls, t);
    EXPECT_TRUE(close_to_scale(video, vae22_ref("decoded_" + std::to_string(t)), 1e-4))
        << t << " latent frames";
  }
}

TEST(WanVAE22Layouts, EveryLayoutGivesTheSameOutput) {
  Tensor z = vae22_ref("latent_2"), video = vae22_ref("video_5");
  Tensor first_decoded, first_encoded;
  for (const char* name :
       {"Wan2.2_VAE.pth", "vae22_official.safetensors", "vae22_diffusers.safetensors"}) {
    auto file = WeightFile::open(path(name));
    WanVAE22 vae(*file, resolve_wan_vae22_config(*file, true));
    Tensor decoded = vae.decode(ctx(), z), encoded = vae.encode(ctx(), video);
    if (!first_decoded.defined()) {
      first_decoded = decoded;
      first_encoded = encoded;
    } else {
      EXPECT_TRUE(test::all_close(decoded, first_decoded, {0, 0})) << name;
      EXPECT_TRUE(test::all_close(encoded, first_encoded, {0, 0})) << name;
    }
  }
}

TEST_F(WanVAE22Test, RefusesBadInputNamingWhatItExpected) {
  const auto expect_error = [&](const std::function<void()>& run, const std::string& part) {
    try {
      run();
      ADD_FAILURE() << "expected an error mentioning " << part;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  // Not multiples of 16, not 4n+1 frames, not RGB.
  Tensor pixels24 = Tensor::zeros({3, 1, 24, 32}, DType::F32);
  expect_error([&] { vae_->encode(ctx(), pixels24); }, "multiples of 16");
  Tensor frames4 = Tensor::zeros({3, 4, 32, 32}, DType::F32);
  expect_error([&] { vae_->encode(ctx(), frames4); }, "4n+1");
  Tensor latent16 = Tensor::zeros({16, 1, 2, 2}, DType::F32);
  expect_error([&] { vae_->decode(ctx(), latent16); }, "[48, T, h, w]");
  // A Wan2.1 file bound as the Wan2.2 VAE names what is missing.
  auto wan21 = WeightFile::open(test::ref_path("models", "vae_tiny.safetensors"));
  expect_error([&] { WanVAE22 wrong(*wan21, tiny()); },
               "encoder.conv1.weight is [16, 3, 3, 3, 3], expected [16, 12, 3, 3, 3]");
}

TEST(WanVAE22, ANonFiniteDecoderOutputIsAnErrorNamingTheFrames) {
  auto file = WeightFile::open(path("vae22_nan.safetensors"));
  WanVAE22 vae(*file, resolve_wan_vae22_config(*file, true));
  try {
    vae.decode(ctx(), vae22_ref("latent_2"));
    FAIL() << "expected an error";
  } catch (const NonFiniteError& e) {
    EXPECT_NE(std::string(e.what()).find("frames 0 to 0"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace kinema
