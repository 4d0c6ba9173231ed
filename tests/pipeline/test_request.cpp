// The one validated request path: text parsing, the order of defaults (request, kinema.json,
// the model's preset), every range with its message, and the memory limit.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "pipeline/request.h"

namespace kinema {
namespace {

ModelDescription model_1_3b() {
  ModelDescription m;
  m.name = "Wan2.1-T2V-1.3B";
  m.dit = wan21_t2v_1_3b();
  return m;
}

// The RequestError of `fn`, or a failure.
template <class Fn>
RequestError error_of(Fn&& fn) {
  try {
    fn();
  } catch (const RequestError& e) {
    return e;
  }
  ADD_FAILURE() << "expected a RequestError";
  return RequestError("", "", "");
}

GenerationRequest with_prompt() {
  GenerationRequest r;
  r.prompt = "a fox in the snow";
  return r;
}

TEST(Request, DefaultsComeFromTheRequestThenTheManifestThenThePreset) {
  GenerationRequest r = with_prompt();
  r.seed = 5;
  GenerationParams p = resolve(r, model_1_3b(), 0);
  EXPECT_EQ(p.width, 832);
  EXPECT_EQ(p.height, 480);
  EXPECT_EQ(p.frames, 81);
  EXPECT_EQ(p.fps, 16);
  EXPECT_EQ(p.steps, 50);
  EXPECT_EQ(p.guidance, 5.0f);
  EXPECT_EQ(p.shift, 5.0);
  EXPECT_EQ(p.sampler, SamplerKind::UniPC);
  EXPECT_EQ(p.negative_prompt, std::string(kWanDefaultNegativePrompt));
  EXPECT_EQ(p.seed, 5u);

  ModelDescription big = model_1_3b();
  big.dit = wan21_t2v_14b();  // its preset's size, not a guess from its width
  p = resolve(r, big, 0);
  EXPECT_EQ(p.width, 1280);
  EXPECT_EQ(p.height, 720);

  ModelDescription demo = model_1_3b();
  demo.manifest.width = 128;
  demo.manifest.height = 128;
  demo.manifest.frames = 17;
  demo.manifest.steps = 20;
  demo.manifest.negative_prompt = "";
  demo.manifest.sampler = "euler";
  p = resolve(r, demo, 0);
  EXPECT_EQ(p.width, 128);
  EXPECT_EQ(p.frames, 17);
  EXPECT_EQ(p.steps, 20);
  EXPECT_EQ(p.negative_prompt, "");
  EXPECT_EQ(p.sampler, SamplerKind::Euler);

  set_request_field(r, "size", "256x160");
  set_request_field(r, "steps", "3");
  set_request_field(r, "negative_prompt", "blurry");
  set_request_field(r, "sampler", "dpm++");
  p = resolve(r, demo, 0);
  EXPECT_EQ(p.width, 256);
  EXPECT_EQ(p.height, 160);
  EXPECT_EQ(p.steps, 3);
  EXPECT_EQ(p.negative_prompt, "blurry");
  EXPECT_EQ(p.sampler, SamplerKind::DpmPP2M);

  // No seed: one is drawn.
  r.seed.reset();
  EXPECT_TRUE(resolve(r, demo, 0).seed.has_value());
}

TEST(Request, TextIsParsedStrictly) {
  GenerationRequest r = with_prompt();
  set_request_field(r, "seed", "18446744073709551615");
  EXPECT_EQ(*r.seed, std::numeric_limits<uint64_t>::max());
  set_request_field(r, "guidance", "7.5");
  EXPECT_EQ(*r.guidance, 7.5);
  set_request_field(r, "size", "64X32");
  EXPECT_EQ(*r.width, 64);
  struct Case {
    const char *field, *text, *expect;
  };
  const Case cases[] = {
      {"seed", "-1", "negative seeds are not wrapped"},
      {"seed", "18446744073709551616", "larger seeds are not wrapped"},
      {"seed", "1e3", "whole number"},
      {"seed", "", "whole number"},
      {"steps", "1.5", "whole number"},
      {"steps", "99999999999999999999", "out of range"},
      {"frames", " 17", "whole number"},
      {"guidance", "five", "expected a number"},
      {"guidance", "5x", "expected a number"},
      {"guidance", " 5", "expected a number"},
      {"size", "832", "WIDTHxHEIGHT"},
      {"size", "x480", "WIDTHxHEIGHT"},
      {"size", "832x-480", "WIDTHxHEIGHT"},
      {"colour", "red", "not a field"},
  };
  for (const Case& c : cases) {
    RequestError e = error_of([&] { set_request_field(r, c.field, c.text); });
    EXPECT_EQ(e.field(), c.field) << c.text;
    EXPECT_NE(std::string(e.what()).find(c.expect), std::string::npos)
        << c.field << " " << c.text << " -> " << e.what();
  }
}

TEST(Request, EveryFieldIsCheckedWithItsRange) {
  struct Case {
    const char *field, *text, *expect;
  };
  const Case cases[] = {
      {"guidance", "nan", "must be a finite number from 0 to 100"},
      {"guidance", "inf", "must be a finite number"},
      {"guidance", "-0.5", "from 0 to 100"},
      {"guidance", "1e30", "from 0 to 100"},
      {"shift", "0", "above 0"},
      {"shift", "-inf", "above 0"},
      {"shift", "101", "at most 100"},
      {"steps", "0", "expected 1 to 1000"},
      {"steps", "1001", "expected 1 to 1000"},
      {"fps", "0", "expected 1 to 240"},
      {"fps", "241", "expected 1 to 240"},
      {"frames", "0", "expected 1 to"},
      {"frames", "-5", "expected 1 to"},
      {"size", "0x16", "positive"},
      {"size", "32768x16", "at most 16384"},
      {"sampler", "ddim", "expected unipc, dpm++, euler or lcm"},
      {"precision", "fp16", "expected bf16 or f32"},
  };
  for (const Case& c : cases) {
    GenerationRequest r = with_prompt();
    set_request_field(r, c.field, c.text);
    RequestError e = error_of([&] { check_request(r); });
    EXPECT_EQ(e.field(), c.field) << c.text;
    EXPECT_NE(std::string(e.what()).find(c.expect), std::string::npos)
        << c.field << " " << c.text << " -> " << e.what();
  }
  GenerationRequest r;
  EXPECT_EQ(error_of([&] { check_request(r); }).problem(), "is empty");
  r.prompt = " \t\n\u3000 ";  // the ideographic space too
  EXPECT_EQ(error_of([&] { check_request(r); }).problem(), "holds only white space");
  r.prompt = std::string(kMaxPromptBytes + 1, 'a');
  EXPECT_EQ(error_of([&] { check_request(r); }).field(), "prompt");
  r = with_prompt();
  r.seed = 1;
  r.noise_file = "noise.safetensors";
  EXPECT_NE(error_of([&] { check_request(r); }).problem().find("not both"), std::string::npos);
}

TEST(Request, ModelRulesAndMemoryAreCheckedAtResolve) {
  GenerationRequest r = with_prompt();
  set_request_field(r, "size", "840x480");
  RequestError e = error_of([&] { resolve(r, model_1_3b(), 0); });
  EXPECT_EQ(e.field(), "size");
  EXPECT_NE(e.problem().find("multiples of 16"), std::string::npos);

  r = with_prompt();
  set_request_field(r, "frames", "20");
  e = error_of([&] { resolve(r, model_1_3b(), 0); });
  EXPECT_NE(e.problem().find("nearest valid: 17 or 21"), std::string::npos) << e.what();

  // 100001 frames of 832x480 cannot fit in 16 GiB: refused with the estimate.
  r = with_prompt();
  set_request_field(r, "frames", "100001");
  e = error_of([&] { resolve(r, model_1_3b(), uint64_t(16) << 30); });
  EXPECT_EQ(e.field(), "frames");
  EXPECT_NE(e.problem().find("GiB of working memory"), std::string::npos) << e.what();
  EXPECT_NE(e.problem().find("16 GiB is available"), std::string::npos) << e.what();
  // 81 frames fit.
  r = with_prompt();
  EXPECT_NO_THROW(resolve(r, model_1_3b(), uint64_t(16) << 30));

  r = with_prompt();
  r.noise_file = "/nonexistent/noise.safetensors";
  e = error_of([&] { resolve(r, model_1_3b(), 0); });
  EXPECT_EQ(e.field(), "noise");
  EXPECT_NE(std::string(e.what()).find("/nonexistent/noise.safetensors"), std::string::npos);
}

TEST(Request, MetadataRecordsTheSettings) {
  GenerationRequest r = with_prompt();
  r.seed = 42;
  const GenerationParams p = resolve(r, model_1_3b(), 0);
  const auto m = generation_metadata(p, "Wan2.1-T2V-1.3B", "0.1.0");
  EXPECT_EQ(m.at("seed"), "42");
  EXPECT_EQ(m.at("size"), "832x480");
  EXPECT_EQ(m.at("frames"), "81");
  EXPECT_EQ(m.at("sampler"), "unipc");
  EXPECT_EQ(m.at("model"), "Wan2.1-T2V-1.3B");
  EXPECT_EQ(m.count("noise"), 0u);
}

// LoRAs and the step cache: parsed with the request, recorded in the metadata; a cache asked
// for a distilled run is turned off with the reason.
TEST(Request, LorasAndTheCacheAreParsedCheckedAndRecorded) {
  GenerationRequest r = with_prompt();
  set_request_field(r, "lora", "a.safetensors");
  set_request_field(r, "lora", "dir/b.safetensors:0.5");
  set_request_field(r, "cache", "easycache:0.1");
  r.seed = 1;
  const std::vector<LoraSpec> specs = request_loras(r);
  ASSERT_EQ(specs.size(), 2u);
  EXPECT_EQ(specs[1].path, "dir/b.safetensors");
  EXPECT_FLOAT_EQ(specs[1].strength, 0.5f);
  GenerationRequest bad = with_prompt();
  bad.loras = {"x.safetensors:inf"};
  EXPECT_EQ(error_of([&] { check_request(bad); }).field(), "lora");
  bad = with_prompt();
  bad.cache = "teacache";
  RequestError e = error_of([&] { check_request(bad); });
  EXPECT_EQ(e.field(), "cache");
  EXPECT_NE(std::string(e.what()).find("easycache"), std::string::npos);

  ModelDescription m = model_1_3b();
  m.loras = {LoraFileInfo{"a.safetensors", std::string(64, 'a'), 1.0f, "comfyui", 16, 10}};
  GenerationParams p = resolve(r, m, 0);
  ASSERT_TRUE(p.cache.has_value());
  EXPECT_DOUBLE_EQ(p.cache->threshold, 0.1);
  EXPECT_TRUE(p.cache_note.empty());
  auto meta = generation_metadata(p, "Wan2.1-T2V-1.3B", "0.1.0");
  EXPECT_EQ(meta.at("cache"), "easycache:0.1");
  EXPECT_NE(meta.at("loras").find(std::string(64, 'a')), std::string::npos);
  EXPECT_NE(meta.at("loras").find("a.safetensors"), std::string::npos);
  EXPECT_EQ(meta.at("lora_mode"), "merge");

  r.sampler = "lcm";
  r.steps = 4;
  r.guidance = 1.0;
  p = resolve(r, m, 0);
  EXPECT_FALSE(p.cache.has_value());
  EXPECT_NE(p.cache_note.find("distilled run"), std::string::npos) << p.cache_note;
  EXPECT_EQ(generation_metadata(p, "x", "0").at("cache"), "off");
  r.cache = "off";
  EXPECT_TRUE(resolve(r, m, 0).cache_note.empty());
}

}  // namespace
}  // namespace kinema
