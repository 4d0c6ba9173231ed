// The Wan2.1 text-to-video DiT (wan-spec section 2). The constructor is the weight map: every
// tensor is bound once, by its official name, from whichever layout the file uses.
#pragma once

#include <memory>
#include <vector>

#include "core/parallel.h"
#include "core/tensor.h"
#include "io/weight_file.h"
#include "models/lora.h"
#include "models/wan/dit_config.h"
#include "nn/linear.h"

namespace kinema {

// BF16 is the official reference's precision (bf16 autocast with fp32 islands, spec 2.10);
// F32 runs every operation in f32 (parity tests, and a slower high-precision mode).
enum class DiTPrecision { BF16, F32 };

// The per-prompt part of the model input: the embedded text and, per block, the
// cross-attention keys and values derived from it (the same for every sampler step).
struct TextConditioning {
  Tensor context;                    // [text_len, D], bf16 values
  std::vector<Tensor> cross_keys;    // per block [text_len, D], bf16 (RMS-normed)
  std::vector<Tensor> cross_values;  // per block [text_len, D], bf16
};

struct WanDiTOptions {
  // Convert the bf16-autocast linears' weights once, at load, into oneDNN's packed bf16 layout:
  // faster steps for checkpoints not stored in bf16 (the official 1.3B file is f32), at the cost
  // of a bf16 copy of those weights in memory (2.8 GB for 1.3B, 28 GB for 14B).
  bool pack_weights = false;
  // LoRAs applied at load (models/lora.h): merged into the weights, or run beside them
  // (lora_mode Auto decides from lora_memory_budget: the bytes the merged copies may take, 0
  // when no limit is known). Weights no LoRA targets stay views of the mapped file.
  const LoraSet* loras = nullptr;
  LoraMode lora_mode = LoraMode::Auto;
  uint64_t lora_memory_budget = 0;
};

class WanDiT {
 public:
  // Binds and checks every tensor (all problems reported in one error).
  WanDiT(const WeightFile& file, const WanDiTConfig& config, const WanDiTOptions& options = {});

  const WanDiTConfig& config() const { return config_; }
  // How the LoRAs were applied (Merge or Unmerged; Merge when there are none).
  LoraMode lora_mode() const { return lora_mode_; }

  // t5_context: [Lt, text_dim] (bf16 or f32), the real tokens only; zero rows pad it to text_len.
  TextConditioning encode_text(const ComputeContext& ctx, const Tensor& t5_context,
                               DiTPrecision precision) const;

  // latent: [in_dim, T, H', W'] f32; timestep: the value the reference feeds (an integer on
  // Wan's own schedules; 1000 * sigma, not rounded, on the distilled ones)
  // -> velocity [out_dim, T, H', W'] f32
  Tensor forward(const ComputeContext& ctx, const Tensor& latent, double timestep,
                 const TextConditioning& text, DiTPrecision precision) const;

 private:
  struct Attention {
    Linear q, k, v, o;
    Tensor norm_q, norm_k;  // [D] f32 RMSNorm weights
  };
  struct Block {
    Tensor modulation;  // [1, 6, D] f32
    Attention self_attn, cross_attn;
    Tensor norm3_weight, norm3_bias;
    Linear ffn0, ffn2;
  };

  Tensor patchify(const Tensor& latent, DiTPrecision precision) const;
  Tensor unpatchify(const Tensor& out, int64_t t, int64_t h, int64_t w) const;

  WanDiTConfig config_;
  LoraMode lora_mode_ = LoraMode::Merge;
  Linear patch_embedding_;  // weight viewed as [D, in_dim * pt * ph * pw]
  Linear text_embedding0_, text_embedding2_;
  Linear time_embedding0_, time_embedding2_, time_projection_;
  std::vector<Block> blocks_;
  Linear head_;
  Tensor head_modulation_;  // [1, 2, D]
};

// The [cos | sin] sinusoid of a timestep, float64 then f32 (spec 2.3).
std::vector<float> timestep_sinusoid(double timestep, int freq_dim);

}  // namespace kinema
