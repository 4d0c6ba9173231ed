// The same random weights stored in every supported layout load and give the same output
// (tests/models/ref_layouts.py writes them).
#include <gtest/gtest.h>

#include "common/refdata.h"
#include "models/umt5/encoder.h"
#include "models/wan/dit.h"
#include "models/wan/vae.h"

namespace kinema {
namespace {

const ComputeContext& ctx() {
  static const ComputeContext c = ComputeContext::with_threads(0);
  return c;
}

std::string path(const std::string& name) { return test::ref_path("models", "layouts/" + name); }

Tensor layout_ref(const std::string& name) { return test::load_npy(path(name + ".npy")); }

TEST(Layouts, EveryDiTLayoutGivesTheSameOutput) {
  Tensor latent = layout_ref("dit_latent"), context = layout_ref("dit_context");
  Tensor first;
  for (const char* name : {"dit_official.safetensors", "dit_official.pth", "dit_diffusers",
                           "dit_comfy.safetensors", "dit.gguf"}) {
    auto file = WeightFile::open(path(name));
    WanDiTConfig config = resolve_wan_dit_config(*file, true);
    EXPECT_EQ(config.num_heads, 2) << name;
    WanDiT dit(*file, config);
    TextConditioning text = dit.encode_text(ctx(), context, DiTPrecision::F32);
    Tensor out = dit.forward(ctx(), latent, 640, text, DiTPrecision::F32);
    if (!first.defined())
      first = out;
    else
      EXPECT_TRUE(test::all_close(out, first, {1e-5, 1e-5})) << name;
  }
}

TEST(Layouts, EveryVaeLayoutGivesTheSameOutput) {
  Tensor z = layout_ref("vae_latent");
  Tensor first;
  for (const char* name : {"Wan2.1_VAE.pth", "vae_diffusers.safetensors"}) {
    auto file = WeightFile::open(path(name));
    WanVAE vae(*file, resolve_wan_vae_config(*file, true));
    Tensor video = vae.decode(ctx(), z);
    if (!first.defined())
      first = video;
    else
      EXPECT_TRUE(test::all_close(video, first, {1e-6, 1e-6})) << name;
  }
}

TEST(Layouts, EveryUmt5LayoutGivesTheSameOutput) {
  Tensor ids_t = layout_ref("t5_ids");
  std::vector<int32_t> ids;
  for (int64_t i = 0; i < ids_t.numel(); ++i) ids.push_back(int32_t(ids_t.data<int64_t>()[i]));
  Tensor first;
  for (const char* name : {"t5_official.pth", "t5_hf.safetensors", "t5.gguf",
                           "t5_fp8_e4m3fn.safetensors", "t5_fp8_e4m3fn_scaled.safetensors"}) {
    auto file = WeightFile::open(path(name));
    UMT5Encoder encoder(*file, resolve_umt5_config(*file, true));
    Tensor out = encoder.encode(ctx(), ids);
    if (!first.defined())
      first = out;
    else
      EXPECT_TRUE(test::all_close(out, first, {0.0, 0.0})) << name;
  }
}

TEST(Layouts, UnknownVariantsAreRefusedWithTheirShapes) {
  auto file = WeightFile::open(path("dit_official.safetensors"));
  try {
    resolve_wan_dit_config(*file, false);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("unknown Wan DiT variant"), std::string::npos) << msg;
    EXPECT_NE(msg.find("dim 128"), std::string::npos) << msg;
  }
  auto vae = WeightFile::open(path("Wan2.1_VAE.pth"));
  EXPECT_THROW(resolve_wan_vae_config(*vae, false), Error);
  auto t5 = WeightFile::open(path("t5.gguf"));
  EXPECT_THROW(resolve_umt5_config(*t5, false), Error);
  EXPECT_THROW(resolve_wan_dit_config(*t5, true), Error);
}

}  // namespace
}  // namespace kinema
