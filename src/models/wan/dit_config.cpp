#include "models/wan/dit_config.h"

#include <cmath>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace kinema {

WanDiTConfig wan21_t2v_1_3b() {
  WanDiTConfig c;
  c.name = "Wan2.1-T2V-1.3B";
  return c;
}

WanDiTConfig wan21_t2v_14b() {
  WanDiTConfig c;
  c.name = "Wan2.1-T2V-14B";
  c.dim = 5120;
  c.ffn_dim = 13824;
  c.num_heads = 40;
  c.num_layers = 40;
  c.default_width = 1280;
  c.default_height = 720;
  return c;
}

std::vector<ExpectedTensor> wan_dit_tensors(const WanDiTConfig& c) {
  const int64_t d = c.dim;
  std::vector<ExpectedTensor> t;
  auto add = [&t](std::string name, Shape shape) { t.push_back({std::move(name), shape}); };
  add("patch_embedding.weight", {d, c.in_dim, c.patch_t, c.patch_h, c.patch_w});
  add("patch_embedding.bias", {d});
  add("text_embedding.0.weight", {d, c.text_dim});
  add("text_embedding.0.bias", {d});
  add("text_embedding.2.weight", {d, d});
  add("text_embedding.2.bias", {d});
  add("time_embedding.0.weight", {d, c.freq_dim});
  add("time_embedding.0.bias", {d});
  add("time_embedding.2.weight", {d, d});
  add("time_embedding.2.bias", {d});
  add("time_projection.1.weight", {6 * d, d});
  add("time_projection.1.bias", {6 * d});
  for (int i = 0; i < c.num_layers; ++i) {
    std::string b = "blocks." + std::to_string(i) + ".";
    add(b + "modulation", {1, 6, d});
    for (const char* attn : {"self_attn.", "cross_attn."}) {
      if (attn[0] == 'c') {  // the affine LayerNorm before cross-attention
        add(b + "norm3.weight", {d});
        add(b + "norm3.bias", {d});
      }
      for (const char* proj : {"q", "k", "v", "o"}) {
        add(b + attn + proj + ".weight", {d, d});
        add(b + attn + proj + ".bias", {d});
      }
      add(b + attn + "norm_q.weight", {d});
      add(b + attn + "norm_k.weight", {d});
    }
    add(b + "ffn.0.weight", {c.ffn_dim, d});
    add(b + "ffn.0.bias", {c.ffn_dim});
    add(b + "ffn.2.weight", {d, c.ffn_dim});
    add(b + "ffn.2.bias", {d});
  }
  const int64_t out = int64_t(c.out_dim) * c.patch_t * c.patch_h * c.patch_w;
  add("head.modulation", {1, 2, d});
  add("head.head.weight", {out, d});
  add("head.head.bias", {out});
  return t;
}

int64_t WanDiTConfig::parameter_count() const {
  int64_t n = 0;
  for (const ExpectedTensor& t : wan_dit_tensors(*this)) n += t.shape.numel();
  return n;
}

namespace {

// Official -> Diffusers, the order of scripts/convert_wan_to_diffusers.py (wan-spec 3.2). The
// norm2/norm3 swap goes through a placeholder so the two rules do not undo each other.
std::string diffusers_name(const std::string& name) {
  static const std::vector<std::pair<std::string_view, std::string_view>> rules = {
      {"time_embedding.0", "condition_embedder.time_embedder.linear_1"},
      {"time_embedding.2", "condition_embedder.time_embedder.linear_2"},
      {"text_embedding.0", "condition_embedder.text_embedder.linear_1"},
      {"text_embedding.2", "condition_embedder.text_embedder.linear_2"},
      {"time_projection.1", "condition_embedder.time_proj"},
      {"head.modulation", "scale_shift_table"},
      {"head.head", "proj_out"},
      {"modulation", "scale_shift_table"},
      {"ffn.0", "ffn.net.0.proj"},
      {"ffn.2", "ffn.net.2"},
      {"norm2", "@norm@"},
      {"norm3", "norm2"},
      {"@norm@", "norm3"},
      {"self_attn.q.", "attn1.to_q."},
      {"self_attn.k.", "attn1.to_k."},
      {"self_attn.v.", "attn1.to_v."},
      {"self_attn.o.", "attn1.to_out.0."},
      {"self_attn.norm_q", "attn1.norm_q"},
      {"self_attn.norm_k", "attn1.norm_k"},
      {"cross_attn.q.", "attn2.to_q."},
      {"cross_attn.k.", "attn2.to_k."},
      {"cross_attn.v.", "attn2.to_v."},
      {"cross_attn.o.", "attn2.to_out.0."},
      {"cross_attn.norm_q", "attn2.norm_q"},
      {"cross_attn.norm_k", "attn2.norm_k"},
  };
  return replace_all_in_order(name, rules);
}

std::string same_name(const std::string& name) { return name; }

// Finds `canonical` under any layout and prefix; returns null when absent everywhere.
const TensorInfo* find_any(const WeightFile& file, const std::string& canonical) {
  for (const WeightLayout& layout : wan_dit_layouts())
    for (const std::string& prefix : wan_dit_prefixes())
      if (const TensorInfo* info = file.find(prefix + layout.file_name(canonical))) return info;
  return nullptr;
}

const TensorInfo& require(const WeightFile& file, const std::string& canonical) {
  const TensorInfo* info = find_any(file, canonical);
  if (!info)
    fail(file.path(), ": not a Wan DiT: no tensor '", canonical,
         "' (nor its Diffusers or ComfyUI name)");
  return *info;
}

}  // namespace

const std::vector<WeightLayout>& wan_dit_layouts() {
  static const std::vector<WeightLayout> layouts = {{"official", same_name},
                                                    {"diffusers", diffusers_name}};
  return layouts;
}

const std::vector<std::string>& wan_dit_prefixes() {
  static const std::vector<std::string> prefixes = {"", "model.diffusion_model.", "model.",
                                                    "diffusion_model."};
  return prefixes;
}

StatedDiTConfig stated_dit_config(const std::string& source, const std::string& json_text) {
  const nlohmann::json doc = nlohmann::json::parse(json_text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    fail(source, ": not a JSON object (a DiT config.json is one)");
  StatedDiTConfig s;
  s.source = source;
  auto integer = [&](std::optional<int64_t>& field, std::initializer_list<const char*> keys) {
    for (const char* key : keys) {
      auto it = doc.find(key);
      if (it == doc.end() || it->is_null()) continue;
      if (!it->is_number_integer() || it->get<int64_t>() <= 0 || it->get<int64_t>() > (1 << 30))
        fail(source, ": '", key, "' must be a positive integer, found ", printable(it->dump(), 60));
      const int64_t v = it->get<int64_t>();
      if (field && *field != v)
        fail(source, ": '", key, "' = ", v, " contradicts another key of the same file (", *field,
             ")");
      field = v;
    }
  };
  integer(s.dim, {"dim"});
  integer(s.ffn_dim, {"ffn_dim"});
  integer(s.num_heads, {"num_heads", "num_attention_heads"});
  integer(s.head_dim, {"attention_head_dim"});
  integer(s.num_layers, {"num_layers"});
  integer(s.in_dim, {"in_dim", "in_channels"});
  integer(s.out_dim, {"out_dim", "out_channels"});
  integer(s.text_dim, {"text_dim"});
  integer(s.text_len, {"text_len"});
  integer(s.freq_dim, {"freq_dim"});
  if (auto it = doc.find("eps"); it != doc.end() && !it->is_null()) {
    if (!it->is_number() || !(it->get<double>() > 0) || !(it->get<double>() < 1))
      fail(source, ": 'eps' must be a number between 0 and 1, found ", printable(it->dump(), 60));
    s.eps = it->get<double>();
  }
  if (auto it = doc.find("model_type"); it != doc.end() && !it->is_null()) {
    if (!it->is_string()) fail(source, ": 'model_type' must be a string");
    s.model_type = it->get<std::string>();
  }
  if (auto it = doc.find("patch_size"); it != doc.end() && !it->is_null()) {
    if (!it->is_array() || it->size() != 3 || !(*it)[0].is_number_integer() ||
        !(*it)[1].is_number_integer() || !(*it)[2].is_number_integer())
      fail(source, ": 'patch_size' must be three integers [t, h, w], found ",
           printable(it->dump(), 60));
    s.patch = std::array<int64_t, 3>{(*it)[0].get<int64_t>(), (*it)[1].get<int64_t>(),
                                     (*it)[2].get<int64_t>()};
  }
  // Diffusers I2V transformers say so with an image embedder width.
  if (auto it = doc.find("image_dim"); it != doc.end() && !it->is_null() && !s.model_type)
    s.model_type = "i2v";
  return s;
}

StatedDiTConfig read_dit_config_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, ": cannot read");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.size() > (size_t(1) << 20)) fail(path, ": over 1 MiB; not a model config.json");
  return stated_dit_config(path, text);
}

namespace {

// The file's own statements: safetensors metadata num_heads / text_len (written by Kinema's
// tools and the demo recipe).
StatedDiTConfig metadata_statements(const WeightFile& file) {
  StatedDiTConfig s;
  s.source = file.path() + " (metadata)";
  auto number = [&](const char* key, std::optional<int64_t>& field) {
    auto it = file.metadata().find(key);
    if (it == file.metadata().end()) return;
    const std::string& text = it->second;
    int64_t v = 0;
    const bool digits = !text.empty() && text.size() < 10 &&
                        text.find_first_not_of("0123456789") == std::string::npos;
    if (digits) v = std::stoll(text);
    if (!digits || v <= 0)
      fail(s.source, ": ", key, "='", printable(text, 40), "' is not a positive integer");
    field = v;
  };
  number("num_heads", s.num_heads);
  number("text_len", s.text_len);
  return s;
}

// The derived shape field `have` against a statement of it.
void check_stated(const StatedDiTConfig& s, const char* key, const std::optional<int64_t>& stated,
                  int64_t have, const char* tensor) {
  if (stated && *stated != have)
    fail(s.source, ": says ", key, " ", *stated, " but the DiT's ", tensor, " gives ", have);
}

// The first statement of a field, checked for agreement with every other one.
std::optional<int64_t> agreed(const std::vector<StatedDiTConfig>& all, const char* key,
                              std::optional<int64_t> StatedDiTConfig::*field) {
  std::optional<int64_t> value;
  const StatedDiTConfig* from = nullptr;
  for (const StatedDiTConfig& s : all) {
    const std::optional<int64_t>& v = s.*field;
    if (!v) continue;
    if (value && *value != *v)
      fail(s.source, ": says ", key, " ", *v, " but ", from->source, " says ", *value);
    value = v;
    from = &s;
  }
  return value;
}

}  // namespace

WanDiTConfig resolve_wan_dit_config(const WeightFile& file, bool allow_custom,
                                    const std::vector<StatedDiTConfig>& stated_in) {
  if (find_any(file, "img_emb.proj.0.weight"))
    fail(file.path(), ": an image-to-video Wan DiT (img_emb.*); only text-to-video is supported");
  const TensorInfo& patch = require(file, "patch_embedding.weight");
  const TensorInfo& head = require(file, "head.head.weight");
  const TensorInfo& ffn = require(file, "blocks.0.ffn.0.weight");
  const TensorInfo& text = require(file, "text_embedding.0.weight");
  const TensorInfo& time = require(file, "time_embedding.0.weight");
  if (patch.shape.rank() != 5 || head.shape.rank() != 2 || ffn.shape.rank() != 2 ||
      text.shape.rank() != 2 || time.shape.rank() != 2)
    fail(file.path(), ": Wan DiT tensors have unexpected ranks (patch_embedding.weight ",
         patch.shape.str(), ", head.head.weight ", head.shape.str(), ")");
  // Every size is bounded before it is narrowed to int or multiplied: a crafted header may hold
  // any 64-bit extents.
  constexpr int64_t kMaxExtent = int64_t(1) << 20;
  auto extent = [&](const TensorInfo& t, int axis, const char* name) {
    const int64_t v = t.shape[axis];
    if (v <= 0 || v > kMaxExtent)
      fail(file.path(), ": ", name, " ", t.shape.str(), " has an extent outside 1..", kMaxExtent);
    return int(v);
  };
  WanDiTConfig c;
  c.name = "custom";
  c.dim = extent(patch, 0, "patch_embedding.weight");
  c.in_dim = extent(patch, 1, "patch_embedding.weight");
  c.patch_t = extent(patch, 2, "patch_embedding.weight");
  c.patch_h = extent(patch, 3, "patch_embedding.weight");
  c.patch_w = extent(patch, 4, "patch_embedding.weight");
  c.ffn_dim = extent(ffn, 0, "blocks.0.ffn.0.weight");
  c.text_dim = extent(text, 1, "text_embedding.0.weight");
  c.freq_dim = extent(time, 1, "time_embedding.0.weight");
  if (c.patch_t > 16 || c.patch_h > 16 || c.patch_w > 16)
    fail(file.path(), ": patch_embedding.weight ", patch.shape.str(),
         " has a patch larger than 16 on some axis");
  const int64_t patch_volume = int64_t(c.patch_t) * c.patch_h * c.patch_w;
  const int64_t head_rows = extent(head, 0, "head.head.weight");
  if (head_rows % patch_volume != 0)
    fail(file.path(), ": head.head.weight ", head.shape.str(), " does not fit the patch size");
  c.out_dim = int(head_rows / patch_volume);
  c.num_layers = 0;
  while (find_any(file, "blocks." + std::to_string(c.num_layers) + ".ffn.0.weight")) ++c.num_layers;

  std::vector<StatedDiTConfig> stated = stated_in;
  stated.push_back(metadata_statements(file));
  for (const StatedDiTConfig& s : stated) {
    if (s.model_type && *s.model_type != "t2v")
      fail(s.source, ": model_type '", printable(*s.model_type, 40),
           "': only text-to-video (t2v) Wan DiTs are supported");
    check_stated(s, "dim", s.dim, c.dim, "patch_embedding.weight");
    check_stated(s, "ffn_dim", s.ffn_dim, c.ffn_dim, "blocks.0.ffn.0.weight");
    check_stated(s, "num_layers", s.num_layers, c.num_layers, "block count");
    check_stated(s, "in_dim", s.in_dim, c.in_dim, "patch_embedding.weight");
    check_stated(s, "out_dim", s.out_dim, c.out_dim, "head.head.weight");
    check_stated(s, "text_dim", s.text_dim, c.text_dim, "text_embedding.0.weight");
    check_stated(s, "freq_dim", s.freq_dim, c.freq_dim, "time_embedding.0.weight");
    if (s.patch &&
        ((*s.patch)[0] != c.patch_t || (*s.patch)[1] != c.patch_h || (*s.patch)[2] != c.patch_w))
      fail(s.source, ": says patch_size [", (*s.patch)[0], ", ", (*s.patch)[1], ", ", (*s.patch)[2],
           "] but patch_embedding.weight is ", patch.shape.str());
    if (s.head_dim && (c.dim % *s.head_dim != 0))
      fail(s.source, ": attention_head_dim ", *s.head_dim, " does not divide dim ", c.dim);
  }
  // Diffusers states the head width instead of the count.
  for (StatedDiTConfig& s : stated)
    if (s.head_dim && !s.num_heads)
      s.num_heads = c.dim / *s.head_dim;
    else if (s.head_dim && *s.num_heads * *s.head_dim != c.dim)
      fail(s.source, ": num_attention_heads ", *s.num_heads, " x attention_head_dim ", *s.head_dim,
           " is not dim ", c.dim);
  const std::optional<int64_t> heads = agreed(stated, "num_heads", &StatedDiTConfig::num_heads);
  const std::optional<int64_t> text_len = agreed(stated, "text_len", &StatedDiTConfig::text_len);
  std::optional<double> eps;
  for (const StatedDiTConfig& s : stated)
    if (s.eps) eps = s.eps;

  for (WanDiTConfig known : {wan21_t2v_1_3b(), wan21_t2v_14b()}) {
    if (known.dim == c.dim && known.ffn_dim == c.ffn_dim && known.num_layers == c.num_layers &&
        known.in_dim == c.in_dim && known.out_dim == c.out_dim && known.text_dim == c.text_dim &&
        known.freq_dim == c.freq_dim && c.patch_t == 1 && c.patch_h == 2 && c.patch_w == 2 &&
        heads.value_or(known.num_heads) == known.num_heads &&
        text_len.value_or(known.text_len) == known.text_len &&
        (!eps || std::abs(*eps - double(known.eps)) <= 1e-12))
      return known;
  }
  std::string found =
      str_cat("dim ", c.dim, ", ffn_dim ", c.ffn_dim, ", ", c.num_layers,
              " layers, in/out channels ", c.in_dim, "/", c.out_dim, ", text_dim ", c.text_dim,
              ", freq_dim ", c.freq_dim, ", patch ", c.patch_t, "x", c.patch_h, "x", c.patch_w,
              heads ? str_cat(", ", *heads, " heads") : std::string());
  if (!allow_custom)
    fail(file.path(), ": unknown Wan DiT variant (", found,
         "); known: Wan2.1-T2V-1.3B (dim 1536, 30 layers), Wan2.1-T2V-14B (dim 5120, 40 layers). "
         "A model of another size runs with --allow-custom (or \"custom_sizes\": true in its "
         "kinema.json)");
  if (c.num_layers == 0) fail(file.path(), ": a Wan DiT with no blocks (", found, ")");
  if (!heads)
    fail(file.path(), ": a custom-size Wan DiT (", found,
         ") does not state its number of attention heads, which no tensor shape gives; state it "
         "as \"num_heads\" in the config.json beside the DiT or under \"dit\" in kinema.json");
  if (*heads <= 0 || c.dim % *heads != 0 || (c.dim / *heads) % 2 != 0)
    fail(file.path(), ": num_heads ", *heads, " does not divide dim ", c.dim,
         " into heads of an even width");
  c.num_heads = int(*heads);
  if (text_len) {
    if (*text_len > 4096) fail(file.path(), ": text_len ", *text_len, " is over 4096");
    c.text_len = int(*text_len);
  }
  if (eps) c.eps = float(*eps);
  return c;
}

}  // namespace kinema
