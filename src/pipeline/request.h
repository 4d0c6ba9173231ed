// One validated path from what a user asks for to what the pipeline runs. The CLI and the server
// are thin adapters: they fill a GenerationRequest (typed fields, or text through
// set_request_field), and resolve() applies the defaults in one order (the request, then the
// model folder's kinema.json, then the model family's defaults), checks every field and returns
// GenerationParams. Every refusal is a RequestError naming the field, the value and the rule.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.h"
#include "core/tensor.h"
#include "models/lora.h"
#include "models/wan/dit.h"
#include "models/wan/dit_config.h"
#include "models/wan/vae_config.h"
#include "pipeline/schedule.h"
#include "pipeline/step_cache.h"

namespace kinema {

// The official default negative prompt of Wan2.1 (used when neither the request nor the model
// folder gives one).
extern const std::string_view kWanDefaultNegativePrompt;

// Generation settings a model folder declares in its kinema.json (the bundled demo model does:
// it is trained at 128x128, 17 frames).
struct ModelDefaults {
  std::optional<int> width, height, frames, fps, steps;
  std::optional<float> guidance;
  std::optional<double> shift;
  std::optional<std::string> sampler, negative_prompt;
};

// What a user asked for; unset fields take the defaults. Integer fields are 64-bit so that an
// out-of-range value reaches the range check instead of wrapping.
struct GenerationRequest {
  std::string prompt;
  std::optional<std::string> negative_prompt;  // "" for none
  std::optional<int64_t> width, height, frames, fps, steps;
  std::optional<double> guidance, shift;
  std::optional<std::string> sampler, precision;
  std::optional<uint64_t> seed;
  std::optional<std::string> noise_file;  // start from this noise tensor instead of a seed
  std::vector<std::string> loras;         // "FILE[:SCALE]", applied at load (WanModels)
  std::optional<std::string> cache;       // "easycache[:THRESHOLD]" or "off"
};

// A refused field: field() is the request's name for it ("guidance", "size", ...), value() the
// value as given (printable), problem() the rule. what() is "FIELD VALUE: PROBLEM".
class RequestError : public Error {
 public:
  RequestError(std::string field, std::string value, std::string problem);
  const std::string& field() const { return field_; }
  const std::string& value() const { return value_; }
  const std::string& problem() const { return problem_; }

 private:
  std::string field_, value_, problem_;
};

// Sets a field from text (command-line flags, form fields): "prompt", "negative_prompt", "size"
// (WxH), "width", "height", "frames", "fps", "steps", "guidance", "shift", "sampler", "precision",
// "seed", "noise", "lora" (each adds one), "cache". Numbers must be whole (integer fields) or
// finite decimal numbers; a seed is 0 to 2^64-1. Throws RequestError.
void set_request_field(GenerationRequest& request, std::string_view field, std::string_view text);

// Every check that needs no model: the prompt, each numeric range, the sampler, precision and
// cache names, the LoRA scales, seed and noise together. Throws RequestError.
void check_request(const GenerationRequest& request);

// The request's LoRAs (FILE[:SCALE] parsed; the files are read at load). Throws RequestError.
std::vector<LoraSpec> request_loras(const GenerationRequest& request);

// Bounds that no model makes acceptable (arithmetic stays in range; the memory estimate gives
// the real limit), and the prompt's size in bytes.
inline constexpr int64_t kMaxSide = 16384, kMaxFrames = 1000001, kMaxSteps = 1000, kMaxFps = 240;
inline constexpr double kMaxGuidance = 100, kMaxShift = 100;
inline constexpr size_t kMaxPromptBytes = 64 * 1024;

// The Wan2.1 family's size rules (VAE stride 8 x patch 2; 4n+1 frames), used where no model is
// loaded yet (kinema.json defaults, `kinema info`).
void check_video_size(int64_t width, int64_t height, int multiple = 16);
void check_frame_count(int64_t frames, int time_stride = 4);

// What resolve() needs to know about the loaded model.
struct ModelDescription {
  std::string name;        // kinema.json's name, else the DiT variant's
  ModelDefaults manifest;  // kinema.json's defaults
  WanDiTConfig dit;
  WanVAEConfig vae;
  uint64_t weight_bytes = 0;        // the mapped DiT and VAE files
  std::vector<LoraFileInfo> loras;  // applied at load, in order
  LoraMode lora_mode = LoraMode::Merge;
};

struct GenerationParams {
  std::string prompt;
  std::string negative_prompt;  // "" for none
  int width = 832, height = 480, frames = 81, fps = 16;
  int steps = 50;
  float guidance = 5.0f;
  double shift = 5.0;
  SamplerKind sampler = SamplerKind::UniPC;
  DiTPrecision precision = DiTPrecision::BF16;
  std::optional<uint64_t> seed;  // unset exactly when noise is given
  std::optional<Tensor> noise;   // [z_dim, T, H/8, W/8] f32, finite
  std::string noise_file, noise_sha256;
  std::optional<CacheSpec> cache;   // unset: no step cache
  std::string cache_note;           // why a requested cache is off ("" when it is not)
  std::vector<LoraFileInfo> loras;  // from the model (for progress and metadata)
  LoraMode lora_mode = LoraMode::Merge;
};

// The request with its defaults applied and every field checked against the model. An unset
// seed (and no noise) is drawn from the operating system. A cache asked for a distilled run
// (is_distilled_run) is turned off, and cache_note says so. `memory_limit` (bytes; 0: unchecked)
// is what the run may take besides its mapped weights: a size or frame count whose estimate
// exceeds it is refused with the estimate. Throws RequestError.
GenerationParams resolve(const GenerationRequest& request, const ModelDescription& model,
                         uint64_t memory_limit);

// The settings a video's metadata records: prompt, negative prompt, seed (or the noise file and
// its sha256), steps, sampler, guidance, shift, size, frames, fps, precision, model, version,
// the LoRAs (a JSON list of file, sha256, scale) and the step cache.
std::map<std::string, std::string> generation_metadata(const GenerationParams& params,
                                                       const std::string& model_name,
                                                       const std::string& version);

}  // namespace kinema
