// LoRA files: low-rank and full-difference updates of a model's weights, read from the layouts
// that are published (docs/lora-and-distillation.md), mapped onto the model's canonical tensor
// names through the same tables and layouts the model's loader uses, and applied either merged
// into the weights at load or unmerged beside them (nn/linear.h LowRankUpdate).
//
// Naming, per tensor key "<prefix><module><suffix>":
//   suffixes  .lora_down.weight / .lora_up.weight (+ <module>.alpha)      kohya, ComfyUI
//             .lora_A.weight / .lora_B.weight (also .lora_A.default.weight,
//             .lora.down.weight, _lora.down.weight)                       diffusers, PEFT
//             .diff (the weight's, or a whole tensor's, difference), .diff_b (the bias's),
//             .diff_m (<module>.modulation's)                             lightx2v, ComfyUI
//   prefixes  diffusion_model., model.diffusion_model., transformer., base_model.model.,
//             model., none (module named with dots); lora_unet_, lycoris_, lora_transformer_
//             (module named with underscores)
//   module    the module in any of the model's layouts (official, Diffusers).
// Low rank: W' = W + strength * (alpha / rank) * up·down (alpha defaults to rank: scale 1);
// differences: T' = T + strength * diff. Conv weights are flattened as [out, in * kernel].
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/parallel.h"
#include "core/tensor.h"
#include "io/weight_file.h"
#include "models/weight_table.h"
#include "nn/linear.h"

namespace kinema {

// One LoRA file and its strength (--lora FILE[:SCALE]).
struct LoraSpec {
  std::string path;
  float strength = 1.0f;
};

// Parses "FILE[:SCALE]" (the last ':' followed by a number is the scale); throws naming the
// text when the scale is not a finite number.
LoraSpec parse_lora_spec(std::string_view text);

// What one file changes in one tensor (canonical name).
struct LoraUpdate {
  enum class Kind { LowRank, Diff };
  Kind kind = Kind::LowRank;
  Tensor down, up;  // LowRank: [rank, in...] and [out, rank...], as stored
  Tensor diff;      // Diff: the tensor's shape, as stored
  float scale = 1;  // strength * alpha / rank, or strength
  std::string key;  // the file's key, for messages ("FILE: key")
  int64_t rank() const { return kind == Kind::LowRank ? down.dim(0) : 0; }
};

// What a file is, for progress lines and metadata.
struct LoraFileInfo {
  std::string path;
  std::string sha256;  // of the file's bytes (lower-case hex)
  float strength = 1;
  std::string naming;   // "comfyui", "kohya", "diffusers", "peft", "diff", joined by '+'
  int64_t rank = 0;     // the largest rank (0: differences only)
  int64_t tensors = 0;  // tensors of the model it changes
};

// How low-rank updates of Linear weights are applied. Auto merges unless the weights are
// quantized (GGUF blocks, fp8: merging would need a requantization or a larger bf16 copy) or the
// merged copies do not fit the memory budget. Differences are always merged (they are as large
// as the tensor they change), and so are updates of tensors that are not Linear weights.
enum class LoraMode { Auto, Merge, Unmerged };
LoraMode lora_mode_from_name(std::string_view name);  // "auto", "merge", "unmerged"
std::string_view lora_mode_name(LoraMode mode);

// The decision of Auto: `merge_bytes` is what the merged copies of the targeted Linear weights
// take, `budget` what they may take (0: unknown, no limit).
LoraMode choose_lora_mode(LoraMode requested, uint64_t merge_bytes, uint64_t budget,
                          bool quantized_targets);

// Every file of a generation, read (tensors stay views of the mapped files) and matched against
// one model component's table.
class LoraSet {
 public:
  // `what` names the component in messages ("Wan DiT"). Throws, naming the file and the keys:
  // a key no naming explains, a module that is no tensor of the model, a low-rank pair with one
  // half missing or ranks that disagree, a shape that does not fit the tensor, a non-finite
  // value, or a file that changes nothing.
  LoraSet(const std::vector<LoraSpec>& specs, const std::vector<ExpectedTensor>& table,
          const std::vector<WeightLayout>& layouts, std::string_view what);
  LoraSet(const LoraSet&) = delete;
  LoraSet& operator=(const LoraSet&) = delete;
  ~LoraSet();

  bool empty() const { return updates_.empty(); }
  const std::vector<LoraFileInfo>& files() const { return files_; }
  // The updates of a canonical tensor, in file order (null when none).
  const std::vector<LoraUpdate>* updates(const std::string& canonical) const;
  // Every canonical name something updates.
  std::vector<std::string> targets() const;

 private:
  std::vector<std::unique_ptr<WeightFile>> weight_files_;
  std::vector<LoraFileInfo> files_;
  std::unordered_map<std::string, std::vector<LoraUpdate>> updates_;
};

// What merging the low-rank updates of Linear weights costs: `weight` gives the stored tensor of
// a target that is a Linear weight (null for other tensors, which are not counted).
struct LoraMergeCost {
  uint64_t bytes = 0;      // the merged copies (merged_dtype of each)
  bool quantized = false;  // a target is stored as fp8 or in GGUF blocks
};
LoraMergeCost lora_merge_cost(const LoraSet& set,
                              const std::function<const TensorInfo*(const std::string&)>& weight);

// `base` + every update, computed in f32 and stored as `out` (f32, bf16 or f16). Low-rank
// products are f32 GEMMs; a difference is added with its scale.
Tensor merge_lora_updates(const ComputeContext& ctx, const Tensor& base,
                          const std::vector<LoraUpdate>& updates, DType out);

// The dtype a merged copy of a weight stored as `stored` gets: its own for f32, bf16 and f16,
// bf16 for the rest (fp8 and GGUF blocks, merged only when forced).
DType merged_dtype(DType stored);

// Applies a LoraSet while a model binds its weights, and checks at the end that every update
// found its tensor. Counts what it merged and attached.
class LoraApplier {
 public:
  // set may be null (no LoRA: everything passes through untouched).
  LoraApplier(const LoraSet* set, LoraMode mode, const ComputeContext& ctx);

  // A tensor that is not a Linear weight (biases, norms, modulation tables): merged when
  // updated, returned as it is otherwise.
  Tensor tensor(const std::string& canonical, const Tensor& t);
  // A Linear's weight and bias (canonical names): merged, or the low-rank updates attached.
  void linear(const std::string& weight_name, const std::string& bias_name, Linear& linear);
  // Throws when an update was not applied (a model binding a tensor outside this applier).
  void finish() const;

  int merged() const { return merged_; }
  int attached() const { return attached_; }

 private:
  const LoraSet* set_;
  LoraMode mode_;
  ComputeContext ctx_;
  std::map<std::string, bool> applied_;
  int merged_ = 0, attached_ = 0;
};

}  // namespace kinema
