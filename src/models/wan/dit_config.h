// Wan DiT configurations and their resolution from a weight file's tensor shapes.
// Presets mirror Wan-Video/Wan2.1 wan/configs/wan_t2v_1_3B.py and wan_t2v_14B.py (wan-spec 1.1).
#pragma once

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

// Reads the variant from several exact shapes of `file` (under any layout and prefix): dim and
// in/out channels from the patch embedding and head, ffn_dim from the first FFN, num_layers by
// counting blocks, text_dim and freq_dim from the embedders. A shape combination that is not a
// known Wan2.1 T2V model is accepted as "custom" only when allow_custom (tests, the demo model);
// otherwise the error names what was found. A custom file may give its head count as
// metadata `num_heads` (else head dim 128). Image-to-video files (img_emb.*) are refused.
WanDiTConfig resolve_wan_dit_config(const WeightFile& file, bool allow_custom);

}  // namespace kinema
