// The umT5 encoder as Wan runs it: bf16 weights and activations with the reference's rounding
// points (wan-spec 4.3), on the real tokens only (equivalent to the reference's padded run
// because padded keys are masked, 4.6). An f32 mode runs the same graph with no rounding at all
// (`--precision f32`).
#pragma once

#include <vector>

#include "core/parallel.h"
#include "core/tensor.h"
#include "io/weight_file.h"
#include "models/umt5/t5_config.h"
#include "nn/linear.h"

namespace kinema {

// The bidirectional relative-position bucket of key - query offset `rel` (spec 4.4).
int t5_relative_bucket(int64_t rel, int num_buckets, int max_distance);

enum class T5Precision { BF16, F32 };

class UMT5Encoder {
 public:
  UMT5Encoder(const WeightFile& file, const UMT5Config& config);

  const UMT5Config& config() const { return config_; }

  // Each sequence: a prompt's tokens including EOS (1 to 512). All sequences go through each
  // layer together, so every weight is read once per call, not once per prompt; attention stays
  // within a sequence. -> one [len, dim] tensor per sequence, bf16 (BF16) or f32 (F32).
  std::vector<Tensor> encode(const ComputeContext& ctx,
                             const std::vector<std::vector<int32_t>>& sequences,
                             T5Precision precision = T5Precision::BF16) const;
  // One sequence.
  Tensor encode(const ComputeContext& ctx, const std::vector<int32_t>& ids,
                T5Precision precision = T5Precision::BF16) const;

 private:
  struct Block {
    Tensor norm1, norm2;  // [dim] as stored
    Linear q, k, v, o, gate, fc1, fc2;
    std::vector<float> relative_bias;  // [buckets, heads], bf16 values (exact in the file's bf16)
  };
  UMT5Config config_;
  Tensor embedding_;  // [vocab, dim], stored dtype
  std::vector<Block> blocks_;
  Tensor final_norm_;
};

}  // namespace kinema
