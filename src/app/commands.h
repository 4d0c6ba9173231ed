// The kinema subcommands, each a function of its parsed options (main.cpp parses with CLI11).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace kinema::app {

// "832x480" -> (832, 480), checked (multiples of 16); throws naming the text otherwise.
std::pair<int, int> parse_size(const std::string& text);

// Unset options take the model folder's defaults (kinema.json), else the Wan2.1 ones below.
struct GenerateOptions {
  std::string prompt;
  std::optional<std::string> negative;  // unset: the model's, else Wan's default
  std::string size;                     // "WxH"; empty: the model's default
  std::optional<int> frames, fps, steps;
  std::optional<float> guidance;
  std::optional<double> shift;
  std::optional<std::string> sampler;
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

// The Wan2.1 defaults used when neither the command line nor the model folder gives a value.
inline constexpr int kDefaultFrames = 81, kDefaultFps = 16, kDefaultSteps = 50;
inline constexpr float kDefaultGuidance = 5.0f;
inline constexpr double kDefaultShift = 5.0;

// The demo model that ships with Kinema (models/demo), used when no model is given: next to an
// installed binary (../share/kinema/models/demo), else in the source tree it was built from.
// Empty when neither exists.
std::string bundled_model_folder();

struct InfoOptions {
  std::string path;
  std::optional<std::string> size;  // unset: the folder's default, else 832x480
  std::optional<int> frames;        // unset: the folder's default, else 81
};
int run_info(const InfoOptions& options);

}  // namespace kinema::app
