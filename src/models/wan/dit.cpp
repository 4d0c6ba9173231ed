#include "models/wan/dit.h"

#include <cmath>
#include <cstring>
#include <tuple>

#include "kernels/cpu/activation.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/convert.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/norm.h"
#include "kernels/cpu/rope.h"

namespace kinema {
namespace {

// Small tensors (biases, norms, modulation) are used as f32 whatever the file stores.
Tensor as_f32(const Tensor& t) { return t.dtype() == DType::F32 ? t : t.to(DType::F32); }

// A [rows, D] view of row `r` of a [rows, D] f32 tensor, as a [D] tensor.
Tensor row(const Tensor& t, int64_t r) {
  return t.reshape({t.numel() / t.dim(-1), t.dim(-1)}).slice_rows(r, r + 1).reshape({t.dim(-1)});
}

MatmulPrecision gemm(DiTPrecision p) {
  return p == DiTPrecision::BF16 ? MatmulPrecision::BF16 : MatmulPrecision::F32;
}

// The dtype of activations that the reference holds in bf16 (f32 in F32 mode).
DType act(DiTPrecision p) { return p == DiTPrecision::BF16 ? DType::BF16 : DType::F32; }

}  // namespace

std::vector<float> timestep_sinusoid(double timestep, int freq_dim) {
  const int half = freq_dim / 2;
  std::vector<float> out(size_t(freq_dim), 0.0f);
  for (int k = 0; k < half; ++k) {
    double omega = std::pow(10000.0, -double(k) / double(half));
    double s = timestep * omega;
    out[size_t(k)] = float(std::cos(s));
    out[size_t(half + k)] = float(std::sin(s));
  }
  return out;
}

WanDiT::WanDiT(const WeightFile& file, const WanDiTConfig& config, const WanDiTOptions& options)
    : config_(config) {
  BoundWeights w =
      bind_weights(file, "Wan DiT", wan_dit_tensors(config), wan_dit_layouts(), wan_dit_prefixes());
  const ComputeContext ctx = ComputeContext::with_threads(0);
  if (options.loras && !options.loras->empty()) {
    const LoraMergeCost cost =
        lora_merge_cost(*options.loras, [&w](const std::string& name) -> const TensorInfo* {
          const TensorInfo* info = w.info(name);
          return info && info->shape.rank() >= 2 ? info : nullptr;  // Linear (and conv) weights
        });
    lora_mode_ =
        choose_lora_mode(options.lora_mode, cost.bytes, options.lora_memory_budget, cost.quantized);
  }
  LoraApplier lora(options.loras, lora_mode_, ctx);
  auto drop_unused = [&file](const Tensor& stored) {
    for (const auto& mapped : file.files()) mapped->drop_pages(stored.raw(), stored.nbytes());
  };
  auto tensor = [&](const std::string& name) { return lora.tensor(name, as_f32(w.get(name))); };
  auto linear = [&](const std::string& name) {
    Linear l{w.get(name + ".weight"), as_f32(w.get(name + ".bias")), {}, {}};
    const Tensor stored = l.weight;
    lora.linear(name + ".weight", name + ".bias", l);
    // A merged weight is a copy: the mapped one is not read again.
    if (l.weight.raw() != stored.raw()) drop_unused(stored);
    return l;
  };
  const int64_t patch = int64_t(config.in_dim) * config.patch_t * config.patch_h * config.patch_w;
  patch_embedding_ = linear("patch_embedding");
  patch_embedding_.weight = patch_embedding_.weight.reshape({config.dim, patch});
  text_embedding0_ = linear("text_embedding.0");
  text_embedding2_ = linear("text_embedding.2");
  time_embedding0_ = linear("time_embedding.0");
  time_embedding2_ = linear("time_embedding.2");
  time_projection_ = linear("time_projection.1");
  for (int i = 0; i < config.num_layers; ++i) {
    const std::string b = "blocks." + std::to_string(i) + ".";
    Block block;
    block.modulation = tensor(b + "modulation");
    for (auto [attn, name] :
         {std::pair{&block.self_attn, "self_attn"}, std::pair{&block.cross_attn, "cross_attn"}}) {
      const std::string p = b + name + ".";
      attn->q = linear(p + "q");
      attn->k = linear(p + "k");
      attn->v = linear(p + "v");
      attn->o = linear(p + "o");
      attn->norm_q = tensor(p + "norm_q.weight");
      attn->norm_k = tensor(p + "norm_k.weight");
    }
    block.norm3_weight = tensor(b + "norm3.weight");
    block.norm3_bias = tensor(b + "norm3.bias");
    block.ffn0 = linear(b + "ffn.0");
    block.ffn2 = linear(b + "ffn.2");
    blocks_.push_back(std::move(block));
  }
  head_ = linear("head.head");
  head_modulation_ = tensor("head.modulation");
  lora.finish();
  if (options.pack_weights) {
    for (Block& b : blocks_) {
      for (Linear* l : {&b.self_attn.q, &b.self_attn.k, &b.self_attn.v, &b.self_attn.o,
                        &b.cross_attn.q, &b.cross_attn.o, &b.ffn0, &b.ffn2}) {
        l->pack(ctx, MatmulPrecision::BF16);
        // A converted copy replaces the stored weight (bf16 steps): let its pages leave memory.
        if (l->packed.nbytes() > 0) drop_unused(l->weight);
      }
    }
  }
}

TextConditioning WanDiT::encode_text(const ComputeContext& ctx, const Tensor& t5_context,
                                     DiTPrecision precision) const {
  const int64_t len = config_.text_len, dim = config_.text_dim;
  if (t5_context.rank() != 2 || t5_context.dim(1) != dim || t5_context.dim(0) > len)
    fail("Wan DiT text input: expected [<= ", len, ", ", dim, "], got ", t5_context.shape().str());
  // Zero rows pad the real tokens to text_len; they are embedded (not masked) like the rest.
  Tensor padded = Tensor::zeros({len, dim}, act(precision));
  Tensor real = t5_context.to(act(precision));
  std::memcpy(padded.mutable_raw(), real.raw(), real.nbytes());

  const MatmulPrecision mm = gemm(precision);
  Tensor h = text_embedding0_(ctx, padded, mm, act(precision));
  cpu::gelu_tanh(ctx, h, h);
  TextConditioning text;
  text.context = text_embedding2_(ctx, h, mm, act(precision));
  const cpu::NormRounding rounding =
      precision == DiTPrecision::BF16 ? cpu::NormRounding::Bf16 : cpu::NormRounding::None;
  for (const Block& block : blocks_) {
    const Attention& a = block.cross_attn;
    Tensor k = a.k(ctx, text.context, mm, act(precision));
    Tensor k_normed = Tensor::empty(k.shape(), DType::F32);
    cpu::rms_norm(ctx, k, a.norm_k, config_.eps, rounding, k_normed);
    text.cross_keys.push_back(k_normed.to(act(precision)));
    text.cross_values.push_back(a.v(ctx, text.context, mm, act(precision)));
  }
  return text;
}

Tensor WanDiT::patchify(const Tensor& latent, DiTPrecision precision) const {
  const int64_t c = latent.dim(0), t = latent.dim(1), h = latent.dim(2), w = latent.dim(3);
  const int pt = config_.patch_t, ph = config_.patch_h, pw = config_.patch_w;
  const int64_t gt = t / pt, gh = h / ph, gw = w / pw;
  const int64_t features = c * pt * ph * pw;
  // Row per token (f, i, j); features in the weight's (c, kt, kh, kw) order.
  std::vector<float> rows(size_t(gt * gh * gw * features));
  const float* x = latent.data<float>();
  size_t o = 0;
  for (int64_t f = 0; f < gt; ++f)
    for (int64_t i = 0; i < gh; ++i)
      for (int64_t j = 0; j < gw; ++j)
        for (int64_t ch = 0; ch < c; ++ch)
          for (int kt = 0; kt < pt; ++kt)
            for (int kh = 0; kh < ph; ++kh)
              for (int kw = 0; kw < pw; ++kw)
                rows[o++] = x[((ch * t + f * pt + kt) * h + i * ph + kh) * w + j * pw + kw];
  return Tensor::from_f32({gt * gh * gw, features}, rows.data(), act(precision));
}

Tensor WanDiT::unpatchify(const Tensor& out, int64_t t, int64_t h, int64_t w) const {
  const int pt = config_.patch_t, ph = config_.patch_h, pw = config_.patch_w;
  const int64_t c = config_.out_dim, gt = t / pt, gh = h / ph, gw = w / pw;
  Tensor v = Tensor::empty({c, t, h, w}, DType::F32);
  float* y = v.mutable_data<float>();
  const float* o = out.data<float>();
  const int64_t features = out.dim(1);
  for (int64_t f = 0; f < gt; ++f)
    for (int64_t i = 0; i < gh; ++i)
      for (int64_t j = 0; j < gw; ++j) {
        const float* tok = o + ((f * gh + i) * gw + j) * features;
        // Feature index ((kt * ph + kh) * pw + kw) * c + ch: channel fastest (spec 2.9).
        for (int kt = 0; kt < pt; ++kt)
          for (int kh = 0; kh < ph; ++kh)
            for (int kw = 0; kw < pw; ++kw)
              for (int64_t ch = 0; ch < c; ++ch)
                y[((ch * t + f * pt + kt) * h + i * ph + kh) * w + j * pw + kw] =
                    tok[((kt * ph + kh) * pw + kw) * c + ch];
      }
  return v;
}

Tensor WanDiT::forward(const ComputeContext& ctx, const Tensor& latent, double timestep,
                       const TextConditioning& text, DiTPrecision precision) const {
  const WanDiTConfig& cfg = config_;
  if (latent.rank() != 4 || latent.dim(0) != cfg.in_dim || latent.dtype() != DType::F32 ||
      latent.dim(1) % cfg.patch_t || latent.dim(2) % cfg.patch_h || latent.dim(3) % cfg.patch_w)
    fail("Wan DiT input: expected an f32 latent [", cfg.in_dim,
         ", T, H', W'] divisible by the patch ", cfg.patch_t, "x", cfg.patch_h, "x", cfg.patch_w,
         ", got ", latent.shape().str(), " ", name(latent.dtype()));
  if (text.cross_keys.size() != blocks_.size())
    fail("Wan DiT: text conditioning was made for another model");
  const bool bf16 = precision == DiTPrecision::BF16;
  const MatmulPrecision mm = gemm(precision);
  const DType a = act(precision);
  const cpu::NormRounding qk_rounding = bf16 ? cpu::NormRounding::Bf16 : cpu::NormRounding::None;
  const int64_t t = latent.dim(1), h = latent.dim(2), w = latent.dim(3);
  const cpu::RopeGrid grid{t / cfg.patch_t, h / cfg.patch_h, w / cfg.patch_w};
  const int64_t tokens = grid.tokens(), dim = cfg.dim, heads = cfg.num_heads;
  const cpu::RopeTable rope(grid, cfg.head_dim());

  // Patch embedding (bf16 conv in the reference: inputs rounded, one rounding of the output).
  Tensor x = patch_embedding_(ctx, patchify(latent, precision), mm, a).to(DType::F32);

  // Time embedding, all f32: e feeds the head, e0 the blocks' modulation.
  std::vector<float> sinusoid = timestep_sinusoid(timestep, cfg.freq_dim);
  Tensor s = Tensor::from_f32({1, cfg.freq_dim}, sinusoid.data());
  Tensor e = time_embedding0_(ctx, s, MatmulPrecision::F32, DType::F32);
  cpu::silu(ctx, e, e);
  e = time_embedding2_(ctx, e, MatmulPrecision::F32, DType::F32);
  Tensor e_silu = Tensor::empty(e.shape(), DType::F32);
  cpu::silu(ctx, e, e_silu);
  Tensor e0 = time_projection_(ctx, e_silu, MatmulPrecision::F32, DType::F32);  // [1, 6D]

  // Activations, allocated once per forward and reused by every block.
  const int64_t hd = cfg.head_dim();
  Tensor h_act = Tensor::empty({tokens, dim}, a);
  Tensor proj = Tensor::empty({tokens, dim}, a);
  Tensor qk_f32 = Tensor::empty({tokens, dim}, DType::F32);
  Tensor q = Tensor::empty({tokens, heads, hd}, a), k = Tensor::empty({tokens, heads, hd}, a);
  Tensor v = Tensor::empty({tokens, heads, hd}, a);
  Tensor attn_out = Tensor::empty({tokens, heads, hd}, a);
  Tensor y = Tensor::empty({tokens, dim}, a);
  Tensor hidden = Tensor::empty({tokens, int64_t(cfg.ffn_dim)}, a);
  Tensor m = Tensor::empty({6, dim}, DType::F32);
  Tensor q2 = q.reshape({tokens, dim}), k2 = k.reshape({tokens, dim}),
         v2 = v.reshape({tokens, dim});
  Tensor out2 = attn_out.reshape({tokens, dim});
  Tensor qk_heads = qk_f32.reshape({tokens, heads, hd});
  for (size_t bi = 0; bi < blocks_.size(); ++bi) {
    const Block& block = blocks_[bi];
    // m = modulation + e0, six [D] rows: shift/scale/gate for attention, then for the FFN.
    cpu::add(ctx, block.modulation.reshape({6, dim}), e0.reshape({6, dim}), m);

    // Self-attention. In block 0 of the bf16 path the residual stream is still bf16, so LN1's
    // output is rounded to bf16 before the modulation (spec 2.10).
    const cpu::NormRounding ln1_rounding =
        bf16 && bi == 0 ? cpu::NormRounding::Bf16 : cpu::NormRounding::None;
    cpu::ln_modulate(ctx, x, row(m, 1), row(m, 0), cfg.eps, ln1_rounding, h_act);
    const Attention& sa = block.self_attn;
    // q, k: Linear -> RMSNorm over all heads (f32) -> RoPE (float64 math) -> attention dtype.
    for (auto [lin, norm, dst] :
         {std::tuple{&sa.q, &sa.norm_q, &q2}, std::tuple{&sa.k, &sa.norm_k, &k2}}) {
      lin->forward_into(ctx, h_act, mm, proj);
      cpu::rms_norm(ctx, proj, *norm, cfg.eps, qk_rounding, qk_f32);
      cpu::rope_wan(ctx, qk_heads, rope);
      cpu::convert(ctx, qk_f32, *dst);
    }
    sa.v.forward_into(ctx, h_act, mm, v2);
    cpu::attention(ctx, q, k, v, attn_out);
    sa.o.forward_into(ctx, out2, mm, y);
    cpu::add_gated(ctx, x, y, row(m, 2));

    // Cross-attention over all text_len rows, no mask, no gate.
    const Attention& ca = block.cross_attn;
    cpu::layer_norm(ctx, x, block.norm3_weight, block.norm3_bias, cfg.eps, h_act);
    ca.q.forward_into(ctx, h_act, mm, proj);
    cpu::rms_norm(ctx, proj, ca.norm_q, cfg.eps, qk_rounding, qk_f32);
    cpu::convert(ctx, qk_f32, q2);
    const int64_t text_len = text.cross_keys[bi].dim(0);
    cpu::attention(ctx, q, text.cross_keys[bi].reshape({text_len, heads, hd}),
                   text.cross_values[bi].reshape({text_len, heads, hd}), attn_out);
    ca.o.forward_into(ctx, out2, mm, y);
    cpu::add(ctx, x, y, x);

    // FFN.
    cpu::ln_modulate(ctx, x, row(m, 4), row(m, 3), cfg.eps, cpu::NormRounding::None, h_act);
    block.ffn0.forward_into(ctx, h_act, mm, hidden);
    cpu::gelu_tanh(ctx, hidden, hidden);
    block.ffn2.forward_into(ctx, hidden, mm, y);
    cpu::add_gated(ctx, x, y, row(m, 5));
  }

  // Head: shift/scale from head.modulation + e (not SiLU'd), fp32 GEMM.
  Tensor hm = Tensor::empty({2, dim}, DType::F32);
  Tensor e2 = Tensor::empty({2, dim}, DType::F32);
  std::memcpy(e2.mutable_raw(), e.raw(), size_t(dim) * 4);
  std::memcpy(e2.mutable_data<float>() + dim, e.raw(), size_t(dim) * 4);
  cpu::add(ctx, head_modulation_.reshape({2, dim}), e2, hm);
  Tensor hx = Tensor::empty({tokens, dim}, DType::F32);
  cpu::ln_modulate(ctx, x, row(hm, 1), row(hm, 0), cfg.eps, cpu::NormRounding::None, hx);
  Tensor out = head_(ctx, hx, MatmulPrecision::F32, DType::F32);
  return unpatchify(out, t, h, w);
}

}  // namespace kinema
