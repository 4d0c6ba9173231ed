#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>

#include "app/commands.h"
#include "core/memory.h"
#include "models/umt5/t5_config.h"
#include "models/umt5/tokenizer.h"
#include "models/wan/dit_config.h"
#include "models/wan/vae_config.h"
#include "pipeline/memory_estimate.h"
#include "pipeline/request.h"
#include "pipeline/text_to_video.h"

namespace kinema::app {
namespace {

namespace fs = std::filesystem;

struct Summary {
  uint64_t params = 0, bytes = 0;
  std::map<std::string, uint64_t> dtypes;  // dtype -> tensor count
};

Summary summarize(const WeightFile& file) {
  Summary s;
  for (const TensorInfo& t : file.tensors()) {
    s.params += uint64_t(t.shape.numel());
    s.bytes += t.nbytes;
    s.dtypes[std::string(name(t.dtype))] += 1;
  }
  return s;
}

std::string dtype_text(const Summary& s) {
  std::string out;
  for (const auto& [dtype, count] : s.dtypes)
    out += (out.empty() ? "" : ", ") + dtype + " x" + std::to_string(count);
  return out;
}

// A size in the unit that keeps it readable: "4.6 MiB", "2.50 GiB".
std::string size_text(double bytes) {
  char buf[32];
  if (bytes < double(1ull << 30))
    std::snprintf(buf, sizeof buf, "%.1f MiB", bytes / double(1ull << 20));
  else
    std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / double(1ull << 30));
  return buf;
}

// A parameter count the same way: "2.37 M parameters", "1.42 B parameters".
std::string count_text(uint64_t n) {
  char buf[40];
  if (n < 1000000000ull)
    std::snprintf(buf, sizeof buf, "%.2f M parameters", double(n) / 1e6);
  else
    std::snprintf(buf, sizeof buf, "%.2f B parameters", double(n) / 1e9);
  return buf;
}

// Which component a file holds: a description (empty when none fits) and the configs that the
// memory estimate needs.
struct Described {
  std::string what;
  std::optional<WanDiTConfig> dit;
  std::optional<WanVAEConfig> vae;
};

Described describe(const WeightFile& file, const std::vector<StatedDiTConfig>& stated) {
  try {
    WanDiTConfig d = resolve_wan_dit_config(file, true, stated);
    return {str_cat("Wan DiT ", d.name, " (dim ", d.dim, ", ", d.num_layers, " layers, ",
                    d.num_heads, " heads)"),
            d, std::nullopt};
  } catch (const Error& e) {
    // A DiT whose configuration cannot be settled says why.
    for (const TensorInfo& t : file.tensors())
      if (t.name.size() >= 22 &&
          t.name.compare(t.name.size() - 22, 22, "patch_embedding.weight") == 0)
        return {str_cat("a Wan DiT that cannot run as it is: ", e.what()), std::nullopt,
                std::nullopt};
  }
  try {
    WanVAEConfig v = resolve_wan_vae_config(file, true);
    return {str_cat("Wan VAE (base width ", v.base_dim, ", z ", v.z_dim, ")"), std::nullopt, v};
  } catch (const Error&) {
  }
  try {
    UMT5Config t = resolve_umt5_config(file, true);
    return {
        str_cat("umT5 encoder (dim ", t.dim, ", ", t.num_layers, " layers, vocab ", t.vocab, ")"),
        std::nullopt, std::nullopt};
  } catch (const Error&) {
  }
  return {};
}

// Whether `path` is a sentencepiece model: "sentencepiece tokenizer (N pieces)".
std::string describe_tokenizer(const std::string& path) {
  try {
    auto tokenizer = Tokenizer::load(path);
    return str_cat("sentencepiece tokenizer (", tokenizer->vocab_size(), " pieces)");
  } catch (const Error&) {
    return "";
  }
}

}  // namespace

int run_info(const InfoOptions& o) {
  std::vector<std::pair<std::string, std::string>> components;  // role, path
  std::error_code ec;
  ModelFiles files;
  if (fs::is_directory(o.path, ec)) {
    files = resolve_model_folder(o.path);
    components = {{"dit", files.dit}, {"text encoder", files.t5}, {"vae", files.vae}};
    std::printf("%s: Wan model folder (tokenizer %s)\n", o.path.c_str(), files.tokenizer.c_str());
    if (!files.name.empty()) std::printf("name          %s (kinema.json)\n", files.name.c_str());
    const ModelDefaults& d = files.defaults;
    if (d.width || d.frames || d.steps || d.guidance || d.shift || d.sampler || d.fps ||
        d.negative_prompt) {
      std::string text;
      auto add = [&text](const std::string& part) { text += (text.empty() ? "" : ", ") + part; };
      if (d.width) add(std::to_string(*d.width) + "x" + std::to_string(*d.height));
      if (d.frames) add(std::to_string(*d.frames) + " frames");
      if (d.fps) add(std::to_string(*d.fps) + " fps");
      if (d.steps) add(std::to_string(*d.steps) + " steps");
      if (d.sampler) add(*d.sampler);
      if (d.guidance) add("guidance " + str_cat(*d.guidance));
      if (d.shift) add("shift " + str_cat(*d.shift));
      if (d.negative_prompt)
        add(d.negative_prompt->empty() ? "no negative prompt" : "own negative prompt");
      std::printf("defaults      %s\n", text.c_str());
    }
  } else if (!fs::exists(o.path, ec)) {
    fail(printable(o.path), ": no such file or folder");
  } else {
    const std::string tokenizer = describe_tokenizer(o.path);
    if (!tokenizer.empty()) {
      std::printf("%s: %s\n", o.path.c_str(), tokenizer.c_str());
      return 0;
    }
    components = {{"file", o.path}};
  }
  uint64_t weight_bytes = 0;
  std::optional<WanDiTConfig> dit;
  WanVAEConfig vae;  // Wan2.1's unless the folder's VAE says otherwise
  for (const auto& [role, path] : components) {
    auto file = WeightFile::open(path);
    Summary s = summarize(*file);
    Described d = describe(*file, files.dit_statements);
    if (d.dit) dit = d.dit;
    if (d.vae) vae = *d.vae;
    if (role != "text encoder") weight_bytes += s.bytes;
    std::printf("%-13s %s\n", (role + ":").c_str(), path.c_str());
    std::printf("  holds       %s\n",
                d.what.empty() ? "no recognised Kinema model" : d.what.c_str());
    std::printf("  format      %s, %zu tensors, %s, %s\n", std::string(file->format()).c_str(),
                file->tensors().size(), count_text(s.params).c_str(),
                size_text(double(s.bytes)).c_str());
    std::printf("  dtypes      %s\n", dtype_text(s).c_str());
  }
  if (dit) {
    GenerationRequest request;
    request.prompt = "-";
    try {
      if (o.size) set_request_field(request, "size", *o.size);
      if (o.frames) set_request_field(request, "frames", *o.frames);
      check_request(request);
    } catch (const RequestError& e) {
      fail("--", e.field(), " ", e.value(), ": ", e.problem());
    }
    const ModelDefaults& d = files.defaults;
    const int64_t w = request.width.value_or(d.width.value_or(dit->default_width));
    const int64_t h = request.height.value_or(d.height.value_or(dit->default_height));
    const int64_t frames = request.frames.value_or(d.frames.value_or(dit->default_frames));
    check_video_size(w, h, vae.space_stride() * dit->patch_h);
    check_frame_count(frames, vae.time_stride() * dit->patch_t);
    const MemoryEstimate e =
        estimate_memory(*dit, vae, w, h, frames, DiTPrecision::BF16, weight_bytes);
    const double cell = double(vae.space_stride()) * dit->patch_h;
    const double tokens = double((frames - 1) / vae.time_stride() + 1) * (h / cell) * (w / cell);
    const uint64_t available = available_memory_bytes();
    std::printf(
        "estimate      %lldx%lld, %lld frames (%.0f tokens): weights %s mapped, "
        "activations ~%s, VAE decode ~%s, frames ~%s; working memory ~%s of %s available\n",
        static_cast<long long>(w), static_cast<long long>(h), static_cast<long long>(frames),
        tokens, size_text(double(e.weights)).c_str(), size_text(double(e.activations)).c_str(),
        size_text(double(e.decode)).c_str(), size_text(double(e.video)).c_str(),
        size_text(double(e.working())).c_str(),
        available ? size_text(double(available)).c_str() : "(unknown)");
  }
  return 0;
}

}  // namespace kinema::app
