// The kinema command-line tool: argument parsing (CLI11) and error reporting. Every failure is
// one line on stderr and exit status 2 (130 when interrupted).
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

}  // namespace

int main(int argc, char** argv) {
  using namespace kinema::app;
  CLI::App app{
      "kinema: text-to-video with open-weight diffusion models (Wan2.1), on the "
      "hardware you have"};
  app.set_version_flag("--version", std::string("kinema ") + KINEMA_VERSION);
  app.require_subcommand(0, 1);
  app.fallthrough();  // --threads also after the subcommand: kinema generate ... --threads 2
  int threads = 0;
  app.add_option("--threads", threads, "worker threads (default: all hardware threads)")
      ->check(CLI::Range(1, 1024));

  GenerateOptions g;
  CLI::App* gen = app.add_subcommand("generate", "make a video from a text prompt");
  gen->add_option("prompt", g.prompt, "what the video shows")->required();
  gen->add_option("-o,--output", g.output,
                  "output file; the extension picks the format: .mp4 .webp .gif .png")
      ->capture_default_str();
  gen->add_option("--negative", g.negative,
                  "what to avoid (default: the model's; for Wan, its negative prompt)");
  gen->add_option("--size", g.size,
                  "WIDTHxHEIGHT, multiples of 16 (default: the model's; 832x480 for Wan2.1 "
                  "1.3B, 1280x720 for 14B, 128x128 for the demo model)");
  gen->add_option("--frames", g.frames, "frame count, 4n+1 (default: 81; demo model: 17)");
  gen->add_option("--fps", g.fps, "frames per second of the file (default: 16; demo model: 8)");
  gen->add_option("--steps", g.steps, "sampler steps (default: 50; demo model: 20)");
  gen->add_option("--guidance", g.guidance,
                  "classifier-free guidance scale (default: 5; demo model: 5)");
  gen->add_option("--shift", g.shift,
                  "flow shift of the sigma schedule (default: 5; demo model: 3)");
  gen->add_option("--sampler", g.sampler, "unipc, dpm++ or euler (default: unipc)");
  gen->add_option("--seed", g.seed, "noise seed (default: random, printed)");
  gen->add_option("--model", g.model,
                  "a Wan2.1 model folder (official, Diffusers or single files; default: the "
                  "bundled demo model)");
  gen->add_option("--dit", g.dit, "the DiT weight file or folder");
  gen->add_option("--t5", g.t5, "the umT5 text encoder weight file");
  gen->add_option("--vae", g.vae, "the VAE weight file");
  gen->add_option("--tokenizer", g.tokenizer, "the tokenizer's spiece.model");
  gen->add_option("--precision", g.precision, "bf16 (the official precision) or f32")
      ->capture_default_str();
  gen->add_option("--noise", g.noise, "start from this noise tensor instead of a seed");
  gen->add_flag("--pack-weights", g.pack_weights,
                "convert the DiT's weights once at load (faster steps, more memory)");
  gen->add_flag("--allow-custom", g.allow_custom, "accept model sizes other than released Wan2.1");
  gen->add_flag("-q,--quiet", g.quiet, "no progress output");
  gen->add_option("--progress", g.progress, "bar or json (one JSON object per line on stderr)")
      ->check(CLI::IsMember({"bar", "json"}))
      ->capture_default_str();

  InfoOptions info;
  CLI::App* inf = app.add_subcommand("info", "describe a model file or folder");
  inf->add_option("path", info.path, "a weight file or model folder")->required();
  inf->add_option("--size", info.size,
                  "size for the memory estimate (default: the model's, else 832x480)");
  inf->add_option("--frames", info.frames,
                  "frames for the memory estimate (default: the model's, else 81)");

  CLI::App* sys = app.add_subcommand("system", "show what this machine offers Kinema");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::fprintf(stderr, "kinema: %s (see kinema --help)\n", e.what());
    return 2;
  }
  try {
    if (*gen) {
      g.threads = threads;
      return run_generate(g);
    }
    if (*inf) return run_info(info);
    if (*sys) return run_system(threads);
    std::fputs(app.help().c_str(), stdout);
    return 0;
  } catch (const kinema::Cancelled&) {
    std::fprintf(stderr, "\nkinema: interrupted; nothing was written\n");
    return 130;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kinema: %s\n", e.what());
    return 2;
  }
}
