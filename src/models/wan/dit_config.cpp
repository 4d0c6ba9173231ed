#include "models/wan/dit_config.h"

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

WanDiTConfig resolve_wan_dit_config(const WeightFile& file, bool allow_custom) {
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
  WanDiTConfig c;
  c.name = "custom";
  c.dim = int(patch.shape[0]);
  c.in_dim = int(patch.shape[1]);
  c.patch_t = int(patch.shape[2]);
  c.patch_h = int(patch.shape[3]);
  c.patch_w = int(patch.shape[4]);
  c.ffn_dim = int(ffn.shape[0]);
  c.text_dim = int(text.shape[1]);
  c.freq_dim = int(time.shape[1]);
  int patch_volume = c.patch_t * c.patch_h * c.patch_w;
  if (patch_volume <= 0 || head.shape[0] % patch_volume != 0)
    fail(file.path(), ": head.head.weight ", head.shape.str(), " does not fit the patch size");
  c.out_dim = int(head.shape[0] / patch_volume);
  c.num_layers = 0;
  while (find_any(file, "blocks." + std::to_string(c.num_layers) + ".ffn.0.weight")) ++c.num_layers;
  c.num_heads = c.dim % 128 == 0 ? c.dim / 128 : 0;  // every released Wan model: head dim 128

  for (WanDiTConfig known : {wan21_t2v_1_3b(), wan21_t2v_14b()}) {
    if (known.dim == c.dim && known.ffn_dim == c.ffn_dim && known.num_layers == c.num_layers &&
        known.in_dim == c.in_dim && known.out_dim == c.out_dim && known.text_dim == c.text_dim &&
        known.freq_dim == c.freq_dim && c.patch_t == 1 && c.patch_h == 2 && c.patch_w == 2)
      return known;
  }
  std::string found =
      str_cat("dim ", c.dim, ", ffn_dim ", c.ffn_dim, ", ", c.num_layers,
              " layers, in/out channels ", c.in_dim, "/", c.out_dim, ", text_dim ", c.text_dim,
              ", freq_dim ", c.freq_dim, ", patch ", c.patch_t, "x", c.patch_h, "x", c.patch_w);
  if (!allow_custom)
    fail(file.path(), ": unknown Wan DiT variant (", found,
         "); known: Wan2.1-T2V-1.3B (dim 1536, 30 layers), Wan2.1-T2V-14B (dim 5120, 40 layers)");
  // Small custom models (tests, the demo) store their head count in the file's metadata.
  auto heads = file.metadata().find("num_heads");
  if (heads != file.metadata().end()) {
    try {
      c.num_heads = std::stoi(heads->second);
    } catch (const std::exception&) {
      fail(file.path(), ": metadata num_heads='", heads->second, "' is not a number");
    }
    if (c.num_heads <= 0 || c.dim % c.num_heads != 0 || (c.dim / c.num_heads) % 2 != 0)
      fail(file.path(), ": metadata num_heads=", c.num_heads, " does not divide dim ", c.dim,
           " into even head sizes");
  }
  if (c.num_heads == 0 || c.num_layers == 0)
    fail(file.path(), ": cannot derive heads/layers for a custom Wan DiT (", found, ")");
  return c;
}

}  // namespace kinema
