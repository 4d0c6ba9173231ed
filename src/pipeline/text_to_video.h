// Text-to-video with Wan2.1 (wan-spec 6.8): tokenize and encode the prompt and the negative
// prompt, draw (or take) the noise, run the sampler with classifier-free guidance, decode with
// the VAE. The library API shared by the CLI and the server.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/parallel.h"
#include "core/tensor.h"
#include "io/weight_file.h"
#include "models/umt5/encoder.h"
#include "models/umt5/tokenizer.h"
#include "models/wan/dit.h"
#include "models/wan/vae.h"
#include "pipeline/schedule.h"

namespace kinema {

// The official default negative prompt (used when the negative prompt is empty).
extern const std::string_view kWanDefaultNegativePrompt;

// Generation settings a model folder declares in its kinema.json (the bundled demo model does:
// it is trained at 128x128, 17 frames). Unset fields fall back to the Wan2.1 defaults.
struct ModelDefaults {
  std::optional<int> width, height, frames, fps, steps;
  std::optional<float> guidance;
  std::optional<double> shift;
  std::optional<std::string> sampler, negative_prompt;
};

// Where each component's weights are. Text encoder weights are released after encoding.
struct ModelFiles {
  std::string dit, t5, vae, tokenizer;  // a weight file or folder each; tokenizer: spiece.model
  bool allow_custom = false;            // accept sizes other than the released Wan models
  bool pack_weights = false;            // see WanDiTOptions::pack_weights
  std::string name;                     // from kinema.json; empty: named by the DiT's config
  ModelDefaults defaults;               // from kinema.json
};

// Reads a model folder's kinema.json:
//   {"name": "...", "custom_sizes": true,
//    "defaults": {"width": 128, "height": 128, "frames": 17, "fps": 8, "steps": 20,
//    "guidance": 5.0,
//                 "shift": 3.0, "sampler": "unipc", "negative_prompt": ""}}
// Every field is optional; unknown fields, wrong types and invalid values are errors naming the
// file and the field. "custom_sizes" lets the folder hold a model of a size Wan did not release.
void read_model_manifest(const std::string& path, ModelFiles& files);

// Finds the components in a model folder:
//   official Wan-AI:  diffusion_pytorch_model*.safetensors (+ index),
//   models_t5_umt5-xxl-enc-bf16.pth,
//                     Wan2.1_VAE.pth, google/umt5-xxl/spiece.model
//   Diffusers:        transformer/, text_encoder/, vae/, tokenizer/spiece.model
//   Kinema / ComfyUI-style single files: dit.*, t5.* / umt5*.*, vae.*, spiece.model (or
//                     tokenizer/spiece.model) with .safetensors, .gguf or .pth extensions
// plus an optional kinema.json (read_model_manifest).
// The error lists what was looked for when a component is missing.
ModelFiles resolve_model_folder(const std::string& dir);

class WanModels {
 public:
  // Loads (maps) everything; the umT5 encoder is opened lazily and released after use.
  explicit WanModels(const ModelFiles& files);
  ~WanModels();

  const WanDiT& dit() const { return *dit_; }
  const WanVAE& vae() const { return *vae_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const ModelFiles& files() const { return files_; }

  // Encodes prompts with the umT5 encoder, mapping it for the call and releasing it after.
  std::vector<Tensor> encode_prompts(const ComputeContext& ctx,
                                     const std::vector<std::string>& prompts) const;

 private:
  ModelFiles files_;
  std::unique_ptr<WeightFile> dit_file_, vae_file_;
  std::unique_ptr<WanDiT> dit_;
  std::unique_ptr<WanVAE> vae_;
  std::unique_ptr<Tokenizer> tokenizer_;
};

struct GenerationParams {
  std::string prompt;
  std::optional<std::string> negative_prompt;  // unset: the official default
  int width = 832, height = 480, frames = 81;
  int steps = 50;
  float guidance = 5.0f;
  double shift = 5.0;
  SamplerKind sampler = SamplerKind::UniPC;
  uint64_t seed = 0;
  std::optional<Tensor> noise;  // [16, T, H/8, W/8] f32 to use instead of seeded noise
  DiTPrecision precision = DiTPrecision::BF16;
};

enum class Phase { EncodeText, Denoise, Decode };
std::string_view phase_name(Phase phase);

struct GenerationCallbacks {
  // Called at the start of each phase (step 0) and after each unit of work in it.
  std::function<void(Phase, int step, int total)> progress;
  // Polled between units of work; returning true stops generation with a Cancelled error.
  std::function<bool()> cancelled;
};

class Cancelled : public Error {
 public:
  Cancelled() : Error("generation cancelled") {}
};

// Width and height must be positive multiples of 16; throws naming the size otherwise.
void check_video_size(int width, int height);
// Frames must be 4n+1; throws naming the nearest valid counts otherwise.
void check_frame_count(int frames);

// Checks sizes (H, W multiples of 16, frames 4n+1) and returns the latent shape.
Shape latent_shape(const GenerationParams& params, int z_dim);

// Runs the whole generation -> video [3, frames, height, width] f32 in [-1, 1].
Tensor generate(const ComputeContext& ctx, const WanModels& models, const GenerationParams& params,
                const GenerationCallbacks& callbacks = {});

}  // namespace kinema
