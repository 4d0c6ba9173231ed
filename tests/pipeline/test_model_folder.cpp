// resolve_model_folder: each supported folder layout, what a missing component reports, and the
// kinema.json manifest (defaults, custom sizes) with its errors naming the file and the field.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "pipeline/text_to_video.h"

namespace kinema {
namespace {

namespace fs = std::filesystem;

class ModelFolder : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("kinema_folder_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "_" +
            std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  // Resolution only looks at names, so empty files are enough.
  void touch(const std::vector<std::string>& names) const {
    for (const std::string& n : names) {
      fs::create_directories((dir_ / n).parent_path());
      std::ofstream(dir_ / n) << "";
    }
  }
  void manifest(const std::string& text) const { std::ofstream(dir_ / "kinema.json") << text; }
  std::string error_of() const {
    try {
      resolve_model_folder(dir_.string());
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }
  fs::path dir_;
};

TEST_F(ModelFolder, FindsTheOfficialLayout) {
  touch({"diffusion_pytorch_model.safetensors", "models_t5_umt5-xxl-enc-bf16.pth", "Wan2.1_VAE.pth",
         "google/umt5-xxl/spiece.model"});
  const ModelFiles f = resolve_model_folder(dir_.string());
  EXPECT_EQ(f.dit, (dir_ / "diffusion_pytorch_model.safetensors").string());
  EXPECT_EQ(f.t5, (dir_ / "models_t5_umt5-xxl-enc-bf16.pth").string());
  EXPECT_EQ(f.vae, (dir_ / "Wan2.1_VAE.pth").string());
  EXPECT_EQ(f.tokenizer, (dir_ / "google/umt5-xxl/spiece.model").string());
  EXPECT_FALSE(f.allow_custom);
  EXPECT_TRUE(f.name.empty());
  EXPECT_FALSE(f.defaults.frames.has_value());
}

TEST_F(ModelFolder, FindsTheDiffusersLayout) {
  fs::create_directories(dir_ / "transformer");
  fs::create_directories(dir_ / "text_encoder");
  fs::create_directories(dir_ / "vae");
  touch({"tokenizer/spiece.model"});
  const ModelFiles f = resolve_model_folder(dir_.string());
  EXPECT_EQ(f.dit, (dir_ / "transformer").string());
  EXPECT_EQ(f.vae, (dir_ / "vae").string());
}

TEST_F(ModelFolder, MissingComponentsAreListed) {
  touch({"dit.safetensors", "spiece.model"});
  const std::string e = error_of();
  EXPECT_NE(e.find("not a Wan model folder"), std::string::npos) << e;
  EXPECT_NE(e.find("text encoder"), std::string::npos) << e;
  EXPECT_NE(e.find("VAE"), std::string::npos) << e;
  EXPECT_EQ(e.find("DiT"), std::string::npos) << e;
}

TEST_F(ModelFolder, ManifestGivesNameCustomSizesAndDefaults) {
  touch({"dit.safetensors", "t5.safetensors", "vae.safetensors", "spiece.model"});
  manifest(R"({"name": "demo", "description": "shapes", "custom_sizes": true,
               "defaults": {"width": 128, "height": 96, "frames": 17, "fps": 8, "steps": 20,
                            "guidance": 4.5, "shift": 3, "sampler": "euler",
                            "negative_prompt": ""}})");
  const ModelFiles f = resolve_model_folder(dir_.string());
  EXPECT_EQ(f.name, "demo");
  EXPECT_TRUE(f.allow_custom);
  const ModelDefaults& d = f.defaults;
  EXPECT_EQ(d.width, 128);
  EXPECT_EQ(d.height, 96);
  EXPECT_EQ(d.frames, 17);
  EXPECT_EQ(d.fps, 8);
  EXPECT_EQ(d.steps, 20);
  EXPECT_FLOAT_EQ(d.guidance.value(), 4.5f);
  EXPECT_DOUBLE_EQ(d.shift.value(), 3.0);  // an integer is a number too
  EXPECT_EQ(d.sampler, "euler");
  ASSERT_TRUE(d.negative_prompt.has_value());  // explicitly empty, not the Wan default
  EXPECT_EQ(*d.negative_prompt, "");
}

TEST_F(ModelFolder, ManifestErrorsNameTheFileAndField) {
  touch({"dit.safetensors", "t5.safetensors", "vae.safetensors", "spiece.model"});
  const struct {
    const char* json;
    std::vector<std::string> expected;
  } cases[] = {
      {"[1, 2]", {"kinema.json", "not a JSON object"}},
      {"{\"name\": ", {"kinema.json", "not valid JSON"}},
      {R"({"nmae": "x"})", {"unknown field 'nmae'"}},
      {R"({"name": 3})", {"field 'name'", "a string"}},
      {R"({"custom_sizes": "yes"})", {"custom_sizes", "true or false"}},
      {R"({"defaults": 3})", {"'defaults' must be an object"}},
      {R"({"defaults": {"frame": 17}})", {"unknown field 'defaults.frame'"}},
      {R"({"defaults": {"frames": 16}})", {"defaults.frames", "4n+1"}},
      {R"({"defaults": {"frames": 17.5}})", {"field 'frames'", "an integer"}},
      {R"({"defaults": {"frames": 4294967313}})", {"field 'frames'", "out of range"}},
      {R"({"defaults": {"steps": -9999999999}})", {"field 'steps'", "out of range"}},
      {R"({"defaults": {"width": 100, "height": 96}})", {"defaults.width/height", "16"}},
      {R"({"defaults": {"width": 128}})", {"width and height together"}},
      {R"({"defaults": {"steps": 0}})", {"defaults.steps", "1 to 1000"}},
      {R"({"defaults": {"fps": 0}})", {"defaults.fps", "1 to 240"}},
      {R"({"defaults": {"shift": -1}})", {"defaults.shift", "above 0"}},
      {R"({"defaults": {"guidance": "high"}})", {"field 'guidance'", "a number"}},
      {R"({"defaults": {"sampler": "ddim"}})",
       {"defaults.sampler", "ddim", "unipc, dpm++, euler or lcm"}},
      {R"({"loras": "x.safetensors"})", {"'loras' must be a list"}},
      {R"({"loras": [3]})", {"'loras' must hold", "FILE[:SCALE]"}},
      {R"({"loras": ["x.safetensors:inf"]})", {"loras", "finite"}},
      {R"({"lora_defaults": []})", {"'lora_defaults' must be an object"}},
      {R"({"lora_defaults": {"f.safetensors": {"steps": 0}}})",
       {"lora_defaults.f.safetensors.steps", "1 to 1000"}},
      {R"({"lora_defaults": {"f.safetensors": {"sampler": "ddim"}}})",
       {"lora_defaults.f.safetensors.sampler", "ddim"}},
  };
  for (const auto& c : cases) {
    manifest(c.json);
    const std::string e = error_of();
    ASSERT_FALSE(e.empty()) << c.json;
    EXPECT_NE(e.find((dir_ / "kinema.json").string()), std::string::npos) << e;
    for (const std::string& part : c.expected)
      EXPECT_NE(e.find(part), std::string::npos) << c.json << " -> " << e;
  }
}

// kinema.json's LoRAs (applied to every run, relative to the folder) and the defaults that go
// with a LoRA when it is applied.
TEST_F(ModelFolder, ManifestGivesLorasAndTheirDefaults) {
  touch({"dit.safetensors", "t5.safetensors", "vae.safetensors", "spiece.model"});
  manifest(R"({"loras": ["style.safetensors:0.5", "/abs/x.safetensors"],
               "lora_defaults": {"fast.safetensors": {"sampler": "lcm", "steps": 4,
                                                      "guidance": 1}}})");
  const ModelFiles f = resolve_model_folder(dir_.string());
  ASSERT_EQ(f.loras.size(), 2u);
  EXPECT_EQ(f.loras[0].path, (dir_ / "style.safetensors").string());
  EXPECT_FLOAT_EQ(f.loras[0].strength, 0.5f);
  EXPECT_EQ(f.loras[1].path, "/abs/x.safetensors");
  ASSERT_EQ(f.lora_defaults.size(), 1u);
  EXPECT_EQ(f.lora_defaults[0].first, fs::weakly_canonical(dir_ / "fast.safetensors").string());
  EXPECT_EQ(f.lora_defaults[0].second.sampler, "lcm");
  EXPECT_EQ(f.lora_defaults[0].second.steps, 4);
  EXPECT_FLOAT_EQ(f.lora_defaults[0].second.guidance.value(), 1.0f);
  EXPECT_FALSE(f.defaults.steps.has_value());  // the folder's own defaults are untouched
}

}  // namespace
}  // namespace kinema
