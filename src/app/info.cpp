#include <cstdio>
#include <filesystem>
#include <map>

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

double gib(double bytes) { return bytes / double(1ull << 30); }

// Which component a file holds, and its description; empty when none fits.
std::string describe(const WeightFile& file, WanDiTConfig* dit) {
  try {
    *dit = resolve_wan_dit_config(file, true);
    return str_cat("Wan DiT ", dit->name, " (dim ", dit->dim, ", ", dit->num_layers, " layers, ",
                   dit->num_heads, " heads)");
  } catch (const Error&) {
  }
  try {
    WanVAEConfig v = resolve_wan_vae_config(file, true);
    return str_cat("Wan VAE (base width ", v.base_dim, ", z ", v.z_dim, ")");
  } catch (const Error&) {
  }
  try {
    UMT5Config t = resolve_umt5_config(file, true);
    return str_cat("umT5 encoder (dim ", t.dim, ", ", t.num_layers, " layers, vocab ", t.vocab,
                   ")");
  } catch (const Error&) {
  }
  return "";
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
  WanDiTConfig dit;
  bool have_dit = false;
  for (const auto& [role, path] : components) {
    auto file = WeightFile::open(path);
    Summary s = summarize(*file);
    WanDiTConfig c;
    std::string what = describe(*file, &c);
    if (what.rfind("Wan DiT", 0) == 0) {
      dit = c;
      have_dit = true;
    }
    weight_bytes += s.bytes;
    std::printf("%-13s %s\n", (role + ":").c_str(), path.c_str());
    std::printf("  holds       %s\n", what.empty() ? "no recognised Kinema model" : what.c_str());
    std::printf("  format      %s, %zu tensors, %.3f B parameters, %.2f GiB\n",
                std::string(file->format()).c_str(), file->tensors().size(), double(s.params) / 1e9,
                gib(double(s.bytes)));
    std::printf("  dtypes      %s\n", dtype_text(s).c_str());
  }
  if (have_dit) {
    auto [w, h] = o.size           ? parse_size(*o.size)
                  : defaults.width ? std::pair{*defaults.width, *defaults.height}
                                   : std::pair{832, 480};
    const int frames = o.frames.value_or(defaults.frames.value_or(81));
    check_frame_count(frames);
    const double tokens = double((frames - 1) / 4 + 1) * (h / 16) * (w / 16);
    // bf16 activations of one block (q, k, v, attention, FFN hidden, f32 residual and norms).
    const double act = tokens * (12.0 * dit.dim + 2.0 * dit.ffn_dim) * 2.0 +
                       512.0 * dit.dim * 2 * 2 * dit.num_layers * 2;  // cached text K/V, 2 prompts
    // VAE decode: the widest chunk (4 frames at full resolution, 96 channels, a few live copies).
    const double vae = 4.0 * h * w * 96 * 4 * 4;
    std::printf(
        "estimate      %dx%d, %d frames (%.0f tokens): weights %.2f GiB mapped, "
        "activations ~%.2f GiB, VAE decode ~%.2f GiB\n",
        w, h, frames, tokens, gib(double(weight_bytes)), gib(act), gib(vae));
  }
  return 0;
}

}  // namespace kinema::app
