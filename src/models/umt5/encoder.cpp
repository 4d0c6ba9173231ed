#include "models/umt5/encoder.h"

#include <cmath>
#include <cstdlib>
#include <cstring>

#include "kernels/cpu/activation.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/norm.h"
#include "kernels/cpu/softmax.h"

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

// Norm weights are bf16 in every released file; an f32 file is rounded like the reference's
// bf16 module would hold it (the F32 mode takes the stored values as they are).
Tensor norm_weight(const Tensor& t, DType type) {
  if (type == DType::F32) return t.dtype() == DType::F32 ? t : t.to(DType::F32);
  return t.dtype() == DType::BF16 ? t : t.to(DType::BF16);
}

// Rows [begin, begin + rows) of a [L, C] tensor, as a view.
Tensor rows_of(const Tensor& t, int64_t begin, int64_t rows) {
  return t.slice_rows(begin, begin + rows);
}

// Head h of a [L, heads * d] projection as a contiguous [L, d] (or, transposed, [d, L]) tensor.
Tensor head_of(const Tensor& x, int64_t h, int64_t d, bool transposed) {
  const int64_t len = x.dim(0), width = x.dim(1);
  const size_t e = x.dtype() == DType::BF16 ? 2 : 4;
  Tensor out = Tensor::empty(transposed ? Shape({d, len}) : Shape({len, d}), x.dtype());
  const auto* src = x.data<uint8_t>();
  auto* dst = out.mutable_data<uint8_t>();
  for (int64_t i = 0; i < len; ++i)
    for (int64_t j = 0; j < d; ++j) {
      const int64_t to = transposed ? j * len + i : i * d + j;
      std::memcpy(dst + size_t(to) * e, src + size_t(i * width + h * d + j) * e, e);
    }
  return out;
}

// Self-attention of one sequence as the reference computes it, head by head and materialised
// (not the online softmax of the flash kernels, whose unnormalised probabilities round
// differently): S = q·kᵀ with no scaling, S + position bias, softmax in f32, then A·v. In bf16
// each of q·kᵀ, the biased logits, the normalised probabilities and A·v rounds to bf16 once,
// as `softmax(attn.float()).type_as(attn)` on bf16 tensors does; in f32 nothing rounds.
// q, k, v: [L, heads * d]; bias: [heads, L, L] of q's type -> out: [L, heads * d]
void t5_attention(const ComputeContext& ctx, const Tensor& q, const Tensor& k, const Tensor& v,
                  const Tensor& bias, int64_t heads, Tensor& out) {
  const int64_t len = q.dim(0), d = q.dim(1) / heads;
  const DType type = q.dtype();
  const size_t e = type == DType::BF16 ? 2 : 4;
  Tensor s = Tensor::empty({len, len}, type);
  Tensor o = Tensor::empty({len, d}, type);
  for (int64_t h = 0; h < heads; ++h) {
    cpu::matmul(ctx, head_of(q, h, d, false), head_of(k, h, d, true), s);
    cpu::add(ctx, s, bias.slice_rows(h, h + 1).reshape({len, len}), s);
    cpu::softmax(ctx, s, s);
    cpu::matmul(ctx, s, head_of(v, h, d, false), o);
    const auto* src = o.data<uint8_t>();
    auto* dst = out.mutable_data<uint8_t>();
    for (int64_t i = 0; i < len; ++i)
      std::memcpy(dst + size_t(i * heads * d + h * d) * e, src + size_t(i * d) * e, size_t(d) * e);
  }
}

}  // namespace

UMT5Encoder::UMT5Encoder(const WeightFile& file, const UMT5Config& config) : config_(config) {
  BoundWeights w =
      bind_weights(file, "umT5 encoder", umt5_tensors(config), umt5_layouts(), umt5_prefixes());
  embedding_ = w.get("token_embedding.weight");
  for (int i = 0; i < config.num_layers; ++i) {
    const std::string b = "blocks." + std::to_string(i) + ".";
    Block block;
    block.norm1 = w.get(b + "norm1.weight");
    block.norm2 = w.get(b + "norm2.weight");
    auto lin = [&](const std::string& n) {
      return Linear{w.get(b + n + ".weight"), Tensor(), {}, {}};
    };
    block.q = lin("attn.q");
    block.k = lin("attn.k");
    block.v = lin("attn.v");
    block.o = lin("attn.o");
    block.gate = lin("ffn.gate.0");
    block.fc1 = lin("ffn.fc1");
    block.fc2 = lin("ffn.fc2");
    block.relative_bias = w.get(b + "pos_embedding.embedding.weight").to_f32_vector();
    blocks_.push_back(std::move(block));
  }
  final_norm_ = w.get("norm.weight");
}

Tensor UMT5Encoder::encode(const ComputeContext& ctx, const std::vector<int32_t>& ids,
                           T5Precision precision) const {
  return encode(ctx, std::vector<std::vector<int32_t>>{ids}, precision).front();
}

std::vector<Tensor> UMT5Encoder::encode(const ComputeContext& ctx,
                                        const std::vector<std::vector<int32_t>>& sequences,
                                        T5Precision precision) const {
  const UMT5Config& c = config_;
  const bool bf16 = precision == T5Precision::BF16;
  const DType type = bf16 ? DType::BF16 : DType::F32;
  const auto mm = bf16 ? MatmulPrecision::BF16 : MatmulPrecision::F32;
  const auto rounding = bf16 ? cpu::NormRounding::Bf16 : cpu::NormRounding::None;
  std::vector<int64_t> starts;
  int64_t total = 0;
  for (const std::vector<int32_t>& ids : sequences) {
    const int64_t len = int64_t(ids.size());
    if (len < 1 || len > 512) fail("umT5: expected 1 to 512 tokens, got ", len);
    starts.push_back(total);
    total += len;
  }
  if (sequences.empty()) return {};

  // Embedding rows, converted from the stored type (and rounded to bf16 in BF16).
  Tensor x = Tensor::empty({total, c.dim}, type);
  const uint64_t row_bytes = *storage_bytes(embedding_.dtype(), uint64_t(c.dim));
  std::vector<float> row(size_t(c.dim));
  int64_t at = 0;
  for (const std::vector<int32_t>& ids : sequences)
    for (const int32_t id : ids) {
      if (id < 0 || id >= c.vocab)
        fail("umT5: token id ", id, " outside the vocabulary of ", c.vocab);
      convert_to_f32(embedding_.dtype(), embedding_.data<uint8_t>() + uint64_t(id) * row_bytes,
                     row.data(), c.dim);
      if (bf16)
        convert_from_f32(row.data(), DType::BF16, x.mutable_data<uint16_t>() + at * c.dim, c.dim);
      else
        std::memcpy(x.mutable_data<float>() + at * c.dim, row.data(), row.size() * 4);
      ++at;
    }

  const int64_t heads = c.num_heads, inner = int64_t(c.num_heads) * c.head_dim;
  Tensor u = Tensor::empty({total, c.dim}, type);
  Tensor attn = Tensor::empty({total, inner}, type);
  for (const Block& b : blocks_) {
    cpu::rms_norm(ctx, x, norm_weight(b.norm1, type), c.eps, rounding, u);
    Tensor q = b.q(ctx, u, mm, type);
    Tensor k = b.k(ctx, u, mm, type);
    Tensor v = b.v(ctx, u, mm, type);
    for (size_t s = 0; s < sequences.size(); ++s) {
      const int64_t len = int64_t(sequences[s].size()), begin = starts[s];
      // The per-layer position bias [heads, len, len] (the table's values are bf16 in the file).
      Tensor bias = Tensor::empty({heads, len, len}, DType::F32);
      float* bias_values = bias.mutable_data<float>();
      for (int64_t i = 0; i < len; ++i)
        for (int64_t j = 0; j < len; ++j) {
          const int bucket = t5_relative_bucket(j - i, c.num_buckets, c.max_distance);
          for (int64_t h = 0; h < heads; ++h)
            bias_values[(h * len + i) * len + j] = b.relative_bias[size_t(bucket * heads + h)];
        }
      if (bf16) bias = bias.to(DType::BF16);
      Tensor out = rows_of(attn, begin, len);
      t5_attention(ctx, rows_of(q, begin, len), rows_of(k, begin, len), rows_of(v, begin, len),
                   bias, heads, out);
    }
    Tensor y = b.o(ctx, attn, mm, type);
    cpu::add(ctx, x, y, x);

    cpu::rms_norm(ctx, x, norm_weight(b.norm2, type), c.eps, rounding, u);
    Tensor gate = b.gate(ctx, u, mm, type);
    Tensor hidden = b.fc1(ctx, u, mm, type);
    if (bf16) {
      cpu::gated_gelu_t5(ctx, hidden, gate, hidden);
    } else {
      cpu::gelu_tanh(ctx, gate, gate);
      cpu::mul(ctx, hidden, gate, hidden);
    }
    y = b.fc2(ctx, hidden, mm, type);
    cpu::add(ctx, x, y, x);
  }
  Tensor normed = Tensor::empty({total, c.dim}, type);
  cpu::rms_norm(ctx, x, norm_weight(final_norm_, type), c.eps, rounding, normed);
  std::vector<Tensor> out;
  for (size_t s = 0; s < sequences.size(); ++s)
    out.push_back(rows_of(normed, starts[s], int64_t(sequences[s].size())).clone());
  return out;
}

}  // namespace kinema
