// kinema_dit_step: times one Wan DiT forward (and one guided step, cond + uncond) on a weight
// file, for scripts/fullsize_check.py. Prints one JSON object.
//   kinema_dit_step DIT_FILE WIDTH HEIGHT FRAMES f32|bf16 [THREADS] [pack]
#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/parallel.h"
#include "models/wan/dit.h"
#include "pipeline/noise.h"

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

long peak_rss_mb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace kinema;
  if (argc < 6) {
    std::fprintf(stderr, "usage: %s DIT_FILE WIDTH HEIGHT FRAMES f32|bf16 [THREADS]\n", argv[0]);
    return 2;
  }
  try {
    const int width = std::atoi(argv[2]), height = std::atoi(argv[3]), frames = std::atoi(argv[4]);
    const DiTPrecision precision =
        std::string(argv[5]) == "f32" ? DiTPrecision::F32 : DiTPrecision::BF16;
    ComputeContext ctx = ComputeContext::with_threads(argc > 6 ? std::atoi(argv[6]) : 0);
    auto t0 = std::chrono::steady_clock::now();
    auto file = WeightFile::open(argv[1]);
    const bool pack = argc > 7 && std::string(argv[7]) == "pack";
    WanDiT dit(*file, resolve_wan_dit_config(*file, true), WanDiTOptions{pack});
    const double load_s = seconds_since(t0);
    const long rss_after_load = peak_rss_mb();

    const WanDiTConfig& c = dit.config();
    Tensor context = gaussian_noise(ctx, {24, c.text_dim}, 1);
    Tensor latent = gaussian_noise(ctx, {c.in_dim, (frames - 1) / 4 + 1, height / 8, width / 8}, 2);
    t0 = std::chrono::steady_clock::now();
    TextConditioning text = dit.encode_text(ctx, context, precision);
    const double text_s = seconds_since(t0);
    t0 = std::chrono::steady_clock::now();
    Tensor v = dit.forward(ctx, latent, 999, text, precision);
    const double forward_s = seconds_since(t0);
    double sum = 0;
    for (float x : v.to_f32_vector()) sum += double(x) * x;
    std::printf(
        "{\"model\": \"%s\", \"precision\": \"%s\", \"packed\": %s, \"threads\": %d, \"tokens\": "
        "%lld, "
        "\"load_s\": %.3f, \"rss_after_load_mb\": %ld, \"encode_text_s\": %.3f, "
        "\"forward_s\": %.3f, \"guided_step_s\": %.3f, \"peak_rss_mb\": %ld, \"out_rms\": %.6f}\n",
        std::string(c.name).c_str(), argv[5], pack ? "true" : "false", ctx.threads,
        (long long)(latent.dim(1) * latent.dim(2) / 2 * latent.dim(3) / 2), load_s, rss_after_load,
        text_s, forward_s, 2 * forward_s, peak_rss_mb(), std::sqrt(sum / double(v.numel())));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kinema_dit_step: %s\n", e.what());
    return 2;
  }
}
