#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/refdata.h"
#include "media/video_file.h"
#include "models/umt5/encoder.h"
#include "models/wan/dit.h"
#include "models/wan/vae.h"
#include "pipeline/text_to_video.h"

namespace kinema {
namespace {

const ComputeContext& ctx() {
  static const ComputeContext c = ComputeContext::with_threads(0);
  return c;
}

std::unique_ptr<WeightFile> open_ref(const std::string& name) {
  return WeightFile::open(test::ref_path("models", name));
}

// Tolerance relative to the output's scale: |got - want| <= rel * max|want| (+ rel elementwise).
::testing::AssertionResult close_to_scale(const Tensor& got, const Tensor& want, double rel) {
  double scale = 0;
  for (float v : want.to_f32_vector()) scale = std::max(scale, double(std::fabs(v)));
  return test::all_close(got, want, {rel * scale, rel});
}

TEST(WanDiT, ResolvesCustomConfigFromShapes) {
  auto file = open_ref("dit_tiny.safetensors");
  WanDiTConfig c = resolve_wan_dit_config(*file, true);
  EXPECT_EQ(c.dim, 128);
  EXPECT_EQ(c.num_heads, 2);
  EXPECT_EQ(c.num_layers, 2);
  EXPECT_EQ(c.ffn_dim, 256);
  EXPECT_EQ(c.text_dim, 64);
  EXPECT_THROW(resolve_wan_dit_config(*file, false), Error);
}

void check_dit(const std::string& file_name, const std::string& prefix, int64_t timestep,
               DiTPrecision precision, double rel,
               const std::vector<StatedDiTConfig>& stated = {}) {
  auto file = open_ref(file_name);
  WanDiT dit(*file, resolve_wan_dit_config(*file, true, stated));
  Tensor latent = test::ref("models", prefix + "_latent");
  Tensor context = test::ref("models", prefix + "_context");
  TextConditioning text = dit.encode_text(ctx(), context, precision);
  Tensor out = dit.forward(ctx(), latent, timestep, text, precision);
  const char* mode = precision == DiTPrecision::F32 ? "f32" : "bf16";
  EXPECT_TRUE(close_to_scale(out, test::ref("models", prefix + "_out_" + mode), rel)) << mode;
}

// f32 path: same math as the reference up to accumulation order.
TEST(WanDiT, TinyF32MatchesReference) {
  check_dit("dit_tiny.safetensors", "dit_tiny", 917, DiTPrecision::F32, 1e-4);
}
TEST(WanDiT, Block1_3BF32MatchesReference) {
  check_dit("dit_block_1_3b.safetensors", "dit_block", 500, DiTPrecision::F32, 1e-4);
}
// bf16 path: the reference's rounding points; a different accumulation order can flip single bf16
// roundings (relative 2^-8), which propagate through the blocks.
TEST(WanDiT, TinyBf16MatchesReference) {
  check_dit("dit_tiny.safetensors", "dit_tiny", 917, DiTPrecision::BF16, 2e-2);
}
TEST(WanDiT, Block1_3BBf16MatchesReference) {
  check_dit("dit_block_1_3b.safetensors", "dit_block", 500, DiTPrecision::BF16, 2e-2);
}

// dim 128 could be 1 head of 128 or 2 of 64: what the files state decides, never a guess.
TEST(WanDiT, AHeadCountStatedInConfigJsonIsUsed) {
  const std::string folder = test::ref_path("models", "dit_tiny_folder");
  const ModelFiles files = separate_model_files(folder, "t5", "vae", "tok");
  ASSERT_EQ(files.dit_statements.size(), 1u);
  EXPECT_EQ(files.dit_statements[0].num_heads, 2);
  auto file = WeightFile::open(folder);
  WanDiTConfig c = resolve_wan_dit_config(*file, true, files.dit_statements);
  EXPECT_EQ(c.num_heads, 2);
  EXPECT_EQ(c.text_len, 512);
  check_dit("dit_tiny_folder", "dit_tiny", 917, DiTPrecision::F32, 1e-4, files.dit_statements);
  check_dit("dit_tiny_folder", "dit_tiny", 917, DiTPrecision::BF16, 2e-2, files.dit_statements);
}

TEST(WanDiT, AnUnstatedHeadCountIsRefusedWithWhereToStateIt) {
  auto file = open_ref("dit_tiny_unstated.safetensors");
  try {
    resolve_wan_dit_config(*file, true);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("dit_tiny_unstated.safetensors"), std::string::npos) << msg;
    EXPECT_NE(msg.find("\"num_heads\""), std::string::npos) << msg;
    EXPECT_NE(msg.find("config.json"), std::string::npos) << msg;
    EXPECT_NE(msg.find("kinema.json"), std::string::npos) << msg;
  }
  // Without --allow-custom the message says how to allow it.
  try {
    resolve_wan_dit_config(*file, false);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--allow-custom"), std::string::npos) << e.what();
  }
}

TEST(WanDiT, StatementsMustAgreeWithTheShapesAndEachOther) {
  auto file = open_ref("dit_tiny.safetensors");  // its metadata says 2 heads
  auto stated = [](const std::string& json) { return stated_dit_config("test config", json); };
  struct Case {
    std::string json, expect;
  };
  const Case cases[] = {
      {R"({"num_heads": 4})", "test config says 4"},
      {R"({"dim": 256})", "says dim 256 but"},
      {R"({"num_layers": 3})", "says num_layers 3"},
      {R"({"num_attention_heads": 2, "attention_head_dim": 32})", "is not dim 128"},
      {R"({"num_heads": 3})", "test config says 3"},
      {R"({"model_type": "i2v"})", "only text-to-video"},
      {R"({"patch_size": [1, 4, 4]})", "patch_size [1, 4, 4]"},
  };
  for (const Case& c : cases) {
    try {
      resolve_wan_dit_config(*file, true, {stated(c.json)});
      ADD_FAILURE() << c.json << ": expected an error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(c.expect), std::string::npos)
          << c.json << " -> " << e.what();
    }
  }
  for (const char* bad : {R"({"num_heads": -2})", R"({"num_heads": "two"})", "[1]", "{"}) {
    EXPECT_THROW(stated(bad), Error) << bad;
  }
  // Diffusers keys: a head width instead of a count.
  WanDiTConfig c = resolve_wan_dit_config(
      *open_ref("dit_tiny_unstated.safetensors"), true,
      {stated(R"({"num_attention_heads": 2, "attention_head_dim": 64, "in_channels": 16})")});
  EXPECT_EQ(c.num_heads, 2);
}

TEST(WanDiT, ReportsEveryProblemWithAFile) {
  auto file = open_ref("dit_tiny.safetensors");
  WanDiTConfig wrong = resolve_wan_dit_config(*file, true);
  wrong.ffn_dim = 512;
  wrong.num_layers = 3;
  try {
    WanDiT dit(*file, wrong);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("dit_tiny.safetensors"), std::string::npos) << msg;
    EXPECT_NE(msg.find("missing"), std::string::npos) << msg;
    EXPECT_NE(msg.find("blocks.2.ffn.0.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("mis-shaped"), std::string::npos) << msg;
    EXPECT_NE(msg.find("blocks.0.ffn.0.weight is [256, 128], expected [512, 128]"),
              std::string::npos)
        << msg;
  }
}

class WanVAETest : public ::testing::Test {
 protected:
  void SetUp() override {
    file_ = open_ref("vae_tiny.safetensors");
    vae_ = std::make_unique<WanVAE>(*file_, resolve_wan_vae_config(*file_, true));
  }
  std::unique_ptr<WeightFile> file_;
  std::unique_ptr<WanVAE> vae_;
};

TEST_F(WanVAETest, EncodeMatchesReference) {
  for (int frames : {1, 5, 9}) {
    Tensor video = test::ref("models", "vae_video_" + std::to_string(frames));
    Tensor z = vae_->encode(ctx(), video);
    EXPECT_TRUE(
        close_to_scale(z, test::ref("models", "vae_encoded_" + std::to_string(frames)), 1e-4))
        << frames << " frames";
  }
}

TEST_F(WanVAETest, DecodeMatchesReference) {
  for (int t : {1, 2, 3}) {
    Tensor z = test::ref("models", "vae_latent_" + std::to_string(t));
    int64_t calls = 0;
    Tensor video = vae_->decode(ctx(), z, [&](int64_t, int64_t) { ++calls; });
    EXPECT_EQ(calls, t);
    EXPECT_EQ(video.shape(), Shape({3, 4 * (t - 1) + 1, 32, 48}));
    EXPECT_TRUE(
        close_to_scale(video, test::ref("models", "vae_decoded_" + std::to_string(t)), 1e-4))
        << t << " latent frames";
  }
}

TEST(UMT5, RelativeBucketsMatchTheSpecTable) {
  // wan-spec 4.4: magnitude buckets, +16 for positive offsets.
  const std::pair<int, int> table[] = {{0, 0},   {7, 7},   {8, 8},   {11, 8},  {12, 9},  {15, 9},
                                       {16, 10}, {22, 10}, {23, 11}, {31, 11}, {32, 12}, {45, 12},
                                       {46, 13}, {63, 13}, {64, 14}, {90, 14}, {91, 15}, {500, 15}};
  for (auto [a, bucket] : table) {
    EXPECT_EQ(t5_relative_bucket(-a, 32, 128), bucket) << a;
    if (a > 0) {
      EXPECT_EQ(t5_relative_bucket(a, 32, 128), bucket + 16) << a;
    }
  }
}

// Normalised mean squared error: sum (got - want)^2 / sum want^2.
double nmse(const Tensor& got, const Tensor& want) {
  const std::vector<float> g = got.to_f32_vector(), w = want.to_f32_vector();
  EXPECT_EQ(g.size(), w.size());
  double err = 0, ref = 0;
  for (size_t i = 0; i < std::min(g.size(), w.size()); ++i) {
    err += (double(g[i]) - w[i]) * (double(g[i]) - w[i]);
    ref += double(w[i]) * w[i];
  }
  return ref > 0 ? err / ref : err;
}

std::vector<int32_t> token_ids(const std::string& name) {
  Tensor t = test::ref("models", name);
  std::vector<int32_t> ids;
  for (int64_t i = 0; i < t.numel(); ++i) ids.push_back(int32_t(t.data<int64_t>()[i]));
  return ids;
}

// bf16: the reference rounds where the official code does on bf16 tensors (the softmax in f32,
// normalised, then rounded; pow(x, 3) as (x * x) * x; bf16 constants). Only the GEMMs'
// summation order differs. Two prompts go through the layers together.
TEST(UMT5, EncoderMatchesTheOfficialRoundingOrder) {
  auto file = open_ref("t5_tiny.safetensors");
  UMT5Encoder encoder(*file, resolve_umt5_config(*file, true));
  const std::vector<Tensor> out =
      encoder.encode(ctx(), {token_ids("t5_ids"), token_ids("t5_ids2")}, T5Precision::BF16);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].dtype(), DType::BF16);
  EXPECT_LE(nmse(out[0], test::ref("models", "t5_out")), 1e-5);
  EXPECT_LE(nmse(out[1], test::ref("models", "t5_out2")), 1e-5);
}

TEST(UMT5, F32EncoderMatchesTheUnroundedReference) {
  auto file = open_ref("t5_tiny.safetensors");
  UMT5Encoder encoder(*file, resolve_umt5_config(*file, true));
  Tensor out = encoder.encode(ctx(), token_ids("t5_ids"), T5Precision::F32);
  EXPECT_EQ(out.dtype(), DType::F32);
  EXPECT_LE(nmse(out, test::ref("models", "t5_out_f32")), 1e-10);
}

TEST(UMT5, XxlWidthLayerMatchesReference) {
  auto file = open_ref("t5_xxl_layer.safetensors");
  UMT5Encoder encoder(*file, resolve_umt5_config(*file, true));
  EXPECT_EQ(encoder.config().num_heads, 64);
  const std::vector<int32_t> ids = token_ids("t5_xxl_ids");
  EXPECT_LE(nmse(encoder.encode(ctx(), ids, T5Precision::BF16), test::ref("models", "t5_xxl_out")),
            1e-5);
  EXPECT_LE(
      nmse(encoder.encode(ctx(), ids, T5Precision::F32), test::ref("models", "t5_xxl_out_f32")),
      1e-10);
}

// The tiny end-to-end model of ref_wan.py.
ModelFiles e2e_files() {
  ModelFiles files;
  files.dit = test::ref_path("models", "e2e_dit.safetensors");
  files.t5 = test::ref_path("models", "e2e_t5.safetensors");
  files.vae = test::ref_path("models", "e2e_vae.safetensors");
  files.tokenizer = test::ref_path("models", "e2e_spiece.model");
  files.allow_custom = true;
  return files;
}

TEST(TextToVideo, EndToEndMatchesReference) {
  std::ifstream in(test::ref_path("models", "e2e.json"));
  auto cfg = nlohmann::json::parse(in);
  const ModelFiles files = e2e_files();
  WanModels models(files);
  GenerationParams p;
  p.prompt = cfg["prompt"];
  p.negative_prompt = cfg["negative"];
  p.steps = cfg["steps"];
  p.shift = cfg["shift"];
  p.guidance = cfg["guidance"];
  p.width = 48;
  p.height = 32;
  p.frames = 5;
  p.noise = test::ref("models", "e2e_noise");
  std::vector<std::string> phases;
  GenerationCallbacks cb;
  cb.progress = [&](Phase phase, int step, int) {
    if (step == 0) phases.emplace_back(phase_name(phase));
  };
  Tensor video = generate(ctx(), models, p, cb);
  EXPECT_EQ(phases, (std::vector<std::string>{"encode text", "denoise", "decode"}));
  ASSERT_TRUE(video.defined());
  EXPECT_TRUE(close_to_scale(video, test::ref("models", "e2e_video"), 3e-2));
  std::vector<uint8_t> rgb = video_to_rgb8(video);
  Tensor want = test::ref("models", "e2e_frames");
  ASSERT_EQ(rgb.size(), size_t(want.numel()));
  int64_t far = 0;
  for (size_t i = 0; i < rgb.size(); ++i)
    far += std::abs(int(rgb[i]) - int(want.data<uint8_t>()[i])) > 8;
  EXPECT_LE(far, int64_t(rgb.size()) / 100) << "pixels more than 8 levels off";
}

TEST(TextToVideo, CancelStopsGeneration) {
  const ModelFiles files = e2e_files();
  WanModels models(files);
  GenerationParams p;
  p.prompt = "a red circle";
  p.width = 48;
  p.height = 32;
  p.frames = 5;
  p.steps = 4;
  p.seed = 1;
  int denoise_steps = 0;
  GenerationCallbacks cb;
  cb.progress = [&](Phase phase, int step, int) {
    if (phase == Phase::Denoise) denoise_steps = step;
  };
  cb.cancelled = [&] { return denoise_steps >= 2; };
  EXPECT_THROW(generate(ctx(), models, p, cb), Cancelled);
  EXPECT_EQ(denoise_steps, 2);
  p.frames = 6;
  EXPECT_THROW(generate(ctx(), models, p), Error);
}

}  // namespace
}  // namespace kinema
