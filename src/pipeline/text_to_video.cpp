#include "pipeline/text_to_video.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <type_traits>

#include "core/digest.h"
#include "core/memory.h"
#include "io/weight_scan.h"
#include "pipeline/denoise.h"
#include "pipeline/memory_estimate.h"
#include "pipeline/noise.h"
#include "pipeline/sampler.h"

namespace kinema {

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
  if (!ok) fail(path, ": field '", key, "' must be ", want, ", found ", printable(it->dump(), 60));
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    const bool fits = it->is_number_unsigned()
                          ? it->get<uint64_t>() <= uint64_t(std::numeric_limits<T>::max())
                          : it->get<int64_t>() >= int64_t(std::numeric_limits<T>::min()) &&
                                it->get<int64_t>() <= int64_t(std::numeric_limits<T>::max());
    if (!fits) fail(path, ": field '", key, "' is out of range: ", printable(it->dump(), 60));
  }
  return it->get<T>();
}

// The DiT's own config.json: inside a Diffusers transformer/ folder, or beside an official
// diffusion_pytorch_model*.safetensors file (other single files have none of their own; a
// config.json beside them may belong to something else).
void add_dit_config_json(ModelFiles& f) {
  std::error_code ec;
  const fs::path dit(f.dit);
  fs::path config;
  if (fs::is_directory(dit, ec))
    config = dit / "config.json";
  else if (dit.filename().string().rfind("diffusion_pytorch_model", 0) == 0)
    config = dit.parent_path() / "config.json";
  if (!config.empty() && fs::is_regular_file(config, ec))
    f.dit_statements.push_back(read_dit_config_json(config.string()));
}

// The "defaults" object of a manifest (or one of its "lora_defaults"), every field checked.
ModelDefaults read_defaults(const std::string& path, const std::string& field,
                            const nlohmann::json& d) {
  if (!d.is_object()) fail(path, ": field '", field, "' must be an object");
  static const char* kKnown[] = {"width", "height",  "frames",         "fps", "steps", "guidance",
                                 "shift", "sampler", "negative_prompt"};
  for (const auto& [key, value] : d.items())
    if (std::find(std::begin(kKnown), std::end(kKnown), key) == std::end(kKnown))
      fail(path, ": unknown field '", field, ".", printable(key, 60),
           "' (expected width, height, frames, fps, steps, guidance, shift, sampler, "
           "negative_prompt)");
  ModelDefaults m;
  const std::string where = path + ": " + field;
  m.width = manifest_field<int>(where, d, "width", "an integer");
  m.height = manifest_field<int>(where, d, "height", "an integer");
  if (m.width.has_value() != m.height.has_value())
    fail(path, ": ", field, " gives width and height together or neither");
  // The shared checks' messages, prefixed with the file and field.
  auto checked = [&path, &field](const char* what, auto&& check) {
    try {
      check();
    } catch (const Error& e) {
      fail(path, ": ", field, ".", what, ": ", e.what());
    }
  };
  if (m.width) checked("width/height", [&] { check_video_size(*m.width, *m.height); });
  m.frames = manifest_field<int>(where, d, "frames", "an integer");
  if (m.frames) checked("frames", [&] { check_frame_count(*m.frames); });
  m.fps = manifest_field<int>(where, d, "fps", "an integer");
  m.steps = manifest_field<int>(where, d, "steps", "an integer");
  m.guidance = manifest_field<float>(where, d, "guidance", "a number");
  m.shift = manifest_field<double>(where, d, "shift", "a number");
  m.sampler = manifest_field<std::string>(where, d, "sampler", "a string");
  m.negative_prompt = manifest_field<std::string>(where, d, "negative_prompt", "a string");
  // The same rules as a request's fields, with the file and field in the message.
  GenerationRequest as_request;
  as_request.prompt = "-";
  as_request.fps = m.fps;
  as_request.steps = m.steps;
  as_request.guidance = m.guidance;
  as_request.shift = m.shift;
  as_request.sampler = m.sampler;
  as_request.negative_prompt = m.negative_prompt;
  try {
    check_request(as_request);
  } catch (const RequestError& e) {
    fail(path, ": ", field, ".", e.field(), ": ", e.what());
  }
  return m;
}

}  // namespace

void read_model_manifest(const std::string& path, ModelFiles& files) {
  std::ifstream in(path);
  if (!in) fail(path, ": cannot read");
  nlohmann::json doc = nlohmann::json::parse(in, nullptr, false);
  if (doc.is_discarded()) fail(path, ": not valid JSON");
  if (!doc.is_object()) fail(path, ": not a JSON object");
  for (const auto& [key, value] : doc.items())
    if (key != "name" && key != "custom_sizes" && key != "defaults" && key != "description" &&
        key != "dit" && key != "loras" && key != "lora_defaults")
      fail(path, ": unknown field '", printable(key, 60),
           "' (expected name, description, custom_sizes, dit, defaults, loras, lora_defaults)");
  files.manifest = path;
  if (doc.contains("dit")) {
    if (!doc["dit"].is_object()) fail(path, ": field 'dit' must be an object");
    files.dit_statements.push_back(stated_dit_config(path + ": dit", doc["dit"].dump()));
  }
  files.name = manifest_field<std::string>(path, doc, "name", "a string").value_or("");
  manifest_field<std::string>(path, doc, "description", "a string");
  files.allow_custom |=
      manifest_field<bool>(path, doc, "custom_sizes", "true or false").value_or(false);
  if (doc.contains("defaults")) files.defaults = read_defaults(path, "defaults", doc["defaults"]);
  const fs::path folder = fs::path(path).parent_path();
  auto beside = [&folder](const std::string& file) {
    return fs::path(file).is_absolute() ? file : (folder / file).string();
  };
  if (doc.contains("loras")) {
    const nlohmann::json& list = doc["loras"];
    if (!list.is_array()) fail(path, ": field 'loras' must be a list of \"FILE[:SCALE]\" strings");
    for (const nlohmann::json& item : list) {
      if (!item.is_string())
        fail(path, ": field 'loras' must hold \"FILE[:SCALE]\" strings, found ",
             printable(item.dump(), 60));
      LoraSpec spec;
      try {
        spec = parse_lora_spec(item.get<std::string>());
      } catch (const Error& e) {
        fail(path, ": loras: ", e.what());
      }
      spec.path = beside(spec.path);
      files.loras.push_back(spec);
    }
  }
  if (doc.contains("lora_defaults")) {
    const nlohmann::json& table = doc["lora_defaults"];
    if (!table.is_object())
      fail(path, ": field 'lora_defaults' must be an object (LoRA file -> defaults)");
    for (const auto& [file, d] : table.items()) {
      std::error_code ec;
      files.lora_defaults.emplace_back(fs::weakly_canonical(beside(file), ec).string(),
                                       read_defaults(path, "lora_defaults." + file, d));
    }
  }
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
  add_dit_config_json(f);
  const std::string manifest = first_existing(dir, {"kinema.json"});
  if (!manifest.empty()) read_model_manifest(manifest, f);
  return f;
}

ModelFiles separate_model_files(const std::string& dit, const std::string& t5,
                                const std::string& vae, const std::string& tokenizer) {
  ModelFiles f;
  f.dit = dit;
  f.t5 = t5;
  f.vae = vae;
  f.tokenizer = tokenizer;
  add_dit_config_json(f);
  std::error_code ec;
  const fs::path beside = fs::path(dit).parent_path() / "kinema.json";
  if (!fs::is_directory(dit, ec) && fs::is_regular_file(beside, ec))
    read_model_manifest(beside.string(), f);
  return f;
}

namespace {

// The bytes merged LoRA copies may take: what is available minus the working memory of a run at
// the folder's default size (0: unknown, no limit).
uint64_t lora_budget(const WanDiTConfig& dit, const WanVAEConfig& vae, const ModelFiles& files) {
  const uint64_t available = available_memory_bytes();
  if (available == 0) return 0;
  const ModelDefaults& m = files.defaults;
  const MemoryEstimate e = estimate_memory(
      dit, vae, m.width.value_or(dit.default_width), m.height.value_or(dit.default_height),
      m.frames.value_or(dit.default_frames), DiTPrecision::BF16, 0);
  return available > e.working() ? available - e.working() : 1;
}

// `top`'s fields over `base`'s; two LoRAs' lora_defaults that disagree are an error.
void overlay_defaults(ModelDefaults& base, const ModelDefaults& top, std::set<std::string>& set_by,
                      const std::string& source, std::string& first_source) {
  auto field = [&](const char* name, auto& b, const auto& t) {
    if (!t) return;
    if (set_by.count(name) && b != t)
      fail("the LoRAs ", first_source, " and ", source, " both set defaults.", name,
           " in kinema.json's lora_defaults, differently; give --", name, " yourself");
    b = t;
    set_by.insert(name);
  };
  field("width", base.width, top.width);
  field("height", base.height, top.height);
  field("frames", base.frames, top.frames);
  field("fps", base.fps, top.fps);
  field("steps", base.steps, top.steps);
  field("guidance", base.guidance, top.guidance);
  field("shift", base.shift, top.shift);
  field("sampler", base.sampler, top.sampler);
  field("negative_prompt", base.negative_prompt, top.negative_prompt);
  if (first_source.empty()) first_source = source;
}

}  // namespace

WanModels::WanModels(const ModelFiles& files) : files_(files) {
  dit_file_ = WeightFile::open(files.dit);
  const WanDiTConfig config =
      resolve_wan_dit_config(*dit_file_, files.allow_custom, files.dit_statements);
  vae_file_ = WeightFile::open(files.vae);
  const WanVAEConfig vae_config = resolve_wan_vae_config(*vae_file_, files.allow_custom);
  WanDiTOptions options{files.pack_weights};
  if (!files.loras.empty()) {
    loras_ = std::make_unique<LoraSet>(files.loras, wan_dit_tensors(config), wan_dit_layouts(),
                                       "Wan DiT");
    options.loras = loras_.get();
    options.lora_mode = files.lora_mode;
    options.lora_memory_budget = lora_budget(config, vae_config, files);
  }
  dit_ = std::make_unique<WanDiT>(*dit_file_, config, options);
  vae_ = std::make_unique<WanVAE>(*vae_file_, vae_config);
  tokenizer_ = Tokenizer::load(files.tokenizer);
}

WanModels::~WanModels() = default;

ModelDescription WanModels::description() const {
  ModelDescription d;
  d.name = files_.name.empty() ? std::string(dit_->config().name) : files_.name;
  d.manifest = files_.defaults;
  std::set<std::string> set_by;
  std::string first_source;
  for (const LoraSpec& spec : files_.loras) {
    std::error_code ec;
    const std::string canonical = fs::weakly_canonical(spec.path, ec).string();
    for (const auto& [file, defaults] : files_.lora_defaults)
      if (file == canonical)
        overlay_defaults(d.manifest, defaults, set_by, spec.path, first_source);
  }
  d.dit = dit_->config();
  d.vae = vae_->config();
  for (const WeightFile* file : {dit_file_.get(), vae_file_.get()})
    for (const TensorInfo& t : file->tensors()) d.weight_bytes += t.nbytes;
  if (loras_) d.loras = loras_->files();
  d.lora_mode = dit_->lora_mode();
  return d;
}

namespace {

// Index and value of the first non-finite element of an f32 or bf16 tensor, if any.
std::optional<std::pair<int64_t, float>> first_nonfinite(const Tensor& t) {
  const int64_t n = t.numel();
  if (t.dtype() == DType::F32) {
    const float* v = t.data<float>();
    for (int64_t i = 0; i < n; ++i)
      if (!std::isfinite(v[i])) return std::pair{i, v[i]};
  } else if (t.dtype() == DType::BF16) {
    const uint16_t* v = t.data<uint16_t>();
    for (int64_t i = 0; i < n; ++i)
      if ((v[i] & 0x7f80) == 0x7f80) return std::pair{i, bf16_to_f32(v[i])};
  }
  return std::nullopt;
}

// What the model's file says about a non-finite result: the first non-finite weight, if any.
std::string weight_cause(const WeightFile& file) {
  if (auto w = find_nonfinite_weight(file))
    return str_cat("; ", printable(file.path()), " holds ", w->value, " in tensor '",
                   printable(w->tensor, 80), "' at element ", w->index,
                   " (a corrupted or badly converted file)");
  return "; every weight of " + printable(file.path()) + " is finite";
}

// The error for a non-finite result of `stage`, naming the weight behind it when the model's
// file holds one.
[[noreturn]] void nonfinite_error(const std::string& stage, std::pair<int64_t, float> at,
                                  const WeightFile& file) {
  throw NonFiniteError(str_cat(stage, " produced a non-finite value (", at.second, " at element ",
                               at.first, ")", weight_cause(file)));
}

}  // namespace

std::vector<Tensor> WanModels::encode_prompts(const ComputeContext& ctx,
                                              const std::vector<std::string>& prompts,
                                              T5Precision precision) const {
  auto file = WeightFile::open(files_.t5);
  UMT5Encoder encoder(*file, resolve_umt5_config(*file, files_.allow_custom));
  if (encoder.config().dim != dit_->config().text_dim)
    fail(files_.t5, ": the text encoder's width ", encoder.config().dim,
         " does not match the DiT's text_dim ", dit_->config().text_dim);
  std::vector<std::vector<int32_t>> ids;
  for (const std::string& p : prompts) ids.push_back(tokenizer_->encode(p));
  std::vector<Tensor> out = encoder.encode(ctx, ids, precision);
  for (const Tensor& t : out)
    if (auto bad = first_nonfinite(t)) nonfinite_error("the text encoder", *bad, *file);
  return out;  // the encoder and its mapping are released here
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
  auto note = [&cb](std::string_view key, const std::string& value) {
    if (cb.note) cb.note(key, value);
  };
  const WanDiT& dit = models.dit();
  const Shape shape = latent_shape(params, models.vae().config().z_dim);
  // Guidance 1 is the conditional prediction alone: one forward per step, and no negative
  // prompt to encode (distilled models run this way).
  const bool guided = uses_negative_prompt(params.guidance);

  std::vector<std::string> prompts = {params.prompt};
  if (guided) prompts.push_back(params.negative_prompt);
  for (size_t i = 0; i < prompts.size(); ++i) {
    const size_t pieces = models.tokenizer().count(prompts[i]);
    if (pieces + 1 > size_t(Tokenizer::kMaxTokens))
      note(i == 0 ? "prompt" : "negative prompt",
           str_cat(pieces + 1, " tokens; the encoder reads ", Tokenizer::kMaxTokens,
                   ", so the last ", pieces + 1 - size_t(Tokenizer::kMaxTokens), " are cut"));
  }
  progress(Phase::EncodeText, 0, int(prompts.size()));
  const T5Precision t5_precision =
      params.precision == DiTPrecision::F32 ? T5Precision::F32 : T5Precision::BF16;
  std::vector<Tensor> contexts = models.encode_prompts(ctx, prompts, t5_precision);
  TextConditioning cond = dit.encode_text(ctx, contexts[0], params.precision);
  TextConditioning uncond;
  if (guided) uncond = dit.encode_text(ctx, contexts[1], params.precision);
  contexts.clear();
  progress(Phase::EncodeText, int(prompts.size()), int(prompts.size()));
  check_cancel();

  Tensor x;
  if (params.noise) {
    if (params.noise->shape() != shape || params.noise->dtype() != DType::F32)
      fail("injected noise is ", params.noise->shape().str(), " ", name(params.noise->dtype()),
           ", expected ", shape.str(), " f32");
    x = params.noise->clone();
  } else {
    if (!params.seed) fail("generate: neither a seed nor noise was given");
    x = gaussian_noise(ctx, shape, *params.seed);
  }
  if (auto bad = first_nonfinite(x))
    fail("the starting noise holds a non-finite value (", bad->second, " at element ", bad->first,
         ")");
  DenoiseSettings settings;
  settings.sampler = params.sampler;
  settings.schedule = make_schedule(params.sampler, params.steps, params.shift);
  settings.guidance = params.guidance;
  // The re-noising sampler's fresh noise: the seed's streams, or, with injected noise, those of
  // the seed the noise file's sha256 begins with (the same file gives the same video).
  const uint64_t noise_seed = params.seed ? *params.seed
                              : params.noise_sha256.size() >= 16
                                  ? std::stoull(params.noise_sha256.substr(0, 16), nullptr, 16)
                                  : 0;
  settings.noise = seeded_step_noise(ctx, shape, noise_seed);
  std::unique_ptr<StepCache> cache;
  if (params.cache) cache = make_step_cache(*params.cache, params.steps);
  settings.cache = cache.get();
  if (!params.cache_note.empty()) note("cache", params.cache_note);
  DenoiseHooks hooks;
  hooks.progress = [&](int done, int total) { progress(Phase::Denoise, done, total); };
  hooks.check_cancel = check_cancel;
  // Cheap checks each step: a NaN would otherwise spread into a black video.
  hooks.velocity = [&](int i, const Tensor& v) {
    if (auto bad = first_nonfinite(v))
      nonfinite_error(str_cat("denoise step ", i + 1, " of ", params.steps, ": the DiT"), *bad,
                      models.dit_file());
  };
  hooks.sample = [&](int i, const Tensor& sample) {
    if (auto bad = first_nonfinite(sample))
      fail("denoise step ", i + 1, " of ", params.steps,
           ": the sampler's update overflowed to a non-finite value (", bad->second, " at element ",
           bad->first, "); guidance ", params.guidance, " may be too large");
  };
  progress(Phase::Denoise, 0, params.steps);
  const DenoiseStats stats = denoise(
      x, settings,
      [&](const Tensor& sample, double t, int pass) {
        return dit.forward(ctx, sample, t, pass == 0 ? cond : uncond, params.precision);
      },
      hooks);
  if (cache)
    note("cache", str_cat(cache->describe(), " skipped ", stats.skipped_steps, " of ", params.steps,
                          " steps (", stats.forwards, " DiT passes)"));

  const int latent_frames = int(shape[1]);
  progress(Phase::Decode, 0, latent_frames);
  std::vector<Tensor> chunks;
  int decoded = 0;
  try {
    models.vae().decode_stream(ctx, x, [&](const Tensor& frames) {
      check_cancel();
      if (cb.frames)
        cb.frames(frames);
      else
        chunks.push_back(frames.clone());
      progress(Phase::Decode, ++decoded, latent_frames);
      check_cancel();
    });
  } catch (const NonFiniteError& e) {
    throw NonFiniteError(e.what() + weight_cause(models.vae_file()));
  }
  if (cb.frames) return Tensor();
  int64_t total = 0;
  for (const Tensor& c : chunks) total += c.dim(1);
  Tensor video = Tensor::empty({3, total, chunks[0].dim(2), chunks[0].dim(3)}, DType::F32);
  const int64_t plane = chunks[0].dim(2) * chunks[0].dim(3);
  int64_t at = 0;
  for (const Tensor& c : chunks) {
    for (int64_t ch = 0; ch < 3; ++ch)
      std::memcpy(video.mutable_data<float>() + (ch * total + at) * plane,
                  c.data<float>() + ch * c.dim(1) * plane, size_t(c.dim(1) * plane) * 4);
    at += c.dim(1);
  }
  return video;
}

}  // namespace kinema
