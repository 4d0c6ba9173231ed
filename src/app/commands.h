// The kinema subcommands, each a function of its parsed options (main.cpp parses with CLI11).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace kinema::app {

// "832x480" -> (832, 480), checked (multiples of 16); throws naming the text otherwise.
std::pair<int, int> parse_size(const std::string& text);

struct GenerateOptions {
  std::string prompt, negative;
  std::string size;  // "WxH"; empty: the model's default
  int frames = 81, fps = 16, steps = 50;
  float guidance = 5.0f;
  double shift = 5.0;
  std::string sampler = "unipc";
  std::optional<uint64_t> seed;
  int threads = 0;
  std::string model, dit, t5, vae, tokenizer;
  std::string output = "kinema.mp4";
  bool quiet = false;
  std::string progress = "bar";  // bar | json
  std::string precision = "bf16";
  std::string noise;  // injected noise file (parity runs)
  bool pack_weights = false, allow_custom = false;
};
int run_generate(const GenerateOptions& options);

struct InfoOptions {
  std::string path;
  std::string size = "832x480";
  int frames = 81;
};
int run_info(const InfoOptions& options);

}  // namespace kinema::app
