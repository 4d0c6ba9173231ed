#include "models/umt5/encoder.h"

#include <cmath>
#include <cstdlib>

#include "kernels/cpu/activation.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/norm.h"

namespace kinema {

int t5_relative_bucket(int64_t rel, int num_buckets, int max_distance) {
  const int half = num_buckets / 2, max_exact = half / 2;
  const int base = rel > 0 ? half : 0;
  const int64_t a = rel < 0 ? -rel : rel;
  if (a < max_exact) return base + int(a);
  // fp32 arithmetic and truncation, as the reference's tensor expression.
  const float scaled = std::log(float(a) / float(max_exact)) /
                       float(std::log(double(max_distance) / double(max_exact))) *
                       float(half - max_exact);
  return base + std::min(half - 1, max_exact + int(scaled));
}

namespace {
Tensor to_bf16(const Tensor& t) { return t.dtype() == DType::BF16 ? t : t.to(DType::BF16); }
}  // namespace

UMT5Encoder::UMT5Encoder(const WeightFile& file, const UMT5Config& config) : config_(config) {
  BoundWeights w =
      bind_weights(file, "umT5 encoder", umt5_tensors(config), umt5_layouts(), umt5_prefixes());
  embedding_ = w.get("token_embedding.weight");
  for (int i = 0; i < config.num_layers; ++i) {
    const std::string b = "blocks." + std::to_string(i) + ".";
    Block block;
    block.norm1 = to_bf16(w.get(b + "norm1.weight"));
    block.norm2 = to_bf16(w.get(b + "norm2.weight"));
    auto lin = [&](const std::string& n) { return Linear{w.get(b + n + ".weight"), Tensor(), {}}; };
    block.q = lin("attn.q");
    block.k = lin("attn.k");
    block.v = lin("attn.v");
    block.o = lin("attn.o");
    block.gate = lin("ffn.gate.0");
    block.fc1 = lin("ffn.fc1");
    block.fc2 = lin("ffn.fc2");
    Tensor rel = to_bf16(w.get(b + "pos_embedding.embedding.weight")).to(DType::F32);
    block.relative_bias = rel.to_f32_vector();
    blocks_.push_back(std::move(block));
  }
  final_norm_ = to_bf16(w.get("norm.weight"));
}

Tensor UMT5Encoder::encode(const ComputeContext& ctx, const std::vector<int32_t>& ids) const {
  const UMT5Config& c = config_;
  const int64_t len = int64_t(ids.size());
  if (len < 1 || len > 512) fail("umT5: expected 1 to 512 tokens, got ", len);
  // Embedding rows, converted from the stored type and rounded to bf16.
  Tensor x = Tensor::empty({len, c.dim}, DType::BF16);
  const uint64_t row_bytes = *storage_bytes(embedding_.dtype(), uint64_t(c.dim));
  std::vector<float> row(size_t(c.dim));
  for (int64_t i = 0; i < len; ++i) {
    const int32_t id = ids[size_t(i)];
    if (id < 0 || id >= c.vocab)
      fail("umT5: token id ", id, " outside the vocabulary of ", c.vocab);
    convert_to_f32(embedding_.dtype(), embedding_.data<uint8_t>() + uint64_t(id) * row_bytes,
                   row.data(), c.dim);
    convert_from_f32(row.data(), DType::BF16, x.mutable_data<uint16_t>() + i * c.dim, c.dim);
  }

  // Bucketed offsets are the same for every layer; the bias values differ per layer.
  std::vector<int> buckets(size_t(len * len));
  for (int64_t i = 0; i < len; ++i)
    for (int64_t j = 0; j < len; ++j)
      buckets[size_t(i * len + j)] = t5_relative_bucket(j - i, c.num_buckets, c.max_distance);

  const int64_t heads = c.num_heads, hd = c.head_dim;
  Tensor u = Tensor::empty({len, c.dim}, DType::BF16);
  Tensor attn = Tensor::empty({len, heads, hd}, DType::BF16);
  Tensor bias = Tensor::empty({heads, len, len}, DType::BF16);
  const auto mm = MatmulPrecision::BF16;
  for (const Block& b : blocks_) {
    uint16_t* bias_bits = bias.mutable_data<uint16_t>();
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t p = 0; p < len * len; ++p)
        bias_bits[h * len * len + p] =
            f32_to_bf16(b.relative_bias[size_t(buckets[size_t(p)] * heads + h)]);

    cpu::rms_norm(ctx, x, b.norm1, c.eps, cpu::NormRounding::Bf16, u);
    Tensor q = b.q(ctx, u, mm, DType::BF16).reshape({len, heads, hd});
    Tensor k = b.k(ctx, u, mm, DType::BF16).reshape({len, heads, hd});
    Tensor v = b.v(ctx, u, mm, DType::BF16).reshape({len, heads, hd});
    cpu::AttentionOptions options;
    options.scale = 1.0f;  // T5 does not scale its logits
    options.bias = {bias.raw(), DType::BF16, len * len, len};
    options.round_logits_bf16 = true;
    cpu::attention(ctx, q, k, v, attn, options);
    Tensor y = b.o(ctx, attn.reshape({len, heads * hd}), mm, DType::BF16);
    cpu::add(ctx, x, y, x);

    cpu::rms_norm(ctx, x, b.norm2, c.eps, cpu::NormRounding::Bf16, u);
    Tensor gate = b.gate(ctx, u, mm, DType::BF16);
    Tensor hidden = b.fc1(ctx, u, mm, DType::BF16);
    cpu::gated_gelu_t5(ctx, hidden, gate, hidden);
    y = b.fc2(ctx, hidden, mm, DType::BF16);
    cpu::add(ctx, x, y, x);
  }
  Tensor out = Tensor::empty({len, c.dim}, DType::BF16);
  cpu::rms_norm(ctx, x, final_norm_, c.eps, cpu::NormRounding::Bf16, out);
  return out;
}

}  // namespace kinema
