#include "models/lora.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>

#include "core/digest.h"
#include "core/error.h"
#include "kernels/cpu/convert.h"
#include "kernels/cpu/matmul.h"

namespace kinema {
namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
bool starts_with(std::string_view s, std::string_view prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

enum class Role { Down, Up, Alpha, Diff, DiffBias, DiffModulation };

struct Suffix {
  std::string_view text;
  Role role;
  std::string_view naming;  // for low-rank halves; differences are "diff"
};

// Longest first where one could end another; each key matches at most one.
constexpr Suffix kSuffixes[] = {
    {".lora_down.weight", Role::Down, "kohya"},
    {".lora_up.weight", Role::Up, "kohya"},
    {".lora_A.default.weight", Role::Down, "peft"},
    {".lora_B.default.weight", Role::Up, "peft"},
    {".lora_A.weight", Role::Down, "peft"},
    {".lora_B.weight", Role::Up, "peft"},
    {".lora.down.weight", Role::Down, "diffusers"},
    {".lora.up.weight", Role::Up, "diffusers"},
    {"_lora.down.weight", Role::Down, "diffusers"},
    {"_lora.up.weight", Role::Up, "diffusers"},
    {".alpha", Role::Alpha, ""},
    {".diff_b", Role::DiffBias, "diff"},
    {".diff_m", Role::DiffModulation, "diff"},
    {".diff", Role::Diff, "diff"},
};

// Update kinds other tools write and Kinema does not apply: refused by name, not misread.
constexpr std::string_view kUnsupported[] = {".lora_mid.weight", ".dora_scale", ".hada_w1_a",
                                             ".hada_w2_a",       ".lokr_w1",    ".lokr_w2",
                                             ".reshape_weight",  ".a1.weight",  ".w_norm"};

// Key prefixes: module names with dots, then the kohya-style ones with underscores.
constexpr std::string_view kDotPrefixes[] = {"diffusion_model.", "model.diffusion_model.",
                                             "transformer.",     "base_model.model.",
                                             "model.",           ""};
constexpr std::string_view kUnderscorePrefixes[] = {"lora_unet_", "lycoris_", "lora_transformer_"};

// The tensors of one module of the model, by canonical name ("" when it has none).
struct ModuleTensors {
  std::string weight, bias, whole;
};

// Module names in every layout (with dots and with underscores) -> the module's tensors.
class ModuleIndex {
 public:
  ModuleIndex(const std::vector<ExpectedTensor>& table, const std::vector<WeightLayout>& layouts) {
    for (const ExpectedTensor& t : table) {
      shapes_[t.name] = t.shape;
      for (const WeightLayout& layout : layouts) {
        const std::string stored = layout.file_name(t.name);
        std::string module = stored;
        std::string ModuleTensors::*slot = &ModuleTensors::whole;
        if (ends_with(stored, ".weight")) {
          module = stored.substr(0, stored.size() - 7);
          slot = &ModuleTensors::weight;
        } else if (ends_with(stored, ".bias")) {
          module = stored.substr(0, stored.size() - 5);
          slot = &ModuleTensors::bias;
        }
        add(dotted_, module, slot, t.name);
        std::string underscored = module;
        std::replace(underscored.begin(), underscored.end(), '.', '_');
        add(underscored_, underscored, slot, t.name);
      }
    }
  }

  // The module a key's stem names, trying every prefix; null when none. `prefix_used` tells
  // which prefix matched.
  const ModuleTensors* find(std::string_view stem, std::string_view& prefix_used) const {
    for (std::string_view p : kUnderscorePrefixes)
      if (starts_with(stem, p))
        if (const ModuleTensors* m = lookup(underscored_, stem.substr(p.size()))) {
          prefix_used = p;
          return m;
        }
    for (std::string_view p : kDotPrefixes)
      if (starts_with(stem, p))
        if (const ModuleTensors* m = lookup(dotted_, stem.substr(p.size()))) {
          prefix_used = p;
          return m;
        }
    return nullptr;
  }

  const Shape& shape(const std::string& canonical) const { return shapes_.at(canonical); }

 private:
  using Map = std::unordered_map<std::string, ModuleTensors>;
  void add(Map& map, const std::string& module, std::string ModuleTensors::*slot,
           const std::string& canonical) {
    std::string& target = map[module].*slot;
    // Two layouts naming different tensors alike would make a key ambiguous: none of ours do.
    KINEMA_CHECK(target.empty() || target == canonical, module, " names ", target, " and ",
                 canonical);
    target = canonical;
  }
  static const ModuleTensors* lookup(const Map& map, std::string_view module) {
    auto it = map.find(std::string(module));
    return it == map.end() ? nullptr : &it->second;
  }
  Map dotted_, underscored_;
  std::unordered_map<std::string, Shape> shapes_;
};

// The keys of one file that update one module.
struct ModuleKeys {
  const ModuleTensors* module = nullptr;
  std::map<Role, std::string> keys;  // role -> key
};

std::string naming_of(std::string_view prefix, const Suffix& suffix) {
  if (suffix.naming == "diff") return "diff";
  if (prefix == "lora_unet_" || prefix == "lycoris_" || prefix == "lora_transformer_")
    return "kohya";
  if (suffix.naming == "kohya") return "comfyui";  // lora_down/lora_up under dotted names
  if (prefix == "transformer.") return "diffusers";
  return std::string(suffix.naming);
}

// Problems of one file, reported together.
class Problems {
 public:
  template <class... Parts>
  void add(Parts&&... parts) {
    items_.push_back(str_cat(std::forward<Parts>(parts)...));
  }
  void raise(const std::string& path, std::string_view what) const {
    if (items_.empty()) return;
    std::string msg = str_cat(path, ": not a LoRA for this ", what, ": ");
    for (size_t i = 0; i < items_.size() && i < 12; ++i) msg += (i ? "; " : "") + items_[i];
    if (items_.size() > 12) msg += str_cat("; ... (", items_.size() - 12, " more)");
    fail(msg);
  }

 private:
  std::vector<std::string> items_;
};

bool all_finite(const Tensor& t) {
  for (float v : t.to_f32_vector())
    if (!std::isfinite(v)) return false;
  return true;
}

// Low-rank halves against the weight: down [r, K...], up [out, r, 1...]; out * K = the weight.
bool low_rank_fits(const Tensor& down, const Tensor& up, const Shape& weight, std::string& why) {
  if (down.rank() < 2 || up.rank() < 2) {
    why = "lora halves must be matrices";
    return false;
  }
  const int64_t r = down.dim(0);
  bool up_ok = up.dim(1) == r;
  for (int a = 2; a < up.rank(); ++a) up_ok = up_ok && up.dim(a) == 1;
  if (!up_ok) {
    why = str_cat("ranks disagree: down ", down.shape().str(), ", up ", up.shape().str());
    return false;
  }
  const int64_t out = up.dim(0), in = down.numel() / r;
  if (weight.rank() < 2 || weight[0] != out || weight.numel() != out * in) {
    why = str_cat("up ", up.shape().str(), " x down ", down.shape().str(), " does not give ",
                  weight.str());
    return false;
  }
  return true;
}

}  // namespace

LoraSpec parse_lora_spec(std::string_view text) {
  LoraSpec spec{std::string(text), 1.0f};
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == text.size()) return spec;
  const std::string_view tail = text.substr(colon + 1);
  float value = 0;
  const char* end = tail.data() + tail.size();
  auto [ptr, ec] = std::from_chars(tail.data(), end, value);
  if (ec != std::errc() || ptr != end) return spec;  // a ':' that is part of the file name
  if (!std::isfinite(value)) fail("--lora ", text, ": the scale must be a finite number");
  spec.path = std::string(text.substr(0, colon));
  spec.strength = value;
  return spec;
}

LoraMode lora_mode_from_name(std::string_view name) {
  if (name == "auto") return LoraMode::Auto;
  if (name == "merge") return LoraMode::Merge;
  if (name == "unmerged") return LoraMode::Unmerged;
  fail("unknown LoRA mode '", name, "' (expected auto, merge or unmerged)");
}

std::string_view lora_mode_name(LoraMode mode) {
  switch (mode) {
    case LoraMode::Auto: return "auto";
    case LoraMode::Merge: return "merge";
    case LoraMode::Unmerged: return "unmerged";
  }
  return "?";
}

LoraMode choose_lora_mode(LoraMode requested, uint64_t merge_bytes, uint64_t budget,
                          bool quantized_targets) {
  if (requested != LoraMode::Auto) return requested;
  if (quantized_targets) return LoraMode::Unmerged;
  if (budget != 0 && merge_bytes > budget) return LoraMode::Unmerged;
  return LoraMode::Merge;
}

DType merged_dtype(DType stored) {
  return stored == DType::F32 || stored == DType::F16 ? stored : DType::BF16;
}

LoraSet::LoraSet(const std::vector<LoraSpec>& specs, const std::vector<ExpectedTensor>& table,
                 const std::vector<WeightLayout>& layouts, std::string_view what) {
  const ModuleIndex index(table, layouts);
  for (const LoraSpec& spec : specs) {
    if (!std::isfinite(spec.strength)) fail(spec.path, ": the LoRA scale must be finite");
    auto file = WeightFile::open(spec.path);
    Problems problems;
    std::map<std::string, ModuleKeys> modules;  // by the module's first canonical name
    std::set<std::string> namings;
    for (const TensorInfo& info : file->tensors()) {
      const std::string& key = info.name;
      auto unsupported = std::find_if(std::begin(kUnsupported), std::end(kUnsupported),
                                      [&](std::string_view s) { return ends_with(key, s); });
      if (unsupported != std::end(kUnsupported)) {
        problems.add(key, ": LoCon/DoRA/LoHa/LoKr updates are not supported (only lora_down/",
                     "lora_up, lora_A/lora_B and diff tensors)");
        continue;
      }
      const Suffix* suffix = nullptr;
      for (const Suffix& s : kSuffixes)
        if (ends_with(key, s.text)) {
          suffix = &s;
          break;
        }
      if (!suffix) {
        problems.add(key, ": not a LoRA tensor name (no lora_down/lora_up, lora_A/lora_B, ",
                     "alpha or diff suffix)");
        continue;
      }
      std::string stem = key.substr(0, key.size() - suffix->text.size());
      Role role = suffix->role;
      if (role == Role::DiffModulation) {  // lightx2v: "<block>.diff_m" is the block's table
        stem += ".modulation";
        role = Role::Diff;
      }
      std::string_view prefix;
      const ModuleTensors* module = index.find(stem, prefix);
      if (!module) {
        problems.add(key, ": targets no tensor of the ", what, " ('", stem, "')");
        continue;
      }
      if (role != Role::Alpha) namings.insert(naming_of(prefix, *suffix));
      ModuleKeys& mk = modules[module->weight + "|" + module->bias + "|" + module->whole];
      mk.module = module;
      if (!mk.keys.emplace(role, key).second)
        problems.add(key, ": updates the same tensor as ", mk.keys[role]);
      if (!cpu::is_convertible(info.dtype))
        problems.add(key, ": dtype ", name(info.dtype), " is not a floating-point type");
    }
    problems.raise(spec.path, what);

    LoraFileInfo fi{spec.path, sha256_file_hex(spec.path), spec.strength, "", 0, 0};
    for (const std::string& n : namings) fi.naming += (fi.naming.empty() ? "" : "+") + n;
    auto add_update = [this, &fi](const std::string& target, LoraUpdate u) {
      fi.rank = std::max(fi.rank, u.rank());
      ++fi.tensors;
      updates_[target].push_back(std::move(u));
    };
    for (auto& [unused, mk] : modules) {
      const ModuleTensors* module = mk.module;
      auto key = [&mk](Role r) -> const std::string* {
        auto it = mk.keys.find(r);
        return it == mk.keys.end() ? nullptr : &it->second;
      };
      const std::string* down = key(Role::Down);
      const std::string* up = key(Role::Up);
      const std::string* alpha = key(Role::Alpha);
      if (down || up || alpha) {
        if (!down || !up) {
          const std::string& have = down ? *down : up ? *up : *alpha;
          problems.add(have, ": the other half of the low-rank pair (lora_", down ? "up" : "down",
                       ") is missing");
        } else if (module->weight.empty()) {
          problems.add(*down, ": a low-rank update of ",
                       module->whole.empty() ? module->bias : module->whole,
                       ", which is not a weight matrix");
        } else {
          LoraUpdate u;
          u.kind = LoraUpdate::Kind::LowRank;
          u.down = file->tensor(*down);
          u.up = file->tensor(*up);
          u.key = str_cat(spec.path, ": ", *down);
          std::string why;
          float a = float(u.down.rank() >= 1 ? u.down.dim(0) : 1);
          if (alpha) {
            Tensor at = file->tensor(*alpha);
            std::vector<float> v = at.to_f32_vector();
            if (v.size() != 1 || !std::isfinite(v[0]))
              problems.add(*alpha, ": alpha must be one finite number, got ", at.shape().str());
            else
              a = v[0];
          }
          if (!low_rank_fits(u.down, u.up, index.shape(module->weight), why)) {
            problems.add(*down, ": ", why, " (", module->weight, ")");
          } else if (!all_finite(u.down) || !all_finite(u.up)) {
            problems.add(*down, ": holds NaN or infinite values");
          } else {
            u.scale = spec.strength * a / float(u.down.dim(0));
            add_update(module->weight, std::move(u));
          }
        }
      }
      auto add_diff = [&](const std::string* k, const std::string& target, const char* what_t) {
        if (!k) return;
        if (target.empty()) {
          problems.add(*k, ": the module has no ", what_t);
          return;
        }
        LoraUpdate u;
        u.kind = LoraUpdate::Kind::Diff;
        u.diff = file->tensor(*k);
        u.key = str_cat(spec.path, ": ", *k);
        u.scale = spec.strength;
        const Shape& want = index.shape(target);
        if (u.diff.shape() != want)
          problems.add(*k, " is ", u.diff.shape().str(), ", expected ", want.str(), " (", target,
                       ")");
        else if (!all_finite(u.diff))
          problems.add(*k, ": holds NaN or infinite values");
        else
          add_update(target, std::move(u));
      };
      add_diff(key(Role::Diff), module->weight.empty() ? module->whole : module->weight, "weight");
      add_diff(key(Role::DiffBias), module->bias, "bias");
    }
    problems.raise(spec.path, what);
    if (fi.tensors == 0) fail(spec.path, ": the LoRA holds no tensors: it changes nothing");
    files_.push_back(std::move(fi));
    weight_files_.push_back(std::move(file));
  }
}

LoraSet::~LoraSet() = default;

const std::vector<LoraUpdate>* LoraSet::updates(const std::string& canonical) const {
  auto it = updates_.find(canonical);
  return it == updates_.end() ? nullptr : &it->second;
}

std::vector<std::string> LoraSet::targets() const {
  std::vector<std::string> out;
  for (const auto& [name, u] : updates_) out.push_back(name);
  std::sort(out.begin(), out.end());
  return out;
}

LoraMergeCost lora_merge_cost(const LoraSet& set,
                              const std::function<const TensorInfo*(const std::string&)>& weight) {
  LoraMergeCost cost;
  for (const std::string& name : set.targets()) {
    const std::vector<LoraUpdate>& ups = *set.updates(name);
    const bool low_rank = std::any_of(ups.begin(), ups.end(), [](const LoraUpdate& u) {
      return u.kind == LoraUpdate::Kind::LowRank;
    });
    const TensorInfo* info = low_rank ? weight(name) : nullptr;
    if (!info) continue;
    const DType out = merged_dtype(info->dtype);
    cost.bytes += uint64_t(info->shape.numel()) * uint64_t(traits(out).block_bytes);
    cost.quantized |= traits(info->dtype).is_quantized || info->dtype == DType::F8_E4M3 ||
                      info->dtype == DType::F8_E5M2;
  }
  return cost;
}

Tensor merge_lora_updates(const ComputeContext& ctx, const Tensor& base,
                          const std::vector<LoraUpdate>& updates, DType out) {
  Tensor w = base.to(DType::F32);
  if (w.raw() == base.raw()) w = w.clone();  // to() of an f32 tensor is the same view
  float* wd = w.mutable_data<float>();
  const int64_t n = w.numel();
  for (const LoraUpdate& u : updates) {
    Tensor delta;
    if (u.kind == LoraUpdate::Kind::LowRank) {
      const int64_t r = u.down.dim(0), rows = u.up.dim(0);
      Tensor up = u.up.to(DType::F32).reshape({rows, r});
      Tensor down = u.down.to(DType::F32).reshape({r, u.down.numel() / r});
      delta = Tensor::empty({rows, down.dim(1)}, DType::F32);
      cpu::matmul(ctx, up, down, delta);
    } else {
      delta = u.diff.to(DType::F32);
    }
    KINEMA_CHECK(delta.numel() == n, u.key);
    const float* d = delta.data<float>();
    const float s = u.scale;
    parallel_for(ctx, n, 1 << 15, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) wd[i] += s * d[i];
    });
  }
  if (out == DType::F32) return w;
  if (out == DType::BF16) {
    Tensor b = Tensor::empty(w.shape(), DType::BF16);
    cpu::convert(ctx, w, b);
    return b;
  }
  return w.to(out);
}

LoraApplier::LoraApplier(const LoraSet* set, LoraMode mode, const ComputeContext& ctx)
    : set_(set && !set->empty() ? set : nullptr), mode_(mode), ctx_(ctx) {
  KINEMA_CHECK(!set_ || mode != LoraMode::Auto, "resolve the LoRA mode first");
  if (set_)
    for (const std::string& t : set_->targets()) applied_[t] = false;
}

Tensor LoraApplier::tensor(const std::string& canonical, const Tensor& t) {
  const std::vector<LoraUpdate>* ups = set_ ? set_->updates(canonical) : nullptr;
  if (!ups) return t;
  applied_[canonical] = true;
  ++merged_;
  return merge_lora_updates(ctx_, t, *ups, merged_dtype(t.dtype()));
}

void LoraApplier::linear(const std::string& weight_name, const std::string& bias_name, Linear& l) {
  if (!set_) return;
  if (l.bias.defined()) l.bias = tensor(bias_name, l.bias);
  const std::vector<LoraUpdate>* ups = set_->updates(weight_name);
  if (!ups) return;
  applied_[weight_name] = true;
  const bool has_diff = std::any_of(ups->begin(), ups->end(), [](const LoraUpdate& u) {
    return u.kind == LoraUpdate::Kind::Diff;
  });
  if (mode_ == LoraMode::Unmerged && !has_diff) {
    for (const LoraUpdate& u : *ups) {
      const int64_t r = u.down.dim(0);
      l.updates.push_back(
          {u.down.reshape({r, u.down.numel() / r}), u.up.reshape({u.up.dim(0), r}), u.scale});
    }
    ++attached_;
    return;
  }
  // The merged copy keeps the weight's view shape ([out, in] for a flattened conv).
  l.weight = merge_lora_updates(ctx_, l.weight, *ups, merged_dtype(l.weight.dtype()));
  ++merged_;
}

void LoraApplier::finish() const {
  std::string missed;
  for (const auto& [name, done] : applied_)
    if (!done) missed += (missed.empty() ? "" : ", ") + name;
  if (!missed.empty()) fail("LoRA updates were not applied to: ", missed);
}

}  // namespace kinema
