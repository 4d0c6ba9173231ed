// LoRA loading against the PyTorch reference (ref_lora.py): every naming and dtype merges to the
// reference's tensors; unmerged Linears match W x + s B (A x); DiT forwards with three LoRAs,
// merged and unmerged, and a real-shaped 1.3B block; and every malformed file is refused with
// the keys named.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/refdata.h"
#include "models/lora.h"
#include "models/wan/dit.h"

namespace kinema {
namespace {

const ComputeContext& ctx() {
  static const ComputeContext c = ComputeContext::with_threads(0);
  return c;
}

std::string ref_file(const std::string& name) { return test::ref_path("models", "lora/" + name); }
Tensor ref_npy(const std::string& name) { return test::ref("models", "lora/" + name); }

LoraSet make_set(const std::vector<LoraSpec>& specs, const WanDiTConfig& config) {
  return LoraSet(specs, wan_dit_tensors(config), wan_dit_layouts(), "Wan DiT");
}

WanDiTConfig tiny_config(const WeightFile& file) { return resolve_wan_dit_config(file, true); }

// The tensor as the DiT holds it before a LoRA: Linear (and conv) weights as stored, everything
// else in f32.
Tensor held(const WeightFile& file, const std::string& name) {
  Tensor t = file.tensor(name);
  const bool linear_weight =
      name.size() > 7 && name.substr(name.size() - 7) == ".weight" && t.rank() >= 2;
  return linear_weight || t.dtype() == DType::F32 ? t : t.to(DType::F32);
}

// |got - want| <= 2^-8 |want| + 1e-6 max|want| for bf16 results (one rounding may flip), and
// 1e-5 relative for f32 ones (the f32 GEMM's summation order).
::testing::AssertionResult merged_close(const Tensor& got, const Tensor& want) {
  if (got.dtype() != want.dtype())
    return ::testing::AssertionFailure()
           << "dtype " << name(got.dtype()) << ", expected " << name(want.dtype());
  double scale = 0;
  for (float v : want.to_f32_vector()) scale = std::max(scale, double(std::fabs(v)));
  const double rel = want.dtype() == DType::BF16 ? 1.0 / 256 : 1e-5;
  return test::all_close(got, want, {1e-6 * scale + 1e-9, rel});
}

struct Case {
  const char* name;
  const char* naming;
};

class LoraNamings : public ::testing::TestWithParam<Case> {};

// Each file alone at strength 0.7 on the f32 and the bf16 model: the same targets as the
// reference, merged to the same values.
TEST_P(LoraNamings, MergesLikeTheReference) {
  const Case c = GetParam();
  std::ifstream targets_file(ref_file("targets.json"));
  const nlohmann::json targets = nlohmann::json::parse(targets_file);
  for (const char* base_name : {"f32", "bf16"}) {
    auto base = WeightFile::open(ref_file(str_cat("base_", base_name, ".safetensors")));
    const WanDiTConfig config = tiny_config(*base);
    LoraSet set = make_set({{ref_file(str_cat(c.name, ".safetensors")), 0.7f}}, config);
    ASSERT_EQ(set.files().size(), 1u);
    EXPECT_EQ(set.files()[0].naming, c.naming) << c.name;
    std::vector<std::string> want_targets = targets[c.name].get<std::vector<std::string>>();
    EXPECT_EQ(set.targets(), want_targets) << c.name;
    auto merged =
        WeightFile::open(ref_file(str_cat("merged_", c.name, "_", base_name, ".safetensors")));
    for (const std::string& t : set.targets()) {
      const Tensor b = held(*base, t);
      Tensor got = merge_lora_updates(ctx(), b, *set.updates(t), merged_dtype(b.dtype()));
      EXPECT_TRUE(merged_close(got, merged->tensor(t))) << c.name << " " << base_name << " " << t;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    EveryNamingAndDtype, LoraNamings,
    ::testing::Values(Case{"comfyui_bf16", "comfyui+diff"}, Case{"kohya_f16", "kohya"},
                      Case{"diffusers_f32", "diff+diffusers"}, Case{"peft_bf16", "peft"},
                      Case{"bare_f32", "peft"}, Case{"diff_f32", "diff"},
                      Case{"fp8e4m3", "comfyui"}, Case{"fp8e5m2", "comfyui"}),
    [](const ::testing::TestParamInfo<Case>& param) { return std::string(param.param.name); });

TEST(LoraLinear, UnmergedUpdatesMatchTheReference) {
  Linear l{ref_npy("linear_w"), ref_npy("linear_b"), {}, {}};
  const float scales[] = {0.75f, -1.25f};
  for (int i = 0; i < 2; ++i)
    l.updates.push_back(
        {ref_npy(str_cat("linear_down", i)), ref_npy(str_cat("linear_up", i)), scales[i]});
  const Tensor x = ref_npy("linear_x");
  Tensor y32 = l(ctx(), x, MatmulPrecision::F32, DType::F32);
  EXPECT_TRUE(test::all_close(y32, ref_npy("linear_y_f32"), {1e-5, 1e-5}));
  // bf16: the same roundings as the reference; a different summation order may flip one.
  Tensor y16 = l(ctx(), x, MatmulPrecision::BF16, DType::BF16);
  EXPECT_TRUE(test::all_close(y16, ref_npy("linear_y_bf16"), {1e-2, 1.0 / 128}));
  // A packed weight gives the same.
  l.pack(ctx(), MatmulPrecision::BF16);
  Tensor p16 = l(ctx(), x, MatmulPrecision::BF16, DType::BF16);
  EXPECT_TRUE(test::all_close(p16, ref_npy("linear_y_bf16"), {1e-2, 1.0 / 128}));
}

// Many rows run in blocks (the f32 temporaries stay small): the same as the merged weight.
TEST(LoraLinear, RowBlocksGiveTheMergedResult) {
  const int64_t m = 1100, in = 24, out = 8192, rank = 3;  // blocks of 512 rows
  auto make = [](const Shape& shape, uint64_t seed, float scale) {
    std::vector<float> v = test::random_floats(size_t(shape.numel()), seed, -scale, scale);
    return Tensor::from_f32(shape, v.data());
  };
  Linear unmerged{make({out, in}, 1, 0.2f), make({out}, 2, 0.1f), {}, {}};
  unmerged.updates.push_back({make({rank, in}, 3, 0.3f), make({out, rank}, 4, 0.3f), 0.5f});
  LoraUpdate u;
  u.down = unmerged.updates[0].down;
  u.up = unmerged.updates[0].up;
  u.scale = 0.5f;
  Linear merged{merge_lora_updates(ctx(), unmerged.weight, {u}, DType::F32), unmerged.bias, {},
                {}};
  const Tensor x = make({m, in}, 5, 1.0f);
  Tensor a = unmerged(ctx(), x, MatmulPrecision::F32, DType::F32);
  Tensor b = merged(ctx(), x, MatmulPrecision::F32, DType::F32);
  EXPECT_TRUE(test::all_close(a, b, {1e-5, 1e-5}));
  Tensor a16 = unmerged(ctx(), x, MatmulPrecision::BF16, DType::BF16);
  Tensor b16 = merged(ctx(), x, MatmulPrecision::BF16, DType::BF16);
  EXPECT_TRUE(test::all_close(a16, b16, {2e-2, 2e-2}));  // different bf16 roundings
}

// Output within rel * max|want| (+ rel elementwise), as the DiT parity tests.
::testing::AssertionResult close_to_scale(const Tensor& got, const Tensor& want, double rel) {
  double scale = 0;
  for (float v : want.to_f32_vector()) scale = std::max(scale, double(std::fabs(v)));
  return test::all_close(got, want, {rel * scale, rel});
}

void check_forward(const std::string& weights, const std::vector<LoraSpec>& specs,
                   const std::string& prefix, double timestep) {
  auto file = WeightFile::open(ref_file(weights));
  const WanDiTConfig config = resolve_wan_dit_config(*file, true);
  LoraSet set = make_set(specs, config);
  const Tensor latent = ref_npy(prefix + "_latent");
  const Tensor context = ref_npy(prefix + "_context");
  for (LoraMode mode : {LoraMode::Merge, LoraMode::Unmerged}) {
    WanDiTOptions options;
    options.loras = &set;
    options.lora_mode = mode;
    WanDiT dit(*file, config, options);
    ASSERT_EQ(dit.lora_mode(), mode);
    const std::string kind = mode == LoraMode::Merge ? "merged" : "unmerged";
    for (DiTPrecision precision : {DiTPrecision::F32, DiTPrecision::BF16}) {
      TextConditioning text = dit.encode_text(ctx(), context, precision);
      Tensor out = dit.forward(ctx(), latent, timestep, text, precision);
      const bool f32 = precision == DiTPrecision::F32;
      const Tensor want = ref_npy(str_cat(prefix, "_", kind, f32 ? "_f32" : "_bf16"));
      // f32: the reference's math up to summation order; bf16: single roundings may flip.
      EXPECT_TRUE(close_to_scale(out, want, f32 ? 1e-4 : 2e-2)) << kind << (f32 ? " f32" : " bf16");
    }
  }
}

TEST(LoraDiT, ThreeLorasMergedAndUnmergedMatchTheReference) {
  check_forward("base_bf16.safetensors",
                {{ref_file("comfyui_bf16.safetensors"), 0.8f},
                 {ref_file("diffusers_f32.safetensors"), -0.5f},
                 {ref_file("diff_f32.safetensors"), 1.0f}},
                "dit", 917);
}

TEST(LoraDiT, RealShaped1_3BBlockMatchesTheReference) {
  check_forward("block_1_3b.safetensors", {{ref_file("block_lora.safetensors"), 1.0f}}, "block",
                500);
}

TEST(LoraDiT, AutoModeMergesWithinTheBudgetOnly) {
  auto file = WeightFile::open(ref_file("base_bf16.safetensors"));
  const WanDiTConfig config = tiny_config(*file);
  LoraSet set = make_set({{ref_file("comfyui_bf16.safetensors"), 1.0f}}, config);
  WanDiTOptions options;
  options.loras = &set;
  EXPECT_EQ(WanDiT(*file, config, options).lora_mode(), LoraMode::Merge);
  options.lora_memory_budget = 1000;  // bytes: less than one merged weight
  EXPECT_EQ(WanDiT(*file, config, options).lora_mode(), LoraMode::Unmerged);
  EXPECT_EQ(choose_lora_mode(LoraMode::Auto, 10, 0, true), LoraMode::Unmerged);
  EXPECT_EQ(choose_lora_mode(LoraMode::Merge, 10, 5, true), LoraMode::Merge);
  EXPECT_EQ(choose_lora_mode(LoraMode::Auto, 10, 20, false), LoraMode::Merge);
}

// Every malformed file is refused, naming the file and the offending keys.
TEST(LoraErrors, NameTheFileAndTheKeys) {
  auto file = WeightFile::open(ref_file("base_f32.safetensors"));
  const WanDiTConfig config = tiny_config(*file);
  const std::pair<const char*, std::vector<const char*>> cases[] = {
      {"bad_unknown", {"blocks.7.self_attn.q", "targets no tensor of the Wan DiT"}},
      {"bad_rank", {"ranks disagree", "blocks.0.self_attn.q.lora_down.weight"}},
      {"bad_shape", {"does not give [128, 128]", "blocks.0.self_attn.k"}},
      {"bad_half", {"blocks.0.ffn.0.lora_down.weight", "lora_up) is missing"}},
      {"bad_alpha", {"blocks.0.ffn.2.alpha", "one finite number"}},
      {"bad_nan", {"blocks.1.ffn.0.lora_down.weight", "NaN"}},
      {"bad_locon", {"lora_mid.weight", "not supported"}},
      {"bad_diff", {"blocks.0.norm3.diff_b is [64], expected [128]"}},
      {"bad_name", {"blocks.0.self_attn.q.weight", "not a LoRA tensor name"}},
      {"bad_bias_low_rank", {"not a weight matrix", "blocks.0.modulation"}},
      {"block_lora", {"blocks.0.cross_attn.k.lora_down.weight", "does not give [128, 128]"}},
      {"empty", {"changes nothing"}},
  };
  for (const auto& [name, needles] : cases) {
    const std::string path = ref_file(str_cat(name, ".safetensors"));
    try {
      make_set({{path, 1.0f}}, config);
      ADD_FAILURE() << name << " was accepted";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(path), std::string::npos) << msg;
      for (const char* needle : needles) EXPECT_NE(msg.find(needle), std::string::npos) << msg;
    }
  }
  EXPECT_THROW(make_set({{ref_file("missing.safetensors"), 1.0f}}, config), Error);
}

TEST(LoraSpecs, ParseFileAndScale) {
  LoraSpec a = parse_lora_spec("x.safetensors");
  EXPECT_EQ(a.path, "x.safetensors");
  EXPECT_EQ(a.strength, 1.0f);
  LoraSpec b = parse_lora_spec("dir/x.safetensors:0.6");
  EXPECT_EQ(b.path, "dir/x.safetensors");
  EXPECT_FLOAT_EQ(b.strength, 0.6f);
  LoraSpec c = parse_lora_spec("odd:name.safetensors");
  EXPECT_EQ(c.path, "odd:name.safetensors");
  EXPECT_FLOAT_EQ(parse_lora_spec("x:-1.5").strength, -1.5f);
  EXPECT_THROW(parse_lora_spec("x:inf"), Error);
  EXPECT_EQ(lora_mode_from_name("unmerged"), LoraMode::Unmerged);
  EXPECT_THROW(lora_mode_from_name("sometimes"), Error);
}

}  // namespace
}  // namespace kinema
