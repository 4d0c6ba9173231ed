#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "common/refdata.h"
#include "models/umt5/t5_config.h"
#include "models/wan/dit_config.h"
#include "models/wan/vae22_config.h"
#include "models/wan/vae_config.h"

namespace kinema {
namespace {

void expect_same_table(const std::vector<ExpectedTensor>& got, const char* key,
                       const char* file = "tables.json") {
  std::ifstream in(test::ref_path("models", file));
  auto want = nlohmann::json::parse(in)[key];
  ASSERT_EQ(got.size(), want.size()) << key;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].name, want[i][0].get<std::string>()) << key << " #" << i;
    EXPECT_EQ(got[i].shape, Shape(want[i][1].get<std::vector<int64_t>>())) << got[i].name;
  }
}

TEST(WeightTables, DiTMatchesReferenceModel) {
  WanDiTConfig c;
  c.dim = 64;
  c.ffn_dim = 96;
  c.num_heads = 2;
  c.num_layers = 2;
  c.text_dim = 32;
  c.text_len = 16;
  expect_same_table(wan_dit_tensors(c), "dit_tiny");
}

TEST(WeightTables, VaeMatchesReferenceModel) {
  WanVAEConfig tiny;
  tiny.base_dim = 8;
  expect_same_table(wan_vae_tensors(tiny), "vae_tiny");
  expect_same_table(wan_vae_tensors(WanVAEConfig{}), "vae_wan21");
}

TEST(WeightTables, Vae22MatchesReferenceModel) {
  WanVAE22Config tiny;
  tiny.encoder_dim = 16;
  tiny.decoder_dim = 16;
  expect_same_table(wan_vae22_tensors(tiny), "tiny", "vae22/tables.json");
  expect_same_table(wan_vae22_tensors(WanVAE22Config{}), "official", "vae22/tables.json");
}

TEST(WeightTables, T5MatchesReferenceModel) {
  UMT5Config c;
  c.vocab = 50;
  c.dim = 32;
  c.ffn_dim = 40;
  c.num_heads = 4;
  c.head_dim = 8;
  c.num_layers = 2;
  expect_same_table(umt5_tensors(c), "t5_tiny");
}

TEST(WeightTables, OfficialParameterCounts) {
  // wan-spec 1.1: computed from the official shapes.
  EXPECT_EQ(wan21_t2v_1_3b().parameter_count(), 1418996800);
  EXPECT_EQ(wan21_t2v_14b().parameter_count(), 14288491584);
  EXPECT_EQ(wan_dit_tensors(wan21_t2v_1_3b()).size(), 825u);
  EXPECT_EQ(wan_dit_tensors(wan21_t2v_14b()).size(), 1095u);
}

TEST(WeightTables, DiffusersNames) {
  auto name = [](const std::string& n) { return wan_dit_layouts()[1].file_name(n); };
  EXPECT_EQ(name("blocks.3.norm3.weight"), "blocks.3.norm2.weight");
  EXPECT_EQ(name("blocks.3.self_attn.o.bias"), "blocks.3.attn1.to_out.0.bias");
  EXPECT_EQ(name("blocks.0.cross_attn.norm_k.weight"), "blocks.0.attn2.norm_k.weight");
  EXPECT_EQ(name("blocks.0.modulation"), "blocks.0.scale_shift_table");
  EXPECT_EQ(name("head.modulation"), "scale_shift_table");
  EXPECT_EQ(name("head.head.weight"), "proj_out.weight");
  EXPECT_EQ(name("blocks.1.ffn.0.weight"), "blocks.1.ffn.net.0.proj.weight");
  EXPECT_EQ(name("time_projection.1.bias"), "condition_embedder.time_proj.bias");
  auto vae = wan_vae_layouts(WanVAEConfig{})[1].file_name;
  EXPECT_EQ(vae("decoder.upsamples.4.shortcut.weight"),
            "decoder.up_blocks.1.resnets.0.conv_shortcut.weight");
  EXPECT_EQ(vae("decoder.upsamples.11.resample.1.bias"),
            "decoder.up_blocks.2.upsamplers.0.resample.1.bias");
  EXPECT_EQ(vae("decoder.upsamples.7.time_conv.weight"),
            "decoder.up_blocks.1.upsamplers.0.time_conv.weight");
  EXPECT_EQ(vae("encoder.middle.1.to_qkv.weight"), "encoder.mid_block.attentions.0.to_qkv.weight");
  EXPECT_EQ(vae("encoder.downsamples.3.residual.6.bias"), "encoder.down_blocks.3.conv2.bias");
  EXPECT_EQ(vae("conv1.weight"), "quant_conv.weight");
  EXPECT_EQ(vae("decoder.head.2.weight"), "decoder.conv_out.weight");
  auto hf = umt5_layouts()[1].file_name;
  EXPECT_EQ(hf("blocks.5.ffn.gate.0.weight"), "encoder.block.5.layer.1.DenseReluDense.wi_0.weight");
  EXPECT_EQ(hf("blocks.0.pos_embedding.embedding.weight"),
            "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight");
  auto gguf = umt5_layouts()[2].file_name;
  EXPECT_EQ(gguf("blocks.2.ffn.fc1.weight"), "enc.blk.2.ffn_up.weight");
}

}  // namespace
}  // namespace kinema
