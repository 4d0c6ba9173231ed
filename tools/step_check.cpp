// kinema_step_check: what step caching and distilled sampling cost and save. Generates one video
// without a cache, then with EasyCache at each threshold, from the same noise, and prints one
// JSON object per run: denoise and decode seconds, model passes, skipped steps, and (for cached
// runs) the speed-up and the PSNR and SSIM of the decoded video against the uncached one.
//   kinema_step_check --model DIR [--prompt TEXT] [--lora FILE[:SCALE]]...
//   kinema_step_check --dit FILE --vae FILE   (random text features: for random weights)
//   common: --size WxH --frames F --steps N --guidance G --shift S --sampler NAME --seed S
//           --caches 0.05,0.1 --threads T --precision bf16|f32 --repeat N --pack-weights
// With --repeat N every run is timed N times and the fastest is kept (the machine is shared).
// --dump FILE writes the uncached run's frames, raw uint8 [F, H, W, 3] (for measurements).
// Measurement only (docs/performance.md); the CLI's generate is the product.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "media/video_file.h"
#include "models/lora.h"
#include "models/umt5/encoder.h"
#include "models/umt5/tokenizer.h"
#include "models/wan/dit.h"
#include "models/wan/vae.h"
#include "pipeline/denoise.h"
#include "pipeline/noise.h"
#include "pipeline/text_to_video.h"

namespace kinema {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Luma of [F, H, W, 3] uint8 frames (BT.601 weights), as doubles.
std::vector<double> luma(const std::vector<uint8_t>& rgb) {
  std::vector<double> y(rgb.size() / 3);
  for (size_t i = 0; i < y.size(); ++i)
    y[i] = 0.299 * rgb[3 * i] + 0.587 * rgb[3 * i + 1] + 0.114 * rgb[3 * i + 2];
  return y;
}

// PSNR in dB over every RGB value (peak 255); infinite for identical videos.
double psnr(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  double se = 0;
  for (size_t i = 0; i < a.size(); ++i) se += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
  const double mse = se / double(a.size());
  return mse == 0 ? INFINITY : 10.0 * std::log10(255.0 * 255.0 / mse);
}

// Mean SSIM (Wang et al. 2004) of the luma planes, frame by frame: 11x11 Gaussian windows with
// sigma 1.5, K1 = 0.01, K2 = 0.03, L = 255, over every window that fits.
double ssim(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b, int64_t frames, int64_t h,
            int64_t w) {
  const std::vector<double> ya = luma(a), yb = luma(b);
  constexpr int R = 5;
  double g[2 * R + 1], gsum = 0;
  for (int i = -R; i <= R; ++i) gsum += g[i + R] = std::exp(-(i * i) / (2 * 1.5 * 1.5));
  for (double& v : g) v /= gsum;
  const double c1 = std::pow(0.01 * 255, 2), c2 = std::pow(0.03 * 255, 2);
  double total = 0;
  int64_t count = 0;
  for (int64_t f = 0; f < frames; ++f) {
    const double* pa = ya.data() + f * h * w;
    const double* pb = yb.data() + f * h * w;
    for (int64_t y = R; y + R < h; ++y)
      for (int64_t x = R; x + R < w; ++x) {
        double ma = 0, mb = 0, saa = 0, sbb = 0, sab = 0;
        for (int dy = -R; dy <= R; ++dy)
          for (int dx = -R; dx <= R; ++dx) {
            const double wt = g[dy + R] * g[dx + R];
            const double va = pa[(y + dy) * w + x + dx], vb = pb[(y + dy) * w + x + dx];
            ma += wt * va;
            mb += wt * vb;
            saa += wt * va * va;
            sbb += wt * vb * vb;
            sab += wt * va * vb;
          }
        const double va = saa - ma * ma, vb = sbb - mb * mb, cov = sab - ma * mb;
        total +=
            ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2));
        ++count;
      }
  }
  return count ? total / double(count) : 1.0;
}

struct Outcome {
  std::vector<uint8_t> rgb;
  double denoise_s = 0, decode_s = 0;
  DenoiseStats stats;
};

}  // namespace
}  // namespace kinema

int main(int argc, char** argv) {
  using namespace kinema;
  CLI::App app{"kinema_step_check: step caching and distilled sampling, measured"};
  std::string model, dit_path, vae_path,
      prompt =
          "a red circle moves to the right on a black "
          "background";
  std::string size = "128x128", sampler_name = "unipc", caches_text = "0.05,0.1,0.2",
              precision_name = "bf16";
  std::vector<std::string> lora_texts;
  std::string dump;
  bool pack = false;
  int frames = 17, steps = 20, threads = 0, repeat = 1;
  float guidance = 5.0f;
  double shift = 3.0;
  uint64_t seed = 7;
  app.add_option("--model", model, "a model folder");
  app.add_option("--dit", dit_path, "a DiT file (random text features)");
  app.add_option("--vae", vae_path, "the VAE file for --dit");
  app.add_option("--prompt", prompt);
  app.add_option("--lora", lora_texts, "FILE[:SCALE], repeatable");
  app.add_option("--size", size);
  app.add_option("--frames", frames);
  app.add_option("--steps", steps);
  app.add_option("--guidance", guidance);
  app.add_option("--shift", shift);
  app.add_option("--sampler", sampler_name);
  app.add_option("--seed", seed);
  app.add_option("--caches", caches_text, "comma-separated EasyCache thresholds ('' for none)");
  app.add_option("--threads", threads);
  app.add_option("--precision", precision_name);
  app.add_option("--repeat", repeat, "time each run N times, keep the fastest");
  app.add_option("--dump", dump, "write the uncached run's frames (raw uint8 [F, H, W, 3])");
  app.add_flag("--pack-weights", pack, "convert the DiT's weights once at load");
  CLI11_PARSE(app, argc, argv);
  try {
    const ComputeContext ctx = ComputeContext::with_threads(threads);
    const DiTPrecision precision = precision_name == "f32" ? DiTPrecision::F32 : DiTPrecision::BF16;
    int width = 0, height = 0;
    if (std::sscanf(size.c_str(), "%dx%d", &width, &height) != 2) fail("--size WxH");
    check_video_size(width, height);
    check_frame_count(frames);
    std::string tokenizer_path, t5_path;
    bool custom = true;
    if (!model.empty()) {
      const ModelFiles files = resolve_model_folder(model);
      dit_path = files.dit;
      vae_path = files.vae;
      t5_path = files.t5;
      tokenizer_path = files.tokenizer;
      custom = files.allow_custom;
    } else if (dit_path.empty() || vae_path.empty()) {
      fail("give --model DIR, or --dit FILE and --vae FILE");
    }
    auto dit_file = WeightFile::open(dit_path);
    const WanDiTConfig config = resolve_wan_dit_config(*dit_file, custom);
    std::vector<LoraSpec> specs;
    for (const std::string& t : lora_texts) specs.push_back(parse_lora_spec(t));
    std::optional<LoraSet> loras;
    if (!specs.empty()) loras.emplace(specs, wan_dit_tensors(config), wan_dit_layouts(), "Wan DiT");
    WanDiTOptions options;
    options.pack_weights = pack;
    options.loras = loras ? &*loras : nullptr;
    const WanDiT dit(*dit_file, config, options);
    auto vae_file = WeightFile::open(vae_path);
    const WanVAE vae(*vae_file, resolve_wan_vae_config(*vae_file, true));

    // Text features: the model's encoder, or random bf16 rows standing in for umT5's output.
    const bool negative_needed = uses_negative_prompt(guidance);
    std::vector<Tensor> features;
    if (!t5_path.empty()) {
      auto t5_file = WeightFile::open(t5_path);
      const UMT5Encoder encoder(*t5_file, resolve_umt5_config(*t5_file, true));
      auto tokenizer = Tokenizer::load(tokenizer_path);
      features.push_back(encoder.encode(ctx, tokenizer->encode(prompt)));
      if (negative_needed) features.push_back(encoder.encode(ctx, tokenizer->encode("")));
    } else {
      for (int p = 0; p < (negative_needed ? 2 : 1); ++p)
        features.push_back(gaussian_noise(ctx, {24, config.text_dim}, 100 + p).to(DType::BF16));
    }
    std::vector<TextConditioning> text;
    for (const Tensor& f : features) text.push_back(dit.encode_text(ctx, f, precision));

    const SamplerKind sampler = sampler_from_name(sampler_name);
    const Shape shape({vae.config().z_dim, (frames - 1) / 4 + 1, height / 8, width / 8});
    const Tensor noise = gaussian_noise(ctx, shape, seed);
    auto run_once = [&](StepCache* cache) {
      Outcome o;
      Tensor x = noise.clone();
      DenoiseSettings s;
      s.sampler = sampler;
      s.schedule = make_schedule(sampler, steps, shift);
      s.guidance = guidance;
      s.noise = seeded_step_noise(ctx, shape, seed);
      s.cache = cache;
      auto t0 = std::chrono::steady_clock::now();
      o.stats = denoise(x, s, [&](const Tensor& sample, double t, int pass) {
        return dit.forward(ctx, sample, t, text[size_t(pass)], precision);
      });
      o.denoise_s = seconds_since(t0);
      t0 = std::chrono::steady_clock::now();
      o.rgb = video_to_rgb8(vae.decode(ctx, x));
      o.decode_s = seconds_since(t0);
      return o;
    };
    auto run = [&](const std::optional<CacheSpec>& spec) {
      Outcome best;
      for (int r = 0; r < std::max(1, repeat); ++r) {
        std::unique_ptr<StepCache> cache = spec ? make_step_cache(*spec, steps) : nullptr;
        Outcome o = run_once(cache.get());
        if (r == 0 || o.denoise_s < best.denoise_s) best.denoise_s = o.denoise_s;
        if (r == 0 || o.decode_s < best.decode_s) best.decode_s = o.decode_s;
        best.stats = o.stats;
        best.rgb = std::move(o.rgb);
      }
      return best;
    };
    const Outcome base = run(std::nullopt);
    if (!dump.empty()) {
      std::FILE* f = std::fopen(dump.c_str(), "wb");
      if (!f || std::fwrite(base.rgb.data(), 1, base.rgb.size(), f) != base.rgb.size() ||
          std::fclose(f) != 0)
        fail(dump, ": cannot write");
    }
    std::printf(
        "{\"run\": \"uncached\", \"model\": \"%s\", \"size\": \"%dx%d\", \"frames\": %d, "
        "\"steps\": %d, \"sampler\": \"%s\", \"guidance\": %g, \"loras\": %zu, \"lora_mode\": "
        "\"%s\", \"threads\": %d, \"denoise_s\": %.3f, \"decode_s\": %.3f, \"forwards\": %d}\n",
        std::string(config.name).c_str(), width, height, frames, steps, sampler_name.c_str(),
        double(guidance), specs.size(), std::string(lora_mode_name(dit.lora_mode())).c_str(),
        ctx.threads, base.denoise_s, base.decode_s, base.stats.forwards);
    std::fflush(stdout);
    std::stringstream list(caches_text);
    for (std::string item; std::getline(list, item, ',');) {
      if (item.empty()) continue;
      const CacheSpec spec = parse_cache_spec("easycache:" + item);
      const Outcome o = run(spec);
      std::printf(
          "{\"run\": \"%s\", \"denoise_s\": %.3f, \"forwards\": %d, \"skipped_steps\": %d, "
          "\"speedup\": %.2f, \"psnr_db\": %.2f, \"ssim\": %.4f}\n",
          make_step_cache(spec, steps)->describe().c_str(), o.denoise_s, o.stats.forwards,
          o.stats.skipped_steps, base.denoise_s / o.denoise_s, psnr(base.rgb, o.rgb),
          ssim(base.rgb, o.rgb, frames, height, width));
      std::fflush(stdout);
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kinema_step_check: %s\n", e.what());
    return 2;
  }
}
