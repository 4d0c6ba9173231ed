// The kinema command-line tool: argument parsing (CLI11) and error reporting. Every failure is
// one line on stderr and exit status 2 (128 + the signal when interrupted: 130, 143, 129).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <string>

#include "app/commands.h"
#include "core/cpu.h"
#include "core/error.h"
#include "core/parallel.h"
#include "pipeline/text_to_video.h"

namespace {

int run_system(int threads) {
  const kinema::ComputeContext ctx = kinema::ComputeContext::with_threads(threads);
  const auto& f = kinema::cpu_features();
  std::printf("instruction set: %s (detected %s)\n",
              std::string(kinema::isa_name(kinema::active_isa())).c_str(),
              std::string(kinema::isa_name(kinema::detected_isa())).c_str());
  std::printf("avx2 %d, fma %d, f16c %d, avx512f %d, avx512bf16 %d, avx512vnni %d, amx_bf16 %d\n",
              f.avx2, f.fma, f.f16c, f.avx512f, f.avx512bf16, f.avx512vnni, f.amx_bf16);
  std::printf("hardware threads: %d, using %d\n", kinema::hardware_threads(), ctx.threads);
  return 0;
}

// A request field given as text, parsed by the pipeline (so the CLI and the server agree).
void add_field(CLI::App* cmd, kinema::app::GenerateOptions& g, const std::string& flag,
               const std::string& field, const std::string& help) {
  cmd->add_option_function<std::string>(
         flag, [&g, field](const std::string& text) { g.fields.emplace_back(field, text); }, help)
      ->allow_extra_args(false);
}

// Whether an argument looks like an option that `app` (or its chosen subcommand) does not know:
// a prompt that starts with '-'.
bool has_unknown_dash_argument(int argc, char** argv, CLI::App* gen) {
  bool after_generate = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") return false;
    if (arg == "generate") after_generate = true;
    if (!after_generate || arg.size() < 2 || arg[0] != '-') continue;
    const std::string name = arg.substr(0, arg.find('='));
    bool known = false;
    for (const CLI::Option* opt : gen->get_options())
      if (opt->check_name(name)) known = true;
    if (!known) return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace kinema::app;
  CLI::App app{
      "kinema: text-to-video with open-weight diffusion models (Wan2.1), on the "
      "hardware you have",
      "kinema"};
  app.set_version_flag("--version", std::string("kinema ") + KINEMA_VERSION);
  app.require_subcommand(0, 1);
  int threads = 0;
  auto threads_option = [&threads](CLI::App* cmd) {
    cmd->add_option("--threads", threads, "worker threads (default: all hardware threads)")
        ->check(CLI::Range(1, 1024));
  };
  threads_option(&app);

  GenerateOptions g;
  std::string prompt;
  CLI::App* gen = app.add_subcommand("generate", "make a video from a text prompt");
  gen->add_option("prompt", prompt,
                  "what the video shows (a prompt that starts with '-' goes after '--')")
      ->required();
  gen->add_option("-o,--output", g.output,
                  "output file; the extension picks the format: .mp4 .webp .gif .png")
      ->capture_default_str();
  add_field(gen, g, "--negative", "negative_prompt",
            "what to avoid (default: the model's; for Wan, its negative prompt; \"\" for none)");
  add_field(gen, g, "--size", "size",
            "WIDTHxHEIGHT, multiples of 16 (default: the model's; 832x480 for Wan2.1 1.3B, "
            "1280x720 for 14B, 128x128 for the demo model)");
  add_field(gen, g, "--frames", "frames", "frame count, 4n+1 (default: 81; demo model: 17)");
  add_field(gen, g, "--fps", "fps",
            "frames per second of the file, 1 to 240 (default: 16; demo: 8)");
  add_field(gen, g, "--steps", "steps", "sampler steps, 1 to 1000 (default: 50; demo model: 20)");
  add_field(gen, g, "--guidance", "guidance",
            "classifier-free guidance scale, 0 to 100 (default: 5); 1 skips the negative pass");
  add_field(gen, g, "--shift", "shift",
            "flow shift of the sigma schedule, above 0 to 100 (default: 5; demo model: 3)");
  add_field(gen, g, "--sampler", "sampler",
            "unipc, dpm++, euler or lcm (the re-noising sampler of step-distilled models; "
            "default: unipc, or the model's)");
  add_field(gen, g, "--seed", "seed", "noise seed, 0 to 2^64-1 (default: random, printed)");
  add_field(gen, g, "--precision", "precision",
            "bf16 (the official precision, default) or f32 (DiT and text encoder in f32)");
  add_field(gen, g, "--noise", "noise",
            "start from this noise tensor (safetensors/GGUF/.pth) instead of a seed");
  gen->add_option_function<std::vector<std::string>>(
         "--lora",
         [&g](const std::vector<std::string>& files) {
           for (const std::string& f : files) g.fields.emplace_back("lora", f);
         },
         "FILE[:SCALE]: a LoRA applied to the DiT (ComfyUI, kohya, diffusers or lightx2v "
         "files; repeatable; scale 1 by default)")
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  gen->add_option("--lora-mode", g.lora_mode,
                  "merge the LoRAs into the weights, run them unmerged beside them, or auto "
                  "(merge when the copies fit in memory and the weights are not quantized)")
      ->check(CLI::IsMember({"auto", "merge", "unmerged"}))
      ->capture_default_str();
  add_field(gen, g, "--cache", "cache",
            "easycache[:THRESHOLD]: skip steps whose output barely changes (default threshold "
            "0.05; off by default, and off for distilled runs)");
  gen->add_option("--model", g.model,
                  "a Wan2.1 model folder (official, Diffusers or single files; default: the "
                  "bundled demo model)");
  gen->add_option("--dit", g.dit, "the DiT weight file or folder");
  gen->add_option("--t5", g.t5, "the umT5 text encoder weight file");
  gen->add_option("--vae", g.vae, "the VAE weight file");
  gen->add_option("--tokenizer", g.tokenizer, "the tokenizer's spiece.model");
  gen->add_flag("--pack-weights", g.pack_weights,
                "convert the DiT's weights once at load (faster steps, more memory)");
  gen->add_flag("--allow-custom", g.allow_custom, "accept model sizes other than released Wan2.1");
  gen->add_flag("-q,--quiet", g.quiet, "no progress output");
  gen->add_option("--progress", g.progress,
                  "bar or json (one JSON object per line on stderr, errors included)")
      ->check(CLI::IsMember({"bar", "json"}))
      ->capture_default_str();
  threads_option(gen);

  InfoOptions info;
  CLI::App* inf = app.add_subcommand("info", "describe a model file or folder, or a tokenizer");
  inf->add_option("path", info.path, "a weight file, model folder or spiece.model")->required();
  inf->add_option("--size", info.size,
                  "size for the memory estimate (default: the model's, else 832x480)");
  inf->add_option("--frames", info.frames,
                  "frames for the memory estimate (default: the model's, else 81)");
  threads_option(inf);

  CLI::App* sys = app.add_subcommand("system", "show what this machine offers Kinema");
  threads_option(sys);

  std::string help_topic;
  CLI::App* help =
      app.add_subcommand("help", "show this help, or a command's: kinema help generate");
  help->add_option("command", help_topic, "generate, info or system");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::string hint;
    if (has_unknown_dash_argument(argc, argv, gen))
      hint = "; a prompt that starts with '-' goes after '--': kinema generate -- \"-...\"";
    std::fprintf(stderr, "kinema: %s (see kinema help)%s\n", kinema::printable(e.what()).c_str(),
                 hint.c_str());
    return 2;
  }
  try {
    if (*gen) {
      g.fields.insert(g.fields.begin(), {"prompt", prompt});
      g.threads = threads;
      return run_generate(g);
    }
    if (*inf) return run_info(info);
    if (*sys) return run_system(threads);
    if (*help && !help_topic.empty()) {
      for (CLI::App* cmd : {gen, inf, sys})
        if (cmd->get_name() == help_topic) {
          std::fputs(cmd->help("kinema").c_str(), stdout);
          return 0;
        }
      std::fprintf(stderr, "kinema: help: no command '%s' (generate, info, system)\n",
                   kinema::printable(help_topic).c_str());
      return 2;
    }
    std::fputs(app.help().c_str(), stdout);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kinema: %s\n", e.what());
    return 2;
  }
}
