// The kinema subcommands, each a function of its parsed options (main.cpp parses with CLI11).
// The CLI is a thin adapter: generation options become a GenerationRequest, which the pipeline's
// resolve() checks and completes (pipeline/request.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace kinema::app {

// The command line's spelling of a request field, for messages ("negative_prompt" is given as
// --negative).
std::string flag_of(const std::string& field);

struct GenerateOptions {
  // Request fields as typed on the command line: (field, text) in order, parsed by the pipeline
  // (set_request_field) so that every interface checks them the same way.
  std::vector<std::pair<std::string, std::string>> fields;
  int threads = 0;
  std::string model, dit, t5, vae, tokenizer;
  std::string output = "kinema.mp4";
  bool quiet = false;
  std::string progress = "bar";  // bar | json
  bool pack_weights = false, allow_custom = false;
  std::string lora_mode = "auto";  // auto | merge | unmerged
};
int run_generate(const GenerateOptions& options);

// The demo model that ships with Kinema (models/demo), used when no model is given: next to an
// installed binary (../share/kinema/models/demo), else in the source tree it was built from.
// Empty when neither exists.
std::string bundled_model_folder();

struct InfoOptions {
  std::string path;
  std::optional<std::string> size;  // unset: the folder's default, else the model's
  std::optional<std::string> frames;
};
int run_info(const InfoOptions& options);

}  // namespace kinema::app
