// kinema_vae_encode: encodes clips with Kinema's Wan VAE, for the demo model's training recipe
// (demo/train.py): the DiT trains on latents of the exact VAE that ships.
//   kinema_vae_encode VAE_FILE COUNT FRAMES HEIGHT WIDTH [THREADS] < clips > latents
// stdin: COUNT clips as raw uint8 [FRAMES, HEIGHT, WIDTH, 3]; stdout: COUNT normalised latents as
// raw float32 [z_dim, (FRAMES-1)/4+1, HEIGHT/8, WIDTH/8]. Custom VAE widths are accepted.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/parallel.h"
#include "io/weight_file.h"
#include "models/wan/vae.h"

int main(int argc, char** argv) {
  using namespace kinema;
  if (argc < 6) {
    std::fprintf(stderr, "usage: %s VAE_FILE COUNT FRAMES HEIGHT WIDTH [THREADS] < clips\n",
                 argv[0]);
    return 2;
  }
  try {
    const int count = std::atoi(argv[2]), frames = std::atoi(argv[3]);
    const int height = std::atoi(argv[4]), width = std::atoi(argv[5]);
    if (count < 1 || frames < 1 || (frames - 1) % 4 || height < 8 || height % 8 || width < 8 ||
        width % 8)
      fail("COUNT >= 1, FRAMES = 4n+1, HEIGHT and WIDTH multiples of 8 expected");
    const ComputeContext ctx = ComputeContext::with_threads(argc > 6 ? std::atoi(argv[6]) : 0);
    auto file = WeightFile::open(argv[1]);
    const WanVAE vae(*file, resolve_wan_vae_config(*file, true));
    const size_t pixels = size_t(frames) * height * width;
    std::vector<uint8_t> clip(pixels * 3);
    std::vector<float> planar(pixels * 3);
    for (int n = 0; n < count; ++n) {
      if (std::fread(clip.data(), 1, clip.size(), stdin) != clip.size())
        fail("stdin: clip ", n, " of ", count, " is incomplete");
      for (size_t p = 0; p < pixels; ++p)
        for (int c = 0; c < 3; ++c) planar[c * pixels + p] = clip[p * 3 + c] / 127.5f - 1.0f;
      const Tensor video = Tensor::from_f32({3, frames, height, width}, planar.data());
      const Tensor latent = vae.encode(ctx, video);
      if (std::fwrite(latent.data<float>(), sizeof(float), latent.numel(), stdout) !=
          size_t(latent.numel()))
        fail("stdout: write failed");
    }
    return std::fflush(stdout) == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kinema_vae_encode: %s\n", e.what());
    return 1;
  }
}
