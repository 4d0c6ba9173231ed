#include "pipeline/request.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/digest.h"
#include "models/umt5/text_clean.h"
#include "pipeline/memory_estimate.h"
#include "pipeline/noise.h"

namespace kinema {

const std::string_view kWanDefaultNegativePrompt =
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，"
    "低质量，JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容"
    "的，"
    "形态畸形的肢体，手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走";

RequestError::RequestError(std::string field, std::string value, std::string problem)
    : Error(value.empty() ? field + ": " + problem : field + " " + value + ": " + problem),
      field_(std::move(field)),
      value_(std::move(value)),
      problem_(std::move(problem)) {}

namespace {

[[noreturn]] void refuse(std::string_view field, std::string_view value, std::string problem) {
  throw RequestError(std::string(field), printable(value, 60), std::move(problem));
}

template <class T>
std::string text_of(const T& value) {
  return str_cat(value);
}

int64_t parse_integer(std::string_view field, std::string_view text) {
  size_t digits_from = !text.empty() && (text[0] == '-' || text[0] == '+') ? 1 : 0;
  if (text.size() == digits_from || text.size() > 40 ||
      text.find_first_not_of("0123456789", digits_from) != std::string_view::npos)
    refuse(field, text, "expected a whole number");
  errno = 0;
  const std::string s(text);
  const long long v = std::strtoll(s.c_str(), nullptr, 10);
  if (errno == ERANGE) refuse(field, text, "is out of range");
  return v;
}

double parse_number(std::string_view field, std::string_view text) {
  const std::string s(text);
  char* end = nullptr;
  errno = 0;
  const double v = s.empty() || std::isspace(static_cast<unsigned char>(s[0]))
                       ? 0.0
                       : std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size()) refuse(field, text, "expected a number");
  return v;
}

uint64_t parse_seed(std::string_view text) {
  if (!text.empty() && text[0] == '-')
    refuse("seed", text, "must be 0 to 18446744073709551615 (negative seeds are not wrapped)");
  if (text.empty() || text.size() > 40 ||
      text.find_first_not_of("0123456789") != std::string_view::npos)
    refuse("seed", text, "expected a whole number from 0 to 18446744073709551615");
  errno = 0;
  const std::string s(text);
  const unsigned long long v = std::strtoull(s.c_str(), nullptr, 10);
  if (errno == ERANGE)
    refuse("seed", text, "must be 0 to 18446744073709551615 (larger seeds are not wrapped)");
  return v;
}

void check_range(std::string_view field, int64_t v, int64_t lo, int64_t hi) {
  if (v < lo || v > hi) refuse(field, text_of(v), str_cat("expected ", lo, " to ", hi));
}

void check_finite_range(std::string_view field, double v, double lo, double hi, bool lo_open) {
  const bool ok = std::isfinite(v) && (lo_open ? v > lo : v >= lo) && v <= hi;
  if (!ok)
    refuse(field, text_of(v),
           str_cat("must be a finite number ", lo_open ? "above " : "from ", lo,
                   lo_open ? " and at most " : " to ", hi));
}

void check_text(std::string_view field, const std::string& text) {
  if (text.size() > kMaxPromptBytes)
    refuse(field, "", str_cat(text.size(), " bytes; at most ", kMaxPromptBytes, " are accepted"));
}

SamplerKind sampler_of(const std::string& name) {
  try {
    return sampler_from_name(name);
  } catch (const Error&) {
    refuse("sampler", name, "expected unipc, dpm++, euler or lcm");
  }
}

// "off" (or "none") is no cache.
std::optional<CacheSpec> cache_of(const std::string& text) {
  if (text == "off" || text == "none") return std::nullopt;
  try {
    return parse_cache_spec(text);
  } catch (const Error&) {
    refuse("cache", text, "expected easycache, easycache:THRESHOLD (a number >= 0) or off");
  }
}

DiTPrecision precision_of(const std::string& name) {
  if (name == "bf16") return DiTPrecision::BF16;
  if (name == "f32") return DiTPrecision::F32;
  refuse("precision", name, "expected bf16 or f32");
}

std::string gib(uint64_t bytes) { return str_cat(std::round(double(bytes) / (1 << 30) * 10) / 10); }

}  // namespace

void set_request_field(GenerationRequest& r, std::string_view field, std::string_view text) {
  if (field == "prompt") {
    r.prompt = std::string(text);
  } else if (field == "negative_prompt") {
    r.negative_prompt = std::string(text);
  } else if (field == "size") {
    const size_t x = text.find_first_of("xX");
    if (x == std::string_view::npos || x == 0 || x + 1 == text.size() ||
        text.find_first_not_of("0123456789", x + 1) != std::string_view::npos ||
        text.substr(0, x).find_first_not_of("0123456789") != std::string_view::npos)
      refuse("size", text, "expected WIDTHxHEIGHT, for example 832x480");
    r.width = parse_integer("size", text.substr(0, x));
    r.height = parse_integer("size", text.substr(x + 1));
  } else if (field == "width") {
    r.width = parse_integer(field, text);
  } else if (field == "height") {
    r.height = parse_integer(field, text);
  } else if (field == "frames") {
    r.frames = parse_integer(field, text);
  } else if (field == "fps") {
    r.fps = parse_integer(field, text);
  } else if (field == "steps") {
    r.steps = parse_integer(field, text);
  } else if (field == "guidance") {
    r.guidance = parse_number(field, text);
  } else if (field == "shift") {
    r.shift = parse_number(field, text);
  } else if (field == "sampler") {
    r.sampler = std::string(text);
  } else if (field == "precision") {
    r.precision = std::string(text);
  } else if (field == "seed") {
    r.seed = parse_seed(text);
  } else if (field == "noise") {
    r.noise_file = std::string(text);
  } else if (field == "lora") {
    r.loras.emplace_back(text);
  } else if (field == "cache") {
    r.cache = std::string(text);
  } else {
    refuse(field, "", "not a field of a generation request");
  }
}

void check_video_size(int64_t width, int64_t height, int multiple) {
  const std::string text = str_cat(width, "x", height);
  if (width <= 0 || height <= 0 || width > kMaxSide || height > kMaxSide)
    refuse("size", text, str_cat("width and height must be ", multiple, " to ", kMaxSide));
  if (width % multiple || height % multiple)
    refuse("size", text, str_cat("width and height must be multiples of ", multiple));
}

void check_frame_count(int64_t frames, int time_stride) {
  const int s = time_stride;
  if (frames < 1 || frames > kMaxFrames)
    refuse("frames", text_of(frames), str_cat("must be ", s, "n+1 from 1 to ", kMaxFrames));
  if ((frames - 1) % s == 0) return;
  const int64_t below = (frames - 1) / s * s + 1;
  refuse("frames", text_of(frames),
         str_cat("must be ", s, "n+1 (1, ", s + 1, ", ", 2 * s + 1,
                 ", ...); nearest valid: ", below, " or ", below + s));
}

void check_request(const GenerationRequest& r) {
  check_text("prompt", r.prompt);
  if (clean_prompt(r.prompt).empty())
    refuse("prompt", "", r.prompt.empty() ? "is empty" : "holds only white space");
  if (r.negative_prompt) check_text("negative_prompt", *r.negative_prompt);
  if (r.width.has_value() != r.height.has_value())
    refuse("size", "", "give width and height together");
  if (r.width && (*r.width <= 0 || *r.height <= 0 || *r.width > kMaxSide || *r.height > kMaxSide))
    refuse("size", str_cat(*r.width, "x", *r.height),
           str_cat("width and height must be positive and at most ", kMaxSide));
  if (r.frames) check_range("frames", *r.frames, 1, kMaxFrames);
  if (r.fps) check_range("fps", *r.fps, 1, kMaxFps);
  if (r.steps) check_range("steps", *r.steps, 1, kMaxSteps);
  if (r.guidance) check_finite_range("guidance", *r.guidance, 0, kMaxGuidance, false);
  if (r.shift) check_finite_range("shift", *r.shift, 0, kMaxShift, true);
  if (r.sampler) sampler_of(*r.sampler);
  if (r.precision) precision_of(*r.precision);
  if (r.seed && r.noise_file)
    refuse("seed", text_of(*r.seed), "give a seed or a noise file, not both");
  if (r.noise_file && r.noise_file->empty()) refuse("noise", "", "the file name is empty");
  request_loras(r);
  if (r.cache) cache_of(*r.cache);
}

std::vector<LoraSpec> request_loras(const GenerationRequest& r) {
  std::vector<LoraSpec> specs;
  for (const std::string& text : r.loras) {
    try {
      specs.push_back(parse_lora_spec(text));
    } catch (const Error&) {
      refuse("lora", text, "the scale after ':' must be a finite number");
    }
    if (specs.back().path.empty()) refuse("lora", text, "the file name is empty");
  }
  return specs;
}

GenerationParams resolve(const GenerationRequest& r, const ModelDescription& model,
                         uint64_t memory_limit) {
  check_request(r);
  const ModelDefaults& m = model.manifest;
  const WanDiTConfig& dit = model.dit;
  GenerationParams p;
  p.prompt = r.prompt;
  p.negative_prompt = r.negative_prompt   ? *r.negative_prompt
                      : m.negative_prompt ? *m.negative_prompt
                                          : std::string(kWanDefaultNegativePrompt);
  const int64_t width = r.width ? *r.width : m.width.value_or(dit.default_width);
  const int64_t height = r.height ? *r.height : m.height.value_or(dit.default_height);
  const int64_t frames = r.frames ? *r.frames : m.frames.value_or(dit.default_frames);
  if (dit.patch_h != dit.patch_w)
    fail("a DiT with a non-square patch (", dit.patch_h, "x", dit.patch_w, ") is not supported");
  check_video_size(width, height, model.vae.space_stride() * dit.patch_h);
  check_frame_count(frames, model.vae.time_stride() * dit.patch_t);
  p.width = int(width);
  p.height = int(height);
  p.frames = int(frames);
  p.fps = int(r.fps ? *r.fps : m.fps.value_or(dit.default_fps));
  p.steps = int(r.steps ? *r.steps : m.steps.value_or(dit.default_steps));
  p.guidance = float(r.guidance ? *r.guidance : m.guidance.value_or(dit.default_guidance));
  p.shift = r.shift ? *r.shift : m.shift.value_or(dit.default_shift);
  p.sampler = sampler_of(r.sampler ? *r.sampler : m.sampler.value_or("unipc"));
  p.precision = precision_of(r.precision.value_or("bf16"));
  p.loras = model.loras;
  p.lora_mode = model.lora_mode;
  if (r.cache) p.cache = cache_of(*r.cache);
  if (p.cache && is_distilled_run(p.steps, p.guidance, p.sampler)) {
    p.cache_note = str_cat(p.cache->name, " is off for a distilled run (", p.steps, " steps, ",
                           sampler_name(p.sampler), ", guidance ", p.guidance,
                           "): every step moves the sample too far to reuse");
    p.cache.reset();
  }

  if (memory_limit > 0) {
    const MemoryEstimate e =
        estimate_memory(dit, model.vae, width, height, frames, p.precision, model.weight_bytes);
    if (e.working() > memory_limit) {
      const bool by_frames = r.frames.has_value();
      refuse(by_frames ? "frames" : "size",
             by_frames ? text_of(frames) : str_cat(width, "x", height),
             str_cat(by_frames ? str_cat("at ", width, "x", height)
                               : str_cat("with ", frames, " frames"),
                     " this needs about ", gib(e.working()), " GiB of working memory (DiT ",
                     gib(e.activations), " GiB, decode and frames ", gib(e.decode + e.video),
                     " GiB) besides the weights, but ", gib(memory_limit),
                     " GiB is available; use fewer frames or a smaller size"));
    }
  }

  if (r.noise_file) {
    p.noise_file = *r.noise_file;
    Tensor noise;
    try {
      noise = read_noise_file(*r.noise_file);
    } catch (const Error& e) {
      refuse("noise", "", e.what());
    }
    const Shape want({dit.in_dim, (frames - 1) / model.vae.time_stride() + 1,
                      height / model.vae.space_stride(), width / model.vae.space_stride()});
    if (noise.shape() != want)
      refuse("noise", *r.noise_file,
             str_cat("the tensor is ", noise.shape().str(), ", but ", width, "x", height, ", ",
                     frames, " frames needs ", want.str()));
    p.noise = std::move(noise);
    p.noise_sha256 = sha256_file_hex(*r.noise_file);
  } else {
    p.seed = r.seed ? *r.seed : random_seed();
  }
  return p;
}

std::map<std::string, std::string> generation_metadata(const GenerationParams& p,
                                                       const std::string& model_name,
                                                       const std::string& version) {
  std::map<std::string, std::string> m = {
      {"prompt", p.prompt},
      {"negative_prompt", p.negative_prompt},
      {"steps", text_of(p.steps)},
      {"sampler", std::string(sampler_name(p.sampler))},
      {"guidance", text_of(p.guidance)},
      {"shift", text_of(p.shift)},
      {"size", str_cat(p.width, "x", p.height)},
      {"frames", text_of(p.frames)},
      {"fps", text_of(p.fps)},
      {"precision", p.precision == DiTPrecision::F32 ? "f32" : "bf16"},
      {"model", model_name},
      {"kinema_version", version}};
  if (p.seed) m["seed"] = text_of(*p.seed);
  if (p.noise) {
    m["noise"] = p.noise_file;
    m["noise_sha256"] = p.noise_sha256;
  }
  if (!p.loras.empty()) {
    nlohmann::json list = nlohmann::json::array();
    for (const LoraFileInfo& l : p.loras)
      list.push_back({{"file", l.path}, {"sha256", l.sha256}, {"scale", l.strength}});
    m["loras"] = list.dump();
    m["lora_mode"] = std::string(lora_mode_name(p.lora_mode));
  }
  m["cache"] = p.cache ? str_cat(p.cache->name, ":", p.cache->threshold) : "off";
  return m;
}

}  // namespace kinema
