// Binding a model's declarative tensor table to a weight file in any supported layout.
//
// A model lists every tensor it needs under its canonical (official checkpoint) name with its
// exact shape. Each file layout is a function from the canonical name to the name stored in
// that layout. Binding tries every layout and every known key prefix, keeps the one that
// matches most names, and then reports all missing, unexpected and mis-shaped tensors in one
// error.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/tensor.h"
#include "io/weight_file.h"

namespace kinema {

struct ExpectedTensor {
  std::string name;  // canonical name
  Shape shape;
};

struct WeightLayout {
  std::string_view name;                                     // "official", "diffusers", ...
  std::function<std::string(const std::string&)> file_name;  // canonical -> stored name
  std::vector<std::string> ignored = {};  // stored names that may be present and are not used
};

class BoundWeights {
 public:
  // The tensor stored for the canonical name (a zero-copy view).
  Tensor get(const std::string& canonical) const;
  bool has(const std::string& canonical) const { return entries_.count(canonical) != 0; }
  // The stored tensor's dtype and shape, without reading it (null when not bound).
  const TensorInfo* info(const std::string& canonical) const;
  std::string_view layout() const { return layout_; }
  const std::string& prefix() const { return prefix_; }

 private:
  friend BoundWeights bind_weights(const WeightFile&, std::string_view,
                                   const std::vector<ExpectedTensor>&,
                                   const std::vector<WeightLayout>&,
                                   const std::vector<std::string>&);
  const WeightFile* file_ = nullptr;
  std::string_view layout_;
  std::string prefix_;
  std::unordered_map<std::string, std::string> entries_;  // canonical -> stored name
};

// `what` names the component in messages ("Wan DiT", "Wan VAE", "umT5 encoder"). `prefixes`
// are the key prefixes to try ("" first); tensors under the chosen prefix that the table does
// not explain are reported as unexpected, so one component of a multi-component file binds
// cleanly when it has its own prefix.
BoundWeights bind_weights(const WeightFile& file, std::string_view what,
                          const std::vector<ExpectedTensor>& expected,
                          const std::vector<WeightLayout>& layouts,
                          const std::vector<std::string>& prefixes);

// Applies (from -> to) substring replacements in order, each to every occurrence.
std::string replace_all_in_order(
    std::string name, const std::vector<std::pair<std::string_view, std::string_view>>& rules);

}  // namespace kinema
