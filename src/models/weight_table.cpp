#include "models/weight_table.h"

#include <algorithm>

#include "core/error.h"

namespace kinema {

std::string replace_all_in_order(
    std::string name, const std::vector<std::pair<std::string_view, std::string_view>>& rules) {
  for (auto [from, to] : rules) {
    size_t pos = 0;
    while ((pos = name.find(from, pos)) != std::string::npos) {
      name.replace(pos, from.size(), to);
      pos += to.size();
    }
  }
  return name;
}

namespace {

// ComfyUI's "scaled fp8" files store a Linear weight as fp8 plus a sibling f32 `scale_weight`
// (the true weight is fp8 value * scale), and mark the file with a `scaled_fp8` tensor.
std::string scale_name(const std::string& stored) {
  const std::string suffix = ".weight";
  if (stored.size() <= suffix.size() ||
      stored.compare(stored.size() - suffix.size(), suffix.size(), suffix) != 0)
    return "";
  return stored.substr(0, stored.size() - suffix.size()) + ".scale_weight";
}

}  // namespace

Tensor BoundWeights::get(const std::string& canonical) const {
  auto it = entries_.find(canonical);
  if (it == entries_.end()) fail(file_->path(), ": no tensor bound for '", canonical, "'");
  const std::string scale = scale_name(it->second);
  if (!scale.empty() && file_->find(scale)) {
    // Dequantized once, at load, to bf16 (the precision ComfyUI computes these weights in).
    Tensor s = file_->tensor(scale);
    if (s.numel() != 1)
      fail(file_->path(), ": ", scale, " is ", s.shape().str(), ", expected one scale value");
    const float factor = s.to_f32_vector()[0];
    Tensor w = file_->tensor(it->second);
    std::vector<float> values = w.to_f32_vector();
    for (float& v : values) v *= factor;
    return Tensor::from_f32(w.shape(), values.data(), DType::BF16);
  }
  return file_->tensor(it->second);
}

const TensorInfo* BoundWeights::info(const std::string& canonical) const {
  auto it = entries_.find(canonical);
  return it == entries_.end() ? nullptr : file_->find(it->second);
}

BoundWeights bind_weights(const WeightFile& file, std::string_view what,
                          const std::vector<ExpectedTensor>& expected,
                          const std::vector<WeightLayout>& layouts,
                          const std::vector<std::string>& prefixes) {
  // Pick the (layout, prefix) under which most expected tensors are present.
  const WeightLayout* best = nullptr;
  std::string best_prefix;
  size_t best_hits = 0;
  for (const WeightLayout& layout : layouts) {
    for (const std::string& prefix : prefixes) {
      size_t hits = 0;
      for (const ExpectedTensor& t : expected)
        if (file.find(prefix + layout.file_name(t.name))) ++hits;
      if (hits > best_hits) {
        best_hits = hits;
        best = &layout;
        best_prefix = prefix;
      }
    }
  }
  if (!best)
    fail(file.path(), ": does not hold a ", what, " in any known layout (none of its ",
         expected.size(), " tensors, e.g. '", expected.empty() ? "" : expected[0].name,
         "', was found)");

  BoundWeights bound;
  bound.file_ = &file;
  bound.layout_ = best->name;
  bound.prefix_ = best_prefix;
  std::vector<std::string> missing, misshaped, unexpected;
  std::unordered_map<std::string, bool> claimed;
  for (const ExpectedTensor& t : expected) {
    std::string stored = best_prefix + best->file_name(t.name);
    const TensorInfo* info = file.find(stored);
    if (!info) {
      missing.push_back(stored);
      continue;
    }
    claimed[stored] = true;
    if (info->shape != t.shape) {
      misshaped.push_back(str_cat(stored, " is ", info->shape.str(), ", expected ", t.shape.str()));
      continue;
    }
    bound.entries_[t.name] = stored;
  }
  for (const std::string& name : best->ignored) claimed[best_prefix + name] = true;
  // Scaled-fp8 companions of the weights we use, and the file's marker.
  for (const auto& [canonical, stored] : bound.entries_) {
    const std::string scale = scale_name(stored);
    if (!scale.empty()) {
      claimed[scale] = true;
      claimed[stored.substr(0, stored.size() - 7) + ".scale_input"] = true;  // 7: ".weight"
    }
  }
  claimed[best_prefix + "scaled_fp8"] = true;
  for (const TensorInfo& info : file.tensors())
    if (info.name.compare(0, best_prefix.size(), best_prefix) == 0 && !claimed.count(info.name))
      unexpected.push_back(info.name);
  if (missing.empty() && misshaped.empty() && unexpected.empty()) return bound;

  std::string msg = str_cat(file.path(), ": not a complete ", what, " (", best->name, " layout",
                            best_prefix.empty() ? "" : ", prefix '" + best_prefix + "'", "):");
  auto list = [&msg](const char* title, std::vector<std::string>& items) {
    if (items.empty()) return;
    std::sort(items.begin(), items.end());
    msg += str_cat(" ", items.size(), " ", title, ": ");
    for (size_t i = 0; i < items.size() && i < 12; ++i) msg += (i ? ", " : "") + items[i];
    if (items.size() > 12) msg += str_cat(", ... (", items.size() - 12, " more)");
    msg += ";";
  };
  list("missing", missing);
  list("mis-shaped", misshaped);
  list("unexpected", unexpected);
  msg.pop_back();
  fail(msg);
}

}  // namespace kinema
