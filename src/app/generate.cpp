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
    files.dit = o.dit;
    files.t5 = o.t5;
    files.vae = o.vae;
    files.tokenizer = o.tokenizer;
  } else {
    const std::string bundled = bundled_model_folder();
    if (bundled.empty())
      fail(
          "no model given and the bundled demo model is missing: pass --model DIR (a Wan2.1 "
          "folder; see the README for where to get one) or --dit/--t5/--vae/--tokenizer");
    files = resolve_model_folder(bundled);
  }
  files.allow_custom |= o.allow_custom;
  files.pack_weights = o.pack_weights;
  return files;
}

}  // namespace

std::string bundled_model_folder() {
  std::error_code ec;
  std::vector<fs::path> candidates;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) candidates.push_back(exe.parent_path() / ".." / "share" / "kinema" / "models" / "demo");
  candidates.push_back(fs::path(KINEMA_SOURCE_DIR) / "models" / "demo");
  for (const fs::path& dir : candidates)
    if (fs::is_regular_file(dir / "kinema.json", ec)) return dir.lexically_normal().string();
  return "";
}

int run_generate(const GenerateOptions& o) {
  // Everything that can be checked without the model is checked first.
  if (o.prompt.empty()) fail("the prompt is empty");
  if (o.frames) check_frame_count(*o.frames);
  auto [width, height] = o.size.empty() ? std::pair{0, 0} : parse_size(o.size);
  if (o.sampler) sampler_from_name(*o.sampler);
  if (o.steps && (*o.steps < 1 || *o.steps > 1000))
    fail("--steps ", *o.steps, ": expected 1 to 1000");
  if (o.fps && (*o.fps < 1 || *o.fps > 240)) fail("--fps ", *o.fps, ": expected 1 to 240");
  if (o.shift && !(*o.shift > 0)) fail("--shift ", *o.shift, ": must be positive");
  if (o.precision != "bf16" && o.precision != "f32")
    fail("--precision '", o.precision, "': expected bf16 or f32");
  check_output(o.output);
  const ModelFiles files = model_files(o);

  // The command line wins, then the model folder's defaults, then Wan2.1's.
  const ModelDefaults& d = files.defaults;
  if (o.size.empty() && d.width) std::tie(width, height) = std::pair{*d.width, *d.height};
  const std::optional<std::string> negative = o.negative ? o.negative : d.negative_prompt;
  const int frames = o.frames.value_or(d.frames.value_or(kDefaultFrames));
  const int fps = o.fps.value_or(d.fps.value_or(kDefaultFps));
  const SamplerKind sampler = sampler_from_name(o.sampler.value_or(d.sampler.value_or("unipc")));

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
  p.negative_prompt = negative;
  p.width = width;
  p.height = height;
  p.frames = frames;
  p.steps = o.steps.value_or(d.steps.value_or(kDefaultSteps));
  p.guidance = o.guidance.value_or(d.guidance.value_or(kDefaultGuidance));
  p.shift = o.shift.value_or(d.shift.value_or(kDefaultShift));
  p.sampler = sampler;
  p.seed = o.seed ? *o.seed : random_seed();
  p.precision = o.precision == "f32" ? DiTPrecision::F32 : DiTPrecision::BF16;
  if (!o.noise.empty()) p.noise = read_noise_file(o.noise);
  const std::string model_name =
      files.name.empty() ? std::string(models.dit().config().name) : files.name;
  progress.note("model", model_name);
  progress.note("size", std::to_string(width) + "x" + std::to_string(height) + ", " +
                            std::to_string(frames) + " frames");
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
  RgbFrames rgb;
  rgb.count = int(video.dim(1));
  rgb.height = int(video.dim(2));
  rgb.width = int(video.dim(3));
  rgb.rgb = video_to_rgb8(video);
  MediaMetadata meta = {{"prompt", p.prompt},
                        {"negative_prompt", negative ? *negative : "(Wan default)"},
                        {"seed", std::to_string(p.seed)},
                        {"steps", std::to_string(p.steps)},
                        {"sampler", std::string(sampler_name(sampler))},
                        {"guidance", std::to_string(p.guidance)},
                        {"shift", std::to_string(p.shift)},
                        {"model", model_name},
                        {"kinema_version", KINEMA_VERSION}};
  write_frames(o.output, rgb, fps, meta);
  progress.finish(o.output);
  return 0;
}

}  // namespace kinema::app
