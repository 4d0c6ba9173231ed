// What a generation will take in memory, from the model's configuration and the request's size,
// before any of it runs: `kinema info` prints it and resolve() refuses requests that cannot fit.
#pragma once

#include <cstdint>

#include "models/wan/dit.h"
#include "models/wan/dit_config.h"
#include "models/wan/vae_config.h"

namespace kinema {

struct MemoryEstimate {
  uint64_t weights = 0;      // mapped weight files (DiT and VAE): page cache, can be re-read
  uint64_t activations = 0;  // one DiT forward's working memory and both prompts' text keys/values
  uint64_t decode = 0;       // the VAE's widest chunk
  uint64_t video = 0;        // the decoded clip (f32) and its 8-bit frames
  // The peak of anonymous memory (what cannot be paged out: there may be no swap).
  uint64_t working() const;
};

MemoryEstimate estimate_memory(const WanDiTConfig& dit, const WanVAEConfig& vae, int64_t width,
                               int64_t height, int64_t frames, DiTPrecision precision,
                               uint64_t weight_bytes);

}  // namespace kinema
