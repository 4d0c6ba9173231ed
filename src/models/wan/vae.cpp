#include "models/wan/vae.h"

#include <cmath>
#include <cstring>

#include "kernels/cpu/attention.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/norm.h"
#include "kernels/cpu/upsample.h"

namespace kinema {
namespace {

using cpu::Conv;
using cpu::ConvParams;

Tensor flat_gamma(const Tensor& g) {
  Tensor f = g.dtype() == DType::F32 ? g : g.to(DType::F32);
  return f.reshape({f.numel()});
}

Tensor as_f32(const Tensor& t) { return t.dtype() == DType::F32 ? t : t.to(DType::F32); }

// A Conv2d weight [O, I, kh, kw] seen as a Conv3d weight [O, I, 1, kh, kw]: a per-frame 2-D conv.
Tensor per_frame_weight(const Tensor& w) {
  return w.reshape({w.dim(0), w.dim(1), 1, w.dim(2), w.dim(3)});
}

struct CausalConv {
  std::unique_ptr<Conv> conv;
  int slot = -1;  // -1: no temporal history (kernel 1 in time)

  Tensor operator()(const ComputeContext& ctx, const Tensor& x, FrameCache::State* state) const {
    Tensor history = slot >= 0 && state ? state->conv_history(slot, x) : Tensor();
    return conv->forward(ctx, x, history);
  }
};

}  // namespace

struct WanVAE::Modules {
  FrameCache cache_layout;

  CausalConv causal(const BoundWeights& w, const std::string& p, int64_t pad) {
    CausalConv c;
    c.conv = std::make_unique<Conv>(as_f32(w.get(p + ".weight")), as_f32(w.get(p + ".bias")),
                                    ConvParams::causal3d(pad, pad, pad));
    if (pad > 0) c.slot = cache_layout.add_slot(FrameCache::Kind::Conv);
    return c;
  }

  struct ResBlock {
    Tensor gamma1, gamma2;
    CausalConv conv1, conv2, shortcut;
  };
  struct AttnBlock {
    Tensor gamma;
    std::unique_ptr<Conv> to_qkv, proj;
  };
  struct Resample {
    enum Mode { Up2d, Up3d, Down2d, Down3d } mode;
    std::unique_ptr<Conv> spatial;
    CausalConv time_conv;        // Up3d
    std::unique_ptr<Conv> down;  // Down3d time conv (stride 2, no padding)
    int slot = -1;
  };
  // One entry of a stage list: exactly one of the three is set.
  struct Layer {
    std::unique_ptr<ResBlock> res;
    std::unique_ptr<AttnBlock> attn;
    std::unique_ptr<Resample> resample;
  };

  std::unique_ptr<ResBlock> res_block(const BoundWeights& w, const std::string& p) {
    auto b = std::make_unique<ResBlock>();
    b->gamma1 = flat_gamma(w.get(p + ".residual.0.gamma"));
    b->conv1 = causal(w, p + ".residual.2", 1);
    b->gamma2 = flat_gamma(w.get(p + ".residual.3.gamma"));
    b->conv2 = causal(w, p + ".residual.6", 1);
    if (w.has(p + ".shortcut.weight")) b->shortcut = causal(w, p + ".shortcut", 0);
    return b;
  }

  std::unique_ptr<AttnBlock> attn_block(const BoundWeights& w, const std::string& p) {
    auto a = std::make_unique<AttnBlock>();
    a->gamma = flat_gamma(w.get(p + ".norm.gamma"));
    a->to_qkv = std::make_unique<Conv>(per_frame_weight(as_f32(w.get(p + ".to_qkv.weight"))),
                                       as_f32(w.get(p + ".to_qkv.bias")), ConvParams{});
    a->proj = std::make_unique<Conv>(per_frame_weight(as_f32(w.get(p + ".proj.weight"))),
                                     as_f32(w.get(p + ".proj.bias")), ConvParams{});
    return a;
  }

  std::unique_ptr<Resample> resample(const BoundWeights& w, const std::string& p,
                                     Resample::Mode mode) {
    auto r = std::make_unique<Resample>();
    r->mode = mode;
    Tensor weight = per_frame_weight(as_f32(w.get(p + ".resample.1.weight")));
    Tensor bias = as_f32(w.get(p + ".resample.1.bias"));
    ConvParams params;
    if (mode == Resample::Up2d || mode == Resample::Up3d) {
      params.pad_before = {0, 1, 1};
      params.pad_after = {0, 1, 1};
    } else {  // zero-pad right and bottom by one, 3x3 stride 2
      params.pad_before = {0, 0, 0};
      params.pad_after = {0, 1, 1};
      params.stride = {1, 2, 2};
    }
    r->spatial = std::make_unique<Conv>(weight, bias, params);
    if (mode == Resample::Up3d) {
      r->time_conv.conv = std::make_unique<Conv>(as_f32(w.get(p + ".time_conv.weight")),
                                                 as_f32(w.get(p + ".time_conv.bias")),
                                                 ConvParams::causal3d(1, 0, 0));
      r->slot = cache_layout.add_slot(FrameCache::Kind::Upsample);
    } else if (mode == Resample::Down3d) {
      ConvParams down;
      down.stride = {2, 1, 1};
      r->down = std::make_unique<Conv>(as_f32(w.get(p + ".time_conv.weight")),
                                       as_f32(w.get(p + ".time_conv.bias")), down);
      r->slot = cache_layout.add_slot(FrameCache::Kind::Downsample);
    }
    return r;
  }

  // Encoder and decoder.
  CausalConv enc_conv1, enc_head, dec_conv1, dec_head, conv1, conv2;
  Tensor enc_head_gamma, dec_head_gamma;
  std::vector<Layer> enc_down, enc_middle, dec_middle, dec_up;

  Tensor run_res(const ComputeContext& ctx, const ResBlock& b, const Tensor& x,
                 FrameCache::State& s) const {
    Tensor h = b.shortcut.conv ? b.shortcut(ctx, x, nullptr) : x;
    Tensor r = Tensor::empty(x.shape(), DType::F32);
    cpu::channel_rms_norm(ctx, x, b.gamma1, cpu::ChannelNormAct::Silu, r);
    r = b.conv1(ctx, r, &s);
    Tensor r2 = Tensor::empty(r.shape(), DType::F32);
    cpu::channel_rms_norm(ctx, r, b.gamma2, cpu::ChannelNormAct::Silu, r2);
    r = b.conv2(ctx, r2, &s);
    cpu::add(ctx, r, h, r);
    return r;
  }

  // Single-head attention over each frame's H*W positions.
  Tensor run_attn(const ComputeContext& ctx, const AttnBlock& a, const Tensor& x) const {
    const int64_t c = x.dim(1), t = x.dim(2), hw = x.dim(3) * x.dim(4);
    Tensor n = Tensor::empty(x.shape(), DType::F32);
    cpu::channel_rms_norm(ctx, x, a.gamma, cpu::ChannelNormAct::None, n);
    Tensor qkv = a.to_qkv->forward(ctx, n);  // [1, 3C, T, H, W]
    Tensor q = Tensor::empty({hw, 1, c}, DType::F32), k = Tensor::empty({hw, 1, c}, DType::F32),
           v = Tensor::empty({hw, 1, c}, DType::F32), o = Tensor::empty({hw, 1, c}, DType::F32);
    Tensor attended = Tensor::empty(x.shape(), DType::F32);
    const float* src = qkv.data<float>();
    float* dst = attended.mutable_data<float>();
    for (int64_t f = 0; f < t; ++f) {
      // channel-first [3C, T, HW] -> token-major [HW, C] for q, k, v
      float* targets[3] = {q.mutable_data<float>(), k.mutable_data<float>(),
                           v.mutable_data<float>()};
      for (int part = 0; part < 3; ++part)
        for (int64_t ch = 0; ch < c; ++ch) {
          const float* plane = src + ((part * c + ch) * t + f) * hw;
          for (int64_t p = 0; p < hw; ++p) targets[part][p * c + ch] = plane[p];
        }
      cpu::attention(ctx, q, k, v, o);
      const float* of = o.data<float>();
      for (int64_t ch = 0; ch < c; ++ch) {
        float* plane = dst + (ch * t + f) * hw;
        for (int64_t p = 0; p < hw; ++p) plane[p] = of[p * c + ch];
      }
    }
    Tensor y = a.proj->forward(ctx, attended);
    cpu::add(ctx, y, x, y);
    return y;
  }

  Tensor run_resample(const ComputeContext& ctx, const Resample& r, Tensor x,
                      FrameCache::State& s) const {
    if (r.mode == Resample::Up3d) {
      Tensor history;
      if (s.upsample_history(r.slot, x, &history)) {
        Tensor y = r.time_conv.conv->forward(ctx, x, history);  // [1, 2C, t, H, W]
        // Channels [0, C) become frame 2τ, [C, 2C) frame 2τ+1.
        const int64_t c = y.dim(1) / 2, t = y.dim(2), plane = y.dim(3) * y.dim(4);
        Tensor z = Tensor::empty({1, c, 2 * t, y.dim(3), y.dim(4)}, DType::F32);
        for (int64_t half = 0; half < 2; ++half)
          for (int64_t ch = 0; ch < c; ++ch)
            for (int64_t tau = 0; tau < t; ++tau)
              std::memcpy(z.mutable_data<float>() + (ch * 2 * t + 2 * tau + half) * plane,
                          y.data<float>() + ((half * c + ch) * t + tau) * plane, size_t(plane) * 4);
        x = z;
      }
    }
    if (r.mode == Resample::Up2d || r.mode == Resample::Up3d) x = cpu::upsample_nearest2x(ctx, x);
    x = r.spatial->forward(ctx, x);
    if (r.mode == Resample::Down3d) {
      Tensor history = s.downsample_history(r.slot, x);
      if (history.defined()) x = r.down->forward(ctx, cat_frames({history, x}));
    }
    return x;
  }

  Tensor run_layers(const ComputeContext& ctx, const std::vector<Layer>& layers, Tensor x,
                    FrameCache::State& s) const {
    for (const Layer& l : layers) {
      if (l.res)
        x = run_res(ctx, *l.res, x, s);
      else if (l.attn)
        x = run_attn(ctx, *l.attn, x);
      else
        x = run_resample(ctx, *l.resample, x, s);
    }
    return x;
  }

  Tensor run_head(const ComputeContext& ctx, const Tensor& gamma, const CausalConv& conv,
                  const Tensor& x, FrameCache::State& s) const {
    Tensor n = Tensor::empty(x.shape(), DType::F32);
    cpu::channel_rms_norm(ctx, x, gamma, cpu::ChannelNormAct::Silu, n);
    return conv(ctx, n, &s);
  }
};

WanVAE::WanVAE(const WeightFile& file, const WanVAEConfig& config)
    : config_(config), m_(std::make_unique<Modules>()) {
  BoundWeights w = bind_weights(file, "Wan VAE", wan_vae_tensors(config), wan_vae_layouts(config),
                                wan_vae_prefixes());
  Modules& m = *m_;
  using Mode = Modules::Resample::Mode;
  auto middle = [&](const std::string& p, std::vector<Modules::Layer>& out) {
    out.push_back({m.res_block(w, p + ".middle.0"), nullptr, nullptr});
    out.push_back({nullptr, m.attn_block(w, p + ".middle.1"), nullptr});
    out.push_back({m.res_block(w, p + ".middle.2"), nullptr, nullptr});
  };

  m.enc_conv1 = m.causal(w, "encoder.conv1", 1);
  auto enc = config.encoder_dims();
  int idx = 0;
  for (size_t i = 0; i + 1 < enc.size(); ++i) {
    for (int r = 0; r < config.num_res_blocks; ++r)
      m.enc_down.push_back(
          {m.res_block(w, "encoder.downsamples." + std::to_string(idx++)), nullptr, nullptr});
    if (i + 2 < enc.size()) {
      Mode mode = config.temporal_downsample[i] ? Mode::Down3d : Mode::Down2d;
      m.enc_down.push_back(
          {nullptr, nullptr, m.resample(w, "encoder.downsamples." + std::to_string(idx++), mode)});
    }
  }
  middle("encoder", m.enc_middle);
  m.enc_head_gamma = flat_gamma(w.get("encoder.head.0.gamma"));
  m.enc_head = m.causal(w, "encoder.head.2", 1);
  m.conv1 = m.causal(w, "conv1", 0);
  m.conv2 = m.causal(w, "conv2", 0);

  m.dec_conv1 = m.causal(w, "decoder.conv1", 1);
  middle("decoder", m.dec_middle);
  auto dec = config.decoder_dims();
  idx = 0;
  for (size_t i = 0; i + 1 < dec.size(); ++i) {
    for (int r = 0; r <= config.num_res_blocks; ++r)
      m.dec_up.push_back(
          {m.res_block(w, "decoder.upsamples." + std::to_string(idx++)), nullptr, nullptr});
    if (i + 2 < dec.size()) {
      bool temporal = config.temporal_downsample[config.temporal_downsample.size() - 1 - i];
      m.dec_up.push_back({nullptr, nullptr,
                          m.resample(w, "decoder.upsamples." + std::to_string(idx++),
                                     temporal ? Mode::Up3d : Mode::Up2d)});
    }
  }
  m.dec_head_gamma = flat_gamma(w.get("decoder.head.0.gamma"));
  m.dec_head = m.causal(w, "decoder.head.2", 1);
}

WanVAE::~WanVAE() = default;

Tensor WanVAE::encode(const ComputeContext& ctx, const Tensor& video) const {
  if (video.rank() != 4 || video.dim(0) != 3 || video.dtype() != DType::F32 ||
      (video.dim(1) - 1) % 4 != 0 || video.dim(2) % 8 || video.dim(3) % 8)
    fail("Wan VAE encode: expected an f32 video [3, 4n+1, H, W] with H, W multiples of 8, got ",
         video.shape().str());
  const Modules& m = *m_;
  Tensor x = video.reshape({1, 3, video.dim(1), video.dim(2), video.dim(3)});
  FrameCache::State state(m.cache_layout);
  std::vector<Tensor> chunks;
  for (int64_t start = 0; start < x.dim(2); start = start == 0 ? 1 : start + 4) {
    Tensor chunk = frames(x, start, start == 0 ? 1 : start + 4);
    Tensor h = m.enc_conv1(ctx, chunk, &state);
    h = m.run_layers(ctx, m.enc_down, h, state);
    h = m.run_layers(ctx, m.enc_middle, h, state);
    h = m.run_head(ctx, m.enc_head_gamma, m.enc_head, h, state);
    chunks.push_back(h);
  }
  Tensor moments =
      m.conv1(ctx, cat_frames(chunks), nullptr);  // [1, 2z, T, h, w]: mean, then log-variance
  const int64_t z = config_.z_dim;
  Tensor mu = Tensor::empty({z, moments.dim(2), moments.dim(3), moments.dim(4)}, DType::F32);
  const int64_t per_channel = moments.dim(2) * moments.dim(3) * moments.dim(4);
  for (int64_t c = 0; c < z; ++c) {
    const float mean = kWan21LatentMean[size_t(c)];
    const float inv = 1.0f / kWan21LatentStd[size_t(c)];
    const float* src = moments.data<float>() + c * per_channel;
    float* dst = mu.mutable_data<float>() + c * per_channel;
    for (int64_t i = 0; i < per_channel; ++i) dst[i] = (src[i] - mean) * inv;
  }
  return mu;
}

void WanVAE::decode_stream(const ComputeContext& ctx, const Tensor& latent,
                           const std::function<void(const Tensor&)>& sink) const {
  const int64_t z = config_.z_dim;
  if (latent.rank() != 4 || latent.dim(0) != z || latent.dtype() != DType::F32)
    fail("Wan VAE decode: expected an f32 latent [", z, ", T, h, w], got ", latent.shape().str());
  const Modules& m = *m_;
  const int64_t t = latent.dim(1), per_channel = t * latent.dim(2) * latent.dim(3);
  Tensor raw = Tensor::empty({1, z, t, latent.dim(2), latent.dim(3)}, DType::F32);
  for (int64_t c = 0; c < z; ++c) {
    // z / (1/std) + mean: division by the stored reciprocal, as the reference (spec 5.6).
    const float mean = kWan21LatentMean[size_t(c)];
    const float inv = 1.0f / kWan21LatentStd[size_t(c)];
    const float* src = latent.data<float>() + c * per_channel;
    float* dst = raw.mutable_data<float>() + c * per_channel;
    for (int64_t i = 0; i < per_channel; ++i) dst[i] = src[i] / inv + mean;
  }
  Tensor x = m.conv2(ctx, raw, nullptr);
  FrameCache::State state(m.cache_layout);
  int64_t first = 0;
  for (int64_t f = 0; f < t; ++f) {
    Tensor h = m.dec_conv1(ctx, frames(x, f, f + 1), &state);
    h = m.run_layers(ctx, m.dec_middle, h, state);
    h = m.run_layers(ctx, m.dec_up, h, state);
    h = m.run_head(ctx, m.dec_head_gamma, m.dec_head, h, state);
    const float* v = h.data<float>();
    for (int64_t i = 0, n = h.numel(); i < n; ++i)
      if (!std::isfinite(v[i]))
        throw NonFiniteError(str_cat("the VAE decoder produced a non-finite value (", v[i],
                                     ") in frames ", first, " to ", first + h.dim(2) - 1,
                                     " (latent frame ", f, ")"));
    cpu::clamp(ctx, h, -1.0f, 1.0f, h);
    first += h.dim(2);
    sink(h.reshape({3, h.dim(2), h.dim(3), h.dim(4)}));
  }
}

Tensor WanVAE::decode(const ComputeContext& ctx, const Tensor& latent,
                      const std::function<void(int64_t, int64_t)>& on_frame) const {
  std::vector<Tensor> chunks;
  const int64_t t = latent.rank() == 4 ? latent.dim(1) : 0;
  decode_stream(ctx, latent, [&](const Tensor& frames) {
    chunks.push_back(frames.reshape({1, 3, frames.dim(1), frames.dim(2), frames.dim(3)}));
    if (on_frame) on_frame(int64_t(chunks.size()), t);
  });
  Tensor video = cat_frames(chunks);
  return video.reshape({3, video.dim(2), video.dim(3), video.dim(4)});
}

}  // namespace kinema
