// The umT5-XXL encoder configuration (wan-spec 4.1) and its tensor table in the three layouts
// it ships in: Wan's .pth names, Hugging Face / ComfyUI names, llama.cpp GGUF names (4.7).
#pragma once

#include <string>
#include <vector>

#include "models/weight_table.h"

namespace kinema {

struct UMT5Config {
  int vocab = 256384;
  int dim = 4096;
  int ffn_dim = 10240;
  int num_heads = 64;
  int head_dim = 64;
  int num_layers = 24;
  int num_buckets = 32;
  int max_distance = 128;
  float eps = 1e-6f;
};

std::vector<ExpectedTensor> umt5_tensors(const UMT5Config& config);
const std::vector<WeightLayout>& umt5_layouts();
const std::vector<std::string>& umt5_prefixes();

// umT5-XXL, or (allow_custom) a smaller encoder of the same structure whose sizes are read from
// the token embedding, the first FFN, the relative-bias table and the block count.
UMT5Config resolve_umt5_config(const WeightFile& file, bool allow_custom);

}  // namespace kinema
