#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>

#include "app/commands.h"
#include "models/umt5/t5_config.h"
#include "models/wan/dit_config.h"
#include "models/wan/vae_config.h"
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

Described describe(const WeightFile& file) {
  try {
    WanDiTConfig d = resolve_wan_dit_config(file, true);
    return {str_cat("Wan DiT ", d.name, " (dim ", d.dim, ", ", d.num_layers, " layers, ",
                    d.num_heads, " heads)"),
            d, std::nullopt};
  } catch (const Error&) {
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

}  // namespace

int run_info(const InfoOptions& o) {
  std::vector<std::pair<std::string, std::string>> components;  // role, path
  std::error_code ec;
  ModelDefaults defaults;
  if (fs::is_directory(o.path, ec)) {
    ModelFiles f = resolve_model_folder(o.path);
    components = {{"dit", f.dit}, {"text encoder", f.t5}, {"vae", f.vae}};
    std::printf("%s: Wan model folder (tokenizer %s)\n", o.path.c_str(), f.tokenizer.c_str());
    if (!f.name.empty()) std::printf("name          %s (kinema.json)\n", f.name.c_str());
    defaults = f.defaults;
    const ModelDefaults& d = defaults;
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
  } else {
    components = {{"file", o.path}};
  }
  uint64_t weight_bytes = 0;
  std::optional<WanDiTConfig> dit;
  WanVAEConfig vae;  // Wan2.1's unless the folder's VAE says otherwise
  for (const auto& [role, path] : components) {
    auto file = WeightFile::open(path);
    Summary s = summarize(*file);
    Described d = describe(*file);
    if (d.dit) dit = d.dit;
    if (d.vae) vae = *d.vae;
    weight_bytes += s.bytes;
    std::printf("%-13s %s\n", (role + ":").c_str(), path.c_str());
    std::printf("  holds       %s\n",
                d.what.empty() ? "no recognised Kinema model" : d.what.c_str());
    std::printf("  format      %s, %zu tensors, %s, %s\n", std::string(file->format()).c_str(),
                file->tensors().size(), count_text(s.params).c_str(),
                size_text(double(s.bytes)).c_str());
    std::printf("  dtypes      %s\n", dtype_text(s).c_str());
  }
  if (dit) {
    auto [w, h] = o.size           ? parse_size(*o.size)
                  : defaults.width ? std::pair{*defaults.width, *defaults.height}
                                   : std::pair{832, 480};
    const int frames = o.frames.value_or(defaults.frames.value_or(81));
    check_frame_count(frames);
    const double tokens = double((frames - 1) / 4 + 1) * (h / 16) * (w / 16);
    // bf16 activations of one block (q, k, v, attention, FFN hidden, f32 residual and norms).
    const double act = tokens * (12.0 * dit->dim + 2.0 * dit->ffn_dim) * 2.0 +
                       512.0 * dit->dim * 2 * 2 * dit->num_layers * 2;  // text K/V, 2 prompts
    // VAE decode: the widest chunk (4 frames at full resolution, the decoder's last width, a few
    // live copies).
    const double decode = 4.0 * h * w * vae.base_dim * 4 * 4;
    std::printf(
        "estimate      %dx%d, %d frames (%.0f tokens): weights %s mapped, "
        "activations ~%s, VAE decode ~%s\n",
        w, h, frames, tokens, size_text(double(weight_bytes)).c_str(), size_text(act).c_str(),
        size_text(decode).c_str());
  }
  return 0;
}

}  // namespace kinema::app
