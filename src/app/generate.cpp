// `kinema generate`: the request from the command line, the model, resolve(), generation, and
// the frames streamed into the output file. Signals (SIGINT, SIGTERM, SIGHUP) stop the run at
// the next step or frame and remove the temporary file; a second signal stops it at once.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <thread>

#include "app/commands.h"
#include "app/progress.h"
#include "core/memory.h"
#include "media/video_file.h"
#include "pipeline/denoise.h"
#include "pipeline/request.h"
#include "pipeline/text_to_video.h"

namespace kinema::app {
namespace {

namespace fs = std::filesystem;

// Signal state: what the handler may touch (a flag, and a fixed buffer with the temporary file's
// name for the second signal, which exits at once).
volatile std::sig_atomic_t g_signal = 0;
char g_temporary[4096] = {};

extern "C" void on_signal(int sig) {
  if (g_signal != 0) {
    if (g_temporary[0] != '\0') ::unlink(g_temporary);  // async-signal-safe
    ::_exit(128 + sig);
  }
  g_signal = sig;
}

// Installs the handler for the whole run and restores the previous ones after it.
class SignalScope {
 public:
  SignalScope() {
    g_signal = 0;
    g_temporary[0] = '\0';
    struct sigaction action {};
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    for (size_t i = 0; i < kSignals.size(); ++i) sigaction(kSignals[i], &action, &saved_[i]);
  }
  ~SignalScope() {
    for (size_t i = 0; i < kSignals.size(); ++i) sigaction(kSignals[i], &saved_[i], nullptr);
    g_temporary[0] = '\0';
  }
  static void set_temporary(const std::string& path) {
    g_temporary[0] = '\0';
    if (path.size() < sizeof(g_temporary)) std::memcpy(g_temporary, path.c_str(), path.size() + 1);
  }
  static int received() { return g_signal; }

 private:
  static constexpr std::array<int, 3> kSignals = {SIGINT, SIGTERM, SIGHUP};
  std::array<struct sigaction, 3> saved_{};
};

std::string signal_name(int sig) {
  return sig == SIGINT    ? "SIGINT"
         : sig == SIGTERM ? "SIGTERM"
         : sig == SIGHUP  ? "SIGHUP"
                          : "a signal";
}

// Tests hold the write phase open with this (milliseconds per frame written).
int test_write_delay_ms() {
  const char* v = std::getenv("KINEMA_TEST_WRITE_DELAY_MS");
  return v ? std::atoi(v) : 0;
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
    files = separate_model_files(o.dit, o.t5, o.vae, o.tokenizer);
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
  files.lora_mode = lora_mode_from_name(o.lora_mode);
  return files;
}

// A RequestError in the command line's words: "--guidance nan: must be ...".
[[noreturn]] void fail_as_flag(const RequestError& e) {
  const std::string flag = flag_of(e.field());
  if (e.value().empty()) fail(flag, e.field() == "prompt" ? " " : ": ", e.problem());
  fail(flag, " ", e.value(), ": ", e.problem());
}

int generate_checked(const GenerateOptions& o, Progress& progress) {
  // Everything that can be checked without the model is checked first.
  GenerationRequest request;
  for (const auto& [field, text] : o.fields) set_request_field(request, field, text);
  check_request(request);
  output_format(o.output);
  ModelFiles files = model_files(o);
  for (const LoraSpec& spec : request_loras(request)) files.loras.push_back(spec);
  // The output's folder, before anything heavy: the frame count may still change (it decides
  // between a PNG file and a PNG folder), so it is checked again once resolved.
  check_output_path(o.output, int(request.frames.value_or(files.defaults.frames.value_or(81))));

  const ComputeContext ctx = ComputeContext::with_threads(o.threads);
  progress.phase("load");
  WanModels models(files);
  const ModelDescription model = models.description();
  const GenerationParams p = resolve(request, model, available_memory_bytes());
  const OutputTarget target = check_output_path(o.output, p.frames);

  progress.note("model", model.name);
  progress.note("size", str_cat(p.width, "x", p.height, ", ", p.frames, " frames"));
  if (p.seed)
    progress.note("seed", std::to_string(*p.seed));
  else
    progress.note("noise", p.noise_file + " (sha256 " + p.noise_sha256 + ")");
  for (const LoraFileInfo& l : model.loras)
    progress.note("lora", str_cat(l.path, " (scale ", l.strength, ", ", l.naming, ", rank ", l.rank,
                                  ", ", l.tensors, " tensors, ",
                                  model.lora_mode == LoraMode::Merge ? "merged" : "unmerged",
                                  ", sha256 ", l.sha256, ")"));
  progress.note("sampler", str_cat(sampler_name(p.sampler), ", ", p.steps, " steps, shift ",
                                   p.shift, ", guidance ", p.guidance,
                                   uses_negative_prompt(p.guidance) ? " (two DiT passes per step)"
                                                                    : " (one DiT pass per step)"));
  if (p.cache) progress.note("cache", str_cat(p.cache->name, ":", p.cache->threshold));
  if (target == OutputTarget::Replaces)
    progress.note("output", o.output + " (replaces the existing " +
                                (fs::is_directory(o.output) ? "empty folder)" : "file)"));

  const MediaMetadata metadata = generation_metadata(p, model.name, KINEMA_VERSION);
  std::unique_ptr<VideoWriter> writer;
  const int delay_ms = test_write_delay_ms();
  GenerationCallbacks cb;
  cb.progress = [&](Phase phase, int step, int total) {
    if (step == 0)
      progress.phase(phase_name(phase), total);
    else
      progress.step(step, total);
  };
  cb.note = [&](std::string_view key, std::string_view value) { progress.note(key, value); };
  cb.cancelled = [] { return SignalScope::received() != 0; };
  // Frames go to the file as the VAE decodes them; the temporary file exists from the first
  // frame on, and every exit path below removes it unless the writer finished.
  cb.frames = [&](const Tensor& frames) {
    if (!writer) {
      writer =
          std::make_unique<VideoWriter>(o.output, p.width, p.height, p.fps, p.frames, metadata);
      SignalScope::set_temporary(writer->temporary_path());
    }
    const std::vector<uint8_t> rgb = video_to_rgb8(frames);
    const size_t frame_bytes = size_t(p.width) * size_t(p.height) * 3;
    for (int64_t i = 0; i < frames.dim(1); ++i) {
      if (SignalScope::received() != 0) throw Cancelled();
      if (delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
      writer->add(rgb.data() + size_t(i) * frame_bytes, 1);
    }
  };
  generate(ctx, models, p, cb);
  progress.phase("write");
  if (SignalScope::received() != 0) throw Cancelled();
  writer->finish();
  SignalScope::set_temporary("");
  progress.finish(o.output);
  return 0;
}

}  // namespace

std::string flag_of(const std::string& field) {
  if (field == "negative_prompt") return "--negative";
  if (field == "width" || field == "height") return "--size";
  if (field == "prompt") return "the prompt";
  return "--" + field;
}

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
  Progress progress(o.quiet                ? ProgressStyle::Quiet
                    : o.progress == "json" ? ProgressStyle::Json
                                           : ProgressStyle::Bar,
                    stderr);
  SignalScope signals;
  try {
    return generate_checked(o, progress);
  } catch (const Cancelled&) {
    const int sig = SignalScope::received() ? SignalScope::received() : SIGINT;
    const std::string message = "interrupted by " + signal_name(sig) + "; nothing was written";
    progress.error(message);
    std::fprintf(stderr, "kinema: %s\n", message.c_str());
    return 128 + sig;
  } catch (const RequestError& e) {
    try {
      fail_as_flag(e);
    } catch (const Error& flagged) {
      progress.error(flagged.what());
      throw;
    }
  } catch (const std::exception& e) {
    progress.error(e.what());
    throw;
  }
}

}  // namespace kinema::app
