#include "pipeline/text_to_video.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <type_traits>

#include "pipeline/noise.h"
#include "pipeline/sampler.h"

namespace kinema {

const std::string_view kWanDefaultNegativePrompt =
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，"
    "低质量，JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容"
    "的，"
    "形态畸形的肢体，手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走";

std::string_view phase_name(Phase phase) {
  switch (phase) {
    case Phase::EncodeText: return "encode text";
    case Phase::Denoise: return "denoise";
    case Phase::Decode: return "decode";
  }
  return "?";
}

namespace {

namespace fs = std::filesystem;

// The first candidate (relative to dir) that exists, or "" when none does.
std::string first_existing(const fs::path& dir, const std::vector<std::string>& candidates) {
  for (const std::string& c : candidates) {
    std::error_code ec;
    if (fs::exists(dir / c, ec)) return (dir / c).string();
  }
  return "";
}

// Files in dir whose name starts with one of the stems and has a weight-file extension.
std::string by_stem(const fs::path& dir, const std::vector<std::string>& stems) {
  std::error_code ec;
  for (const std::string& stem : stems)
    for (const char* ext : {".safetensors", ".gguf", ".pth", ".pt"})
      if (fs::exists(dir / (stem + ext), ec)) return (dir / (stem + ext)).string();
  return "";
}

// The value of field `key` of `obj` in the manifest `path`, of the JSON type `want` (a JSON
// number is accepted where a float is wanted).
template <typename T>
std::optional<T> manifest_field(const std::string& path, const nlohmann::json& obj,
                                const std::string& key, const char* want) {
  auto it = obj.find(key);
  if (it == obj.end()) return std::nullopt;
  const bool ok = std::is_same_v<T, bool>          ? it->is_boolean()
                  : std::is_same_v<T, std::string> ? it->is_string()
                  : std::is_integral_v<T>          ? it->is_number_integer()
                                                   : it->is_number();
  if (!ok) fail(path, ": field '", key, "' must be ", want, ", found ", it->dump());
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    const bool fits = it->is_number_unsigned()
                          ? it->get<uint64_t>() <= uint64_t(std::numeric_limits<T>::max())
                          : it->get<int64_t>() >= int64_t(std::numeric_limits<T>::min()) &&
                                it->get<int64_t>() <= int64_t(std::numeric_limits<T>::max());
    if (!fits) fail(path, ": field '", key, "' is out of range: ", it->dump());
  }
  return it->get<T>();
}

}  // namespace

void read_model_manifest(const std::string& path, ModelFiles& files) {
  std::ifstream in(path);
  if (!in) fail(path, ": cannot read");
  nlohmann::json doc = nlohmann::json::parse(in, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) fail(path, ": not a JSON object");
  for (const auto& [key, value] : doc.items())
    if (key != "name" && key != "custom_sizes" && key != "defaults" && key != "description")
      fail(path, ": unknown field '", key,
           "' (expected name, description, custom_sizes, defaults)");
  files.name = manifest_field<std::string>(path, doc, "name", "a string").value_or("");
  manifest_field<std::string>(path, doc, "description", "a string");
  files.allow_custom |=
      manifest_field<bool>(path, doc, "custom_sizes", "true or false").value_or(false);
  if (!doc.contains("defaults")) return;
  const nlohmann::json& d = doc["defaults"];
  if (!d.is_object()) fail(path, ": field 'defaults' must be an object");
  static const char* kKnown[] = {"width", "height",  "frames",         "fps", "steps", "guidance",
                                 "shift", "sampler", "negative_prompt"};
  for (const auto& [key, value] : d.items())
    if (std::find(std::begin(kKnown), std::end(kKnown), key) == std::end(kKnown))
      fail(path, ": unknown field 'defaults.", key,
           "' (expected width, height, frames, fps, steps, guidance, shift, sampler, "
           "negative_prompt)");
  ModelDefaults& m = files.defaults;
  const std::string where = path + ": defaults";
  m.width = manifest_field<int>(where, d, "width", "an integer");
  m.height = manifest_field<int>(where, d, "height", "an integer");
  if (m.width.has_value() != m.height.has_value())
    fail(path, ": defaults give width and height together or neither");
  // The shared checks' messages, prefixed with the file and field.
  auto checked = [&path](const char* field, auto&& check) {
    try {
      check();
    } catch (const Error& e) {
      fail(path, ": defaults.", field, ": ", e.what());
    }
  };
  if (m.width) checked("width/height", [&] { check_video_size(*m.width, *m.height); });
  m.frames = manifest_field<int>(where, d, "frames", "an integer");
  if (m.frames) checked("frames", [&] { check_frame_count(*m.frames); });
  m.fps = manifest_field<int>(where, d, "fps", "an integer");
  if (m.fps && (*m.fps < 1 || *m.fps > 240)) fail(path, ": defaults.fps: expected 1 to 240");
  m.steps = manifest_field<int>(where, d, "steps", "an integer");
  if (m.steps && (*m.steps < 1 || *m.steps > 1000))
    fail(path, ": defaults.steps: expected 1 to 1000");
  m.guidance = manifest_field<float>(where, d, "guidance", "a number");
  m.shift = manifest_field<double>(where, d, "shift", "a number");
  if (m.shift && !(*m.shift > 0)) fail(path, ": defaults.shift: must be positive");
  m.sampler = manifest_field<std::string>(where, d, "sampler", "a string");
  if (m.sampler) checked("sampler", [&] { sampler_from_name(*m.sampler); });
  m.negative_prompt = manifest_field<std::string>(where, d, "negative_prompt", "a string");
}

ModelFiles resolve_model_folder(const std::string& dir_name) {
  const fs::path dir(dir_name);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) fail(dir_name, ": not a folder");
  ModelFiles f;
  // Diffusers folders: each component in its own subfolder (WeightFile opens folders).
  if (fs::is_directory(dir / "transformer", ec)) {
    f.dit = (dir / "transformer").string();
    f.t5 = (dir / "text_encoder").string();
    f.vae = (dir / "vae").string();
    f.tokenizer = first_existing(dir, {"tokenizer/spiece.model"});
  } else {
    f.dit = first_existing(dir, {"diffusion_pytorch_model.safetensors.index.json",
                                 "diffusion_pytorch_model.safetensors"});
    if (f.dit.empty()) f.dit = by_stem(dir, {"dit", "transformer", "diffusion_model"});
    f.t5 = first_existing(dir, {"models_t5_umt5-xxl-enc-bf16.pth"});
    if (f.t5.empty()) f.t5 = by_stem(dir, {"t5", "umt5", "umt5_xxl", "text_encoder"});
    f.vae = first_existing(dir, {"Wan2.1_VAE.pth"});
    if (f.vae.empty()) f.vae = by_stem(dir, {"vae", "wan_2.1_vae", "Wan2.1_VAE"});
    f.tokenizer = first_existing(
        dir, {"google/umt5-xxl/spiece.model", "tokenizer/spiece.model", "spiece.model"});
  }
  std::string missing;
  if (f.dit.empty()) missing += " DiT (diffusion_pytorch_model*.safetensors, dit.*);";
  if (f.t5.empty()) missing += " text encoder (models_t5_umt5-xxl-enc-bf16.pth, t5.*);";
  if (f.vae.empty()) missing += " VAE (Wan2.1_VAE.pth, vae.*);";
  if (f.tokenizer.empty()) missing += " tokenizer (google/umt5-xxl/spiece.model, spiece.model);";
  if (!missing.empty()) {
    missing.pop_back();
    fail(dir_name, ": not a Wan model folder; missing", missing);
  }
  const std::string manifest = first_existing(dir, {"kinema.json"});
  if (!manifest.empty()) read_model_manifest(manifest, f);
  return f;
}

WanModels::WanModels(const ModelFiles& files) : files_(files) {
  dit_file_ = WeightFile::open(files.dit);
  dit_ =
      std::make_unique<WanDiT>(*dit_file_, resolve_wan_dit_config(*dit_file_, files.allow_custom),
                               WanDiTOptions{files.pack_weights});
  vae_file_ = WeightFile::open(files.vae);
  vae_ =
      std::make_unique<WanVAE>(*vae_file_, resolve_wan_vae_config(*vae_file_, files.allow_custom));
  tokenizer_ = Tokenizer::load(files.tokenizer);
}

WanModels::~WanModels() = default;

std::vector<Tensor> WanModels::encode_prompts(const ComputeContext& ctx,
                                              const std::vector<std::string>& prompts) const {
  auto file = WeightFile::open(files_.t5);
  UMT5Encoder encoder(*file, resolve_umt5_config(*file, files_.allow_custom));
  if (encoder.config().dim != dit_->config().text_dim)
    fail(files_.t5, ": the text encoder's width ", encoder.config().dim,
         " does not match the DiT's text_dim ", dit_->config().text_dim);
  std::vector<Tensor> out;
  for (const std::string& p : prompts) out.push_back(encoder.encode(ctx, tokenizer_->encode(p)));
  return out;  // the encoder and its mapping are released here
}

void check_video_size(int width, int height) {
  if (width <= 0 || height <= 0 || width % 16 || height % 16)
    fail("size ", width, "x", height, ": width and height must be positive multiples of 16");
}

void check_frame_count(int frames) {
  if (frames >= 1 && (frames - 1) % 4 == 0) return;
  if (frames < 1) fail("frames ", frames, ": must be 4n+1 (1, 5, 9, ..., 81)");
  const int below = (frames - 1) / 4 * 4 + 1;
  fail("frames ", frames, ": must be 4n+1; nearest valid: ", below, " or ", below + 4);
}

Shape latent_shape(const GenerationParams& p, int z_dim) {
  check_video_size(p.width, p.height);
  check_frame_count(p.frames);
  if (p.steps < 1) fail("steps must be at least 1, got ", p.steps);
  return Shape({z_dim, (p.frames - 1) / 4 + 1, p.height / 8, p.width / 8});
}

Tensor generate(const ComputeContext& ctx, const WanModels& models, const GenerationParams& params,
                const GenerationCallbacks& cb) {
  auto progress = [&cb](Phase phase, int step, int total) {
    if (cb.progress) cb.progress(phase, step, total);
  };
  auto check_cancel = [&cb] {
    if (cb.cancelled && cb.cancelled()) throw Cancelled();
  };
  const WanDiT& dit = models.dit();
  const Shape shape = latent_shape(params, models.vae().config().z_dim);

  progress(Phase::EncodeText, 0, 2);
  const std::string negative =
      params.negative_prompt ? *params.negative_prompt : std::string(kWanDefaultNegativePrompt);
  std::vector<Tensor> contexts = models.encode_prompts(ctx, {params.prompt, negative});
  TextConditioning cond = dit.encode_text(ctx, contexts[0], params.precision);
  TextConditioning uncond = dit.encode_text(ctx, contexts[1], params.precision);
  contexts.clear();
  progress(Phase::EncodeText, 2, 2);
  check_cancel();

  Tensor x;
  if (params.noise) {
    if (params.noise->shape() != shape || params.noise->dtype() != DType::F32)
      fail("injected noise is ", params.noise->shape().str(), " ", name(params.noise->dtype()),
           ", expected ", shape.str(), " f32");
    x = params.noise->clone();
  } else {
    x = gaussian_noise(ctx, shape, params.seed);
  }
  const Schedule schedule = make_schedule(params.sampler, params.steps, params.shift);
  auto sampler = make_sampler(params.sampler, schedule);
  const int64_t n = shape.numel();
  Tensor v = Tensor::empty(shape, DType::F32);
  progress(Phase::Denoise, 0, params.steps);
  for (int i = 0; i < params.steps; ++i) {
    const int64_t t = schedule.timesteps[size_t(i)];
    Tensor v_cond = dit.forward(ctx, x, t, cond, params.precision);
    check_cancel();
    Tensor v_uncond = dit.forward(ctx, x, t, uncond, params.precision);
    apply_guidance(v_cond.data<float>(), v_uncond.data<float>(), params.guidance,
                   v.mutable_data<float>(), n);
    sampler->step(i, v.data<float>(), x.mutable_data<float>(), n);
    progress(Phase::Denoise, i + 1, params.steps);
    check_cancel();
  }

  progress(Phase::Decode, 0, int(shape[1]));
  return models.vae().decode(ctx, x, [&](int64_t done, int64_t total) {
    progress(Phase::Decode, int(done), int(total));
    check_cancel();
  });
}

}  // namespace kinema
