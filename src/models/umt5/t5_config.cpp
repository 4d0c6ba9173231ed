#include "models/umt5/t5_config.h"

#include "core/error.h"

namespace kinema {

std::vector<ExpectedTensor> umt5_tensors(const UMT5Config& c) {
  std::vector<ExpectedTensor> t;
  const int64_t inner = int64_t(c.num_heads) * c.head_dim;
  t.push_back({"token_embedding.weight", {c.vocab, c.dim}});
  for (int i = 0; i < c.num_layers; ++i) {
    std::string b = "blocks." + std::to_string(i) + ".";
    t.push_back({b + "norm1.weight", {c.dim}});
    t.push_back({b + "attn.q.weight", {inner, c.dim}});
    t.push_back({b + "attn.k.weight", {inner, c.dim}});
    t.push_back({b + "attn.v.weight", {inner, c.dim}});
    t.push_back({b + "attn.o.weight", {c.dim, inner}});
    t.push_back({b + "norm2.weight", {c.dim}});
    t.push_back({b + "ffn.gate.0.weight", {c.ffn_dim, c.dim}});
    t.push_back({b + "ffn.fc1.weight", {c.ffn_dim, c.dim}});
    t.push_back({b + "ffn.fc2.weight", {c.dim, c.ffn_dim}});
    t.push_back({b + "pos_embedding.embedding.weight", {c.num_buckets, c.num_heads}});
  }
  t.push_back({"norm.weight", {c.dim}});
  return t;
}

namespace {

// Splits "blocks.N.rest" into N and rest; false for top-level names.
bool split_block(const std::string& name, std::string* index, std::string* rest) {
  if (name.rfind("blocks.", 0) != 0) return false;
  size_t dot = name.find('.', 7);
  *index = name.substr(7, dot - 7);
  *rest = name.substr(dot + 1);
  return true;
}

std::string hf_name(const std::string& name) {
  if (name == "token_embedding.weight") return "shared.weight";
  if (name == "norm.weight") return "encoder.final_layer_norm.weight";
  std::string i, rest;
  split_block(name, &i, &rest);
  std::string b = "encoder.block." + i + ".layer.";
  if (rest == "norm1.weight") return b + "0.layer_norm.weight";
  if (rest == "pos_embedding.embedding.weight")
    return b + "0.SelfAttention.relative_attention_bias.weight";
  if (rest.rfind("attn.", 0) == 0) return b + "0.SelfAttention." + rest.substr(5);
  if (rest == "norm2.weight") return b + "1.layer_norm.weight";
  if (rest == "ffn.gate.0.weight") return b + "1.DenseReluDense.wi_0.weight";
  if (rest == "ffn.fc1.weight") return b + "1.DenseReluDense.wi_1.weight";
  if (rest == "ffn.fc2.weight") return b + "1.DenseReluDense.wo.weight";
  return name;
}

std::string gguf_name(const std::string& name) {
  if (name == "token_embedding.weight") return "token_embd.weight";
  if (name == "norm.weight") return "enc.output_norm.weight";
  std::string i, rest;
  split_block(name, &i, &rest);
  std::string b = "enc.blk." + i + ".";
  if (rest == "norm1.weight") return b + "attn_norm.weight";
  if (rest == "pos_embedding.embedding.weight") return b + "attn_rel_b.weight";
  if (rest == "attn.q.weight") return b + "attn_q.weight";
  if (rest == "attn.k.weight") return b + "attn_k.weight";
  if (rest == "attn.v.weight") return b + "attn_v.weight";
  if (rest == "attn.o.weight") return b + "attn_o.weight";
  if (rest == "norm2.weight") return b + "ffn_norm.weight";
  if (rest == "ffn.gate.0.weight") return b + "ffn_gate.weight";
  if (rest == "ffn.fc1.weight") return b + "ffn_up.weight";
  if (rest == "ffn.fc2.weight") return b + "ffn_down.weight";
  return name;
}

const TensorInfo* find_any(const WeightFile& file, const std::string& canonical) {
  for (const WeightLayout& layout : umt5_layouts())
    for (const std::string& prefix : umt5_prefixes())
      if (const TensorInfo* info = file.find(prefix + layout.file_name(canonical))) return info;
  return nullptr;
}

}  // namespace

const std::vector<WeightLayout>& umt5_layouts() {
  static const std::vector<WeightLayout> layouts = {
      {"official", [](const std::string& n) { return n; }},
      {"huggingface", hf_name, {"encoder.embed_tokens.weight"}},
      {"gguf", gguf_name},
  };
  return layouts;
}

const std::vector<std::string>& umt5_prefixes() {
  static const std::vector<std::string> prefixes = {"", "text_encoders.umt5xxl.transformer.",
                                                    "text_encoders.t5xxl.transformer."};
  return prefixes;
}

UMT5Config resolve_umt5_config(const WeightFile& file, bool allow_custom) {
  const TensorInfo* emb = find_any(file, "token_embedding.weight");
  const TensorInfo* ffn = find_any(file, "blocks.0.ffn.fc1.weight");
  const TensorInfo* q = find_any(file, "blocks.0.attn.q.weight");
  const TensorInfo* rel = find_any(file, "blocks.0.pos_embedding.embedding.weight");
  if (!emb || !ffn || !q || !rel)
    fail(file.path(), ": not a umT5 encoder: missing ",
         !emb   ? "token_embedding.weight"
         : !ffn ? "blocks.0.ffn.fc1.weight"
         : !q   ? "blocks.0.attn.q.weight"
                : "blocks.0.pos_embedding.embedding.weight",
         " (or its Hugging Face / GGUF name)");
  if (emb->shape.rank() != 2 || ffn->shape.rank() != 2 || q->shape.rank() != 2 ||
      rel->shape.rank() != 2)
    fail(file.path(), ": umT5 tensors have unexpected ranks");
  UMT5Config c;
  UMT5Config found;
  found.vocab = int(emb->shape[0]);
  found.dim = int(emb->shape[1]);
  found.ffn_dim = int(ffn->shape[0]);
  found.num_buckets = int(rel->shape[0]);
  found.num_heads = int(rel->shape[1]);
  found.head_dim = found.num_heads > 0 ? int(q->shape[0] / found.num_heads) : 0;
  found.num_layers = 0;
  while (find_any(file, "blocks." + std::to_string(found.num_layers) + ".attn.q.weight"))
    ++found.num_layers;
  bool is_xxl = found.vocab == c.vocab && found.dim == c.dim && found.ffn_dim == c.ffn_dim &&
                found.num_heads == c.num_heads && found.head_dim == c.head_dim &&
                found.num_layers == c.num_layers && found.num_buckets == c.num_buckets;
  if (is_xxl) return c;
  std::string desc =
      str_cat("vocab ", found.vocab, ", dim ", found.dim, ", ffn ", found.ffn_dim, ", ",
              found.num_heads, " heads of ", found.head_dim, ", ", found.num_layers, " layers");
  if (!allow_custom)
    fail(file.path(), ": not umT5-XXL (found ", desc,
         "; expected vocab 256384, dim 4096, ffn 10240, 64 heads of 64, 24 layers)");
  if (found.head_dim <= 0 || found.num_layers == 0)
    fail(file.path(), ": inconsistent umT5 encoder (", desc, ")");
  return found;
}

}  // namespace kinema
