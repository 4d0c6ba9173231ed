#include "pipeline/memory_estimate.h"

#include <algorithm>

namespace kinema {

uint64_t MemoryEstimate::working() const { return std::max(activations, decode + video); }

MemoryEstimate estimate_memory(const WanDiTConfig& dit, const WanVAEConfig& vae, int64_t width,
                               int64_t height, int64_t frames, DiTPrecision precision,
                               uint64_t weight_bytes) {
  // In double: a request is estimated before it is validated, and its extents may be huge.
  const double w = double(width), h = double(height), f = double(frames);
  const double latent_frames = (f - 1) / vae.time_stride() + 1;
  const double cell = double(vae.space_stride()) * dit.patch_h;
  const double tokens = latent_frames / dit.patch_t * (h / cell) * (w / cell);
  const double element = precision == DiTPrecision::F32 ? 4.0 : 2.0;
  // One block's live tensors (q, k, v, attention, FFN hidden, f32 residual and norms), then the
  // per-block cross-attention keys and values of both prompts.
  const double act = tokens * (12.0 * dit.dim + 2.0 * dit.ffn_dim) * element +
                     double(dit.text_len) * dit.dim * 2 * element * dit.num_layers * 2;
  // The widest decode chunk: 4 frames at full resolution at the decoder's last width, a few
  // live copies.
  const double decode = 4.0 * h * w * vae.base_dim * 4 * 4;
  const double video = f * h * w * 3 * (4 + 1);
  auto bytes = [](double v) { return v >= 1.8e19 ? uint64_t(1.8e19) : uint64_t(std::max(0.0, v)); };
  MemoryEstimate e;
  e.weights = weight_bytes;
  e.activations = bytes(act);
  e.decode = bytes(decode);
  e.video = bytes(video);
  return e;
}

}  // namespace kinema
