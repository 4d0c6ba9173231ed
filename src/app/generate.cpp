#include <unistd.h>

#include <atomic>
#include <csignal>
#include <filesystem>

#include "app/commands.h"
#include "app/progress.h"
#include "media/video_file.h"
#include "pipeline/noise.h"
#include "pipeline/text_to_video.h"

namespace kinema::app {
namespace {

namespace fs = std::filesystem;

std::atomic<bool> g_interrupted{false};
extern "C" void on_interrupt(int) { g_interrupted = true; }

// Fails early (before loading gigabytes) when the output cannot be written.
void check_output(const std::string& path) {
  output_format(path);
  fs::path parent = fs::path(path).parent_path();
  if (parent.empty()) parent = ".";
  std::error_code ec;
  if (!fs::is_directory(parent, ec))
    fail(path, ": cannot write here: folder '", parent.string(), "' does not exist");
  if (::access(parent.c_str(), W_OK) != 0)
    fail(path, ": cannot write here: folder '", parent.string(), "' is not writable");
}

ModelFiles model_files(const GenerateOptions& o) {
  const bool separate = !o.dit.empty() || !o.t5.empty() || !o.vae.empty() || !o.tokenizer.empty();
  if (!o.model.empty() && separate)
    fail("give either --model DIR or the separate --dit/--t5/--vae/--tokenizer files, not both");
  ModelFiles files;
  if (!o.model.empty()) {
    files = resolve_model_folder(o.model);
  } else if (separate) {
    if (o.dit.empty() || o.t5.empty() || o.vae.empty() || o.tokenizer.empty())
      fail("with separate files, all of --dit, --t5, --vae and --tokenizer are needed");
    files = ModelFiles{o.dit, o.t5, o.vae, o.tokenizer};
  } else {
    fail(
        "no model given: pass --model DIR (a Wan2.1 folder; see the README for where to get "
        "one) or --dit/--t5/--vae/--tokenizer");
  }
  files.allow_custom = o.allow_custom;
  files.pack_weights = o.pack_weights;
  return files;
}

}  // namespace

int run_generate(const GenerateOptions& o) {
  // Everything that can be checked without the model is checked first.
  if (o.prompt.empty()) fail("the prompt is empty");
  check_frame_count(o.frames);
  auto [width, height] = o.size.empty() ? std::pair{0, 0} : parse_size(o.size);
  const SamplerKind sampler = sampler_from_name(o.sampler);
  if (o.steps < 1 || o.steps > 1000) fail("--steps ", o.steps, ": expected 1 to 1000");
  if (o.fps < 1 || o.fps > 240) fail("--fps ", o.fps, ": expected 1 to 240");
  if (!(o.shift > 0)) fail("--shift ", o.shift, ": must be positive");
  if (o.precision != "bf16" && o.precision != "f32")
    fail("--precision '", o.precision, "': expected bf16 or f32");
  check_output(o.output);
  const ModelFiles files = model_files(o);

  Progress progress(o.quiet                ? ProgressStyle::Quiet
                    : o.progress == "json" ? ProgressStyle::Json
                                           : ProgressStyle::Bar,
                    stderr);
  const ComputeContext ctx = ComputeContext::with_threads(o.threads);
  progress.phase("load");
  WanModels models(files);
  if (width == 0) {
    // Wan2.1 defaults: 832x480 for 1.3B, 1280x720 for 14B.
    const bool big = models.dit().config().dim >= 5120;
    width = big ? 1280 : 832;
    height = big ? 720 : 480;
  }

  GenerationParams p;
  p.prompt = o.prompt;
  p.negative_prompt = o.negative;
  p.width = width;
  p.height = height;
  p.frames = o.frames;
  p.steps = o.steps;
  p.guidance = o.guidance;
  p.shift = o.shift;
  p.sampler = sampler;
  p.seed = o.seed ? *o.seed : random_seed();
  p.precision = o.precision == "f32" ? DiTPrecision::F32 : DiTPrecision::BF16;
  if (!o.noise.empty()) p.noise = read_noise_file(o.noise);
  progress.note("model", std::string(models.dit().config().name));
  progress.note("size", std::to_string(width) + "x" + std::to_string(height) + ", " +
                            std::to_string(o.frames) + " frames");
  progress.note("seed", std::to_string(p.seed));

  GenerationCallbacks cb;
  cb.progress = [&](Phase phase, int step, int total) {
    if (step == 0)
      progress.phase(phase_name(phase), total);
    else
      progress.step(step, total);
  };
  g_interrupted = false;
  std::signal(SIGINT, on_interrupt);
  cb.cancelled = [] { return g_interrupted.load(); };
  Tensor video = generate(ctx, models, p, cb);
  std::signal(SIGINT, SIG_DFL);

  progress.phase("write");
  RgbFrames frames;
  frames.count = int(video.dim(1));
  frames.height = int(video.dim(2));
  frames.width = int(video.dim(3));
  frames.rgb = video_to_rgb8(video);
  MediaMetadata meta = {{"prompt", p.prompt},
                        {"negative_prompt", o.negative.empty() ? "(Wan default)" : o.negative},
                        {"seed", std::to_string(p.seed)},
                        {"steps", std::to_string(p.steps)},
                        {"sampler", std::string(sampler_name(sampler))},
                        {"guidance", std::to_string(p.guidance)},
                        {"shift", std::to_string(p.shift)},
                        {"model", std::string(models.dit().config().name)},
                        {"kinema_version", KINEMA_VERSION}};
  write_frames(o.output, frames, o.fps, meta);
  progress.finish(o.output);
  return 0;
}

}  // namespace kinema::app
