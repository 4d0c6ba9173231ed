// Text-to-video with Wan2.1 (wan-spec 6.8): tokenize and encode the prompt and the negative
// prompt, draw (or take) the noise, run the sampler with classifier-free guidance, decode with
// the VAE. The library API shared by the CLI and the server; requests reach it through
// resolve() (request.h).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/parallel.h"
#include "core/tensor.h"
#include "io/weight_file.h"
#include "models/lora.h"
#include "models/umt5/encoder.h"
#include "models/umt5/tokenizer.h"
#include "models/wan/dit.h"
#include "models/wan/vae.h"
#include "pipeline/request.h"
#include "pipeline/schedule.h"

namespace kinema {

// Where each component's weights are. Text encoder weights are released after encoding.
struct ModelFiles {
  std::string dit, t5, vae, tokenizer;  // a weight file or folder each; tokenizer: spiece.model
  bool allow_custom = false;            // accept sizes other than the released Wan models
  bool pack_weights = false;            // see WanDiTOptions::pack_weights
  std::string name;                     // from kinema.json; empty: named by the DiT's config
  std::string manifest;                 // the kinema.json read, if any
  ModelDefaults defaults;               // from kinema.json
  // What the files state about the DiT beyond its shapes: the config.json that belongs to it
  // and kinema.json's "dit" object (see StatedDiTConfig).
  std::vector<StatedDiTConfig> dit_statements;
  // LoRAs applied to the DiT at load: kinema.json's "loras", then the request's.
  std::vector<LoraSpec> loras;
  LoraMode lora_mode = LoraMode::Auto;
  // kinema.json's "lora_defaults": generation defaults that apply when that LoRA is applied
  // (a distillation LoRA's sampler, steps and guidance). Paths are as weakly_canonical gives.
  std::vector<std::pair<std::string, ModelDefaults>> lora_defaults;
};

// Reads a model folder's kinema.json:
//   {"name": "...", "description": "...", "custom_sizes": true,
//    "dit": {"num_heads": 12, "text_len": 512},
//    "defaults": {"width": 128, "height": 128, "frames": 17, "fps": 8, "steps": 20,
//                 "guidance": 5.0, "shift": 3.0, "sampler": "unipc", "negative_prompt": ""},
//    "loras": ["style.safetensors:0.8"],
//    "lora_defaults": {"distill-4step.safetensors": {"sampler": "lcm", "steps": 4,
//                                                     "guidance": 1.0}}}
// Every field is optional; unknown fields, wrong types and invalid values are errors naming the
// file and the field. "custom_sizes" lets the folder hold a model of a size Wan did not release;
// "dit" states what no tensor shape gives (config.json keys); "loras" are applied to every
// generation; "lora_defaults" override "defaults" whenever that LoRA is applied (files relative
// to the manifest's folder).
void read_model_manifest(const std::string& path, ModelFiles& files);

// Finds the components in a model folder:
//   official Wan-AI:  diffusion_pytorch_model*.safetensors (+ index) and its config.json,
//                     models_t5_umt5-xxl-enc-bf16.pth, Wan2.1_VAE.pth,
//                     google/umt5-xxl/spiece.model
//   Diffusers:        transformer/ (with its config.json), text_encoder/, vae/,
//                     tokenizer/spiece.model
//   Kinema / ComfyUI-style single files: dit.*, t5.* / umt5*.*, vae.*, spiece.model (or
//                     tokenizer/spiece.model) with .safetensors, .gguf or .pth extensions
// plus an optional kinema.json (read_model_manifest).
// The error lists what was looked for when a component is missing.
ModelFiles resolve_model_folder(const std::string& dir);

// The components as separate files. A kinema.json beside the DiT is read as the folder's would
// be, and so is the DiT's config.json when the DiT is an official or Diffusers file or folder.
ModelFiles separate_model_files(const std::string& dit, const std::string& t5,
                                const std::string& vae, const std::string& tokenizer);

class WanModels {
 public:
  // Loads (maps) everything; the umT5 encoder is opened lazily and released after use.
  explicit WanModels(const ModelFiles& files);
  ~WanModels();

  const WanDiT& dit() const { return *dit_; }
  const WanVAE& vae() const { return *vae_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const ModelFiles& files() const { return files_; }
  const WeightFile& dit_file() const { return *dit_file_; }
  const WeightFile& vae_file() const { return *vae_file_; }
  // What resolve() needs: name, kinema.json defaults (with the applied LoRAs' lora_defaults
  // over them), configs, mapped weight size, the LoRAs.
  ModelDescription description() const;

  // Encodes prompts with the umT5 encoder (all in one pass over its weights), mapping it for
  // the call and releasing it after. A non-finite output is an error that names the encoder's
  // first non-finite weight when there is one.
  std::vector<Tensor> encode_prompts(const ComputeContext& ctx,
                                     const std::vector<std::string>& prompts,
                                     T5Precision precision = T5Precision::BF16) const;

 private:
  ModelFiles files_;
  std::unique_ptr<WeightFile> dit_file_, vae_file_;
  std::unique_ptr<LoraSet> loras_;
  std::unique_ptr<WanDiT> dit_;
  std::unique_ptr<WanVAE> vae_;
  std::unique_ptr<Tokenizer> tokenizer_;
};

enum class Phase { EncodeText, Denoise, Decode };
std::string_view phase_name(Phase phase);

struct GenerationCallbacks {
  // Called at the start of each phase (step 0) and after each unit of work in it.
  std::function<void(Phase, int step, int total)> progress;
  // Polled between units of work; returning true stops generation with a Cancelled error.
  std::function<bool()> cancelled;
  // Something the user should know (a prompt cut to the encoder's length, ...).
  std::function<void(std::string_view key, std::string_view value)> note;
  // When set, the decoded frames are handed over as they come ([3, n, H, W] in [-1, 1], in
  // order) instead of being collected, and generate() returns an undefined tensor.
  std::function<void(const Tensor& frames)> frames;
};

class Cancelled : public Error {
 public:
  Cancelled() : Error("generation cancelled") {}
};

// The latent shape of a resolved request: [z_dim, (frames - 1) / 4 + 1, height / 8, width / 8].
Shape latent_shape(const GenerationParams& params, int z_dim);

// Runs the whole generation -> video [3, frames, height, width] f32 in [-1, 1] (undefined when
// callbacks.frames takes the frames). params come from resolve(). Non-finite values anywhere
// (the text encoder's output, the noise, the latent after any step, the decoded frames) stop it
// with an Error naming the stage and, when one is found, the non-finite weight tensor.
Tensor generate(const ComputeContext& ctx, const WanModels& models, const GenerationParams& params,
                const GenerationCallbacks& callbacks = {});

}  // namespace kinema
