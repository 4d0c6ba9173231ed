// Wan DiT configurations and their resolution from a weight file's tensor shapes.
// Presets mirror Wan-Video/Wan2.1 wan/configs/wan_t2v_1_3B.py and wan_t2v_14B.py (wan-spec 1.1).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "models/weight_table.h"

namespace kinema {

struct WanDiTConfig {
  std::string_view name;  // "Wan2.1-T2V-1.3B", "Wan2.1-T2V-14B", or "custom" for test sizes
  int dim = 1536;
  int ffn_dim = 8960;
  int num_heads = 12;
  int num_layers = 30;
  int in_dim = 16;
  int out_dim = 16;
  int text_dim = 4096;
  int text_len = 512;
  int freq_dim = 256;
  float eps = 1e-6f;
  int patch_t = 1, patch_h = 2, patch_w = 2;

  // Generation defaults of the variant (wan/configs, generate.py): the size it was trained for,
  // 81 frames at 16 fps, 50 UniPC steps, guidance 5, shift 5. A model folder's kinema.json
  // overrides them.
  int default_width = 832, default_height = 480;
  int default_frames = 81, default_fps = 16, default_steps = 50;
  float default_guidance = 5.0f;
  double default_shift = 5.0;

  int head_dim() const { return dim / num_heads; }
  int64_t parameter_count() const;
};

WanDiTConfig wan21_t2v_1_3b();
WanDiTConfig wan21_t2v_14b();

// The canonical (official) tensor table of a config, in checkpoint order.
std::vector<ExpectedTensor> wan_dit_tensors(const WanDiTConfig& config);

// The layouts a Wan DiT is stored in: official / ComfyUI / GGUF names, and Diffusers names.
const std::vector<WeightLayout>& wan_dit_layouts();
// Key prefixes under which DiT tensors are found (ComfyUI and sd.cpp full checkpoints).
const std::vector<std::string>& wan_dit_prefixes();

// What a model's files state about its DiT besides the tensor shapes: a config.json (the
// official WanModel keys or the Diffusers WanTransformer3DModel ones), the safetensors metadata,
// or kinema.json's "dit" object. Shape fields are checked against the tensors; num_heads and
// text_len cannot be read from any shape, so a custom-size model must state num_heads.
struct StatedDiTConfig {
  std::string source;  // where it was read, for messages ("DIR/config.json")
  std::optional<int64_t> dim, ffn_dim, num_heads, head_dim, num_layers, in_dim, out_dim, text_dim,
      text_len, freq_dim;
  std::optional<double> eps;
  std::optional<std::string> model_type;  // "t2v", "i2v", ...
  std::optional<std::array<int64_t, 3>> patch;
};

// The statements of a JSON object in either key style (unknown keys are ignored: configs carry
// many that do not concern Kinema); wrong types and values are errors naming `source` and the key.
StatedDiTConfig stated_dit_config(const std::string& source, const std::string& json_text);
// Reads a config.json file (errors name the file).
StatedDiTConfig read_dit_config_json(const std::string& path);

// Reads the variant from several exact shapes of `file` (under any layout and prefix): dim and
// in/out channels from the patch embedding and head, ffn_dim from the first FFN, num_layers by
// counting blocks, text_dim and freq_dim from the embedders. A shape combination that is not a
// known Wan2.1 T2V model is accepted as "custom" only when allow_custom (tests, the demo model);
// otherwise the error names what was found. A custom file may give its head count as
// metadata `num_heads` / `text_len`. Each of `stated` (and the file's metadata) must agree with
// the shapes and with each other; a custom model whose head count nothing states is refused with
// a message saying where to state it. Image-to-video files (img_emb.*, model_type i2v) are
// refused.
WanDiTConfig resolve_wan_dit_config(const WeightFile& file, bool allow_custom,
                                    const std::vector<StatedDiTConfig>& stated = {});

}  // namespace kinema
