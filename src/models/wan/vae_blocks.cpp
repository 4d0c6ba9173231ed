#include "models/wan/vae_blocks.h"

#include <cmath>
#include <cstring>

#include "kernels/cpu/attention.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/norm.h"
#include "kernels/cpu/upsample.h"

namespace kinema::wan_vae {
namespace {

using cpu::Conv;
using cpu::ConvParams;

Tensor as_f32(const Tensor& t) { return t.dtype() == DType::F32 ? t : t.to(DType::F32); }

Tensor flat_gamma(const Tensor& g) {
  Tensor f = as_f32(g);
  return f.reshape({f.numel()});
}

// A Conv2d weight [O, I, kh, kw] seen as a Conv3d weight [O, I, 1, kh, kw]: a per-frame 2-D conv.
Tensor per_frame_weight(const Tensor& w) {
  return w.reshape({w.dim(0), w.dim(1), 1, w.dim(2), w.dim(3)});
}

}  // namespace

Tensor CausalConv::operator()(const ComputeContext& ctx, const Tensor& x,
                              FrameCache::State* state) const {
  Tensor history = slot >= 0 && state ? state->conv_history(slot, x) : Tensor();
  return conv->forward(ctx, x, history);
}

Tensor ResBlock::forward(const ComputeContext& ctx, const Tensor& x, FrameCache::State& s) const {
  Tensor h = shortcut.conv ? shortcut(ctx, x, nullptr) : x;
  Tensor r = Tensor::empty(x.shape(), DType::F32);
  cpu::channel_rms_norm(ctx, x, gamma1, cpu::ChannelNormAct::Silu, r);
  r = conv1(ctx, r, &s);
  Tensor r2 = Tensor::empty(r.shape(), DType::F32);
  cpu::channel_rms_norm(ctx, r, gamma2, cpu::ChannelNormAct::Silu, r2);
  r = conv2(ctx, r2, &s);
  cpu::add(ctx, r, h, r);
  return r;
}

Tensor AttnBlock::forward(const ComputeContext& ctx, const Tensor& x) const {
  const int64_t c = x.dim(1), t = x.dim(2), hw = x.dim(3) * x.dim(4);
  Tensor n = Tensor::empty(x.shape(), DType::F32);
  cpu::channel_rms_norm(ctx, x, gamma, cpu::ChannelNormAct::None, n);
  Tensor qkv = to_qkv->forward(ctx, n);  // [1, 3C, T, H, W]
  Tensor q = Tensor::empty({hw, 1, c}, DType::F32), k = Tensor::empty({hw, 1, c}, DType::F32),
         v = Tensor::empty({hw, 1, c}, DType::F32), o = Tensor::empty({hw, 1, c}, DType::F32);
  Tensor attended = Tensor::empty(x.shape(), DType::F32);
  const float* src = qkv.data<float>();
  float* dst = attended.mutable_data<float>();
  for (int64_t f = 0; f < t; ++f) {
    // channel-first [3C, T, HW] -> token-major [HW, C] for q, k, v
    float* targets[3] = {q.mutable_data<float>(), k.mutable_data<float>(), v.mutable_data<float>()};
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
  Tensor y = proj->forward(ctx, attended);
  cpu::add(ctx, y, x, y);
  return y;
}

Tensor Resample::forward(const ComputeContext& ctx, Tensor x, FrameCache::State& s) const {
  if (mode == Up3d) {
    Tensor history;
    if (s.upsample_history(slot, x, &history)) {
      Tensor y = time_conv.conv->forward(ctx, x, history);  // [1, 2C, t, H, W]
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
  if (mode == Up2d || mode == Up3d) x = cpu::upsample_nearest2x(ctx, x);
  x = spatial->forward(ctx, x);
  if (mode == Down3d) {
    Tensor history = s.downsample_history(slot, x);
    if (history.defined()) x = down->forward(ctx, cat_frames({history, x}));
  }
  return x;
}

Tensor run_layers(const ComputeContext& ctx, const std::vector<Layer>& layers, Tensor x,
                  FrameCache::State& s) {
  for (const Layer& l : layers) {
    if (l.res)
      x = l.res->forward(ctx, x, s);
    else if (l.attn)
      x = l.attn->forward(ctx, x);
    else
      x = l.resample->forward(ctx, x, s);
  }
  return x;
}

Tensor Head::forward(const ComputeContext& ctx, const Tensor& x, FrameCache::State& s) const {
  Tensor n = Tensor::empty(x.shape(), DType::F32);
  cpu::channel_rms_norm(ctx, x, gamma, cpu::ChannelNormAct::Silu, n);
  return conv(ctx, n, &s);
}

CausalConv BlockBuilder::causal(const std::string& p, int64_t pad) {
  CausalConv c;
  c.conv = std::make_unique<Conv>(as_f32(w_.get(p + ".weight")), as_f32(w_.get(p + ".bias")),
                                  ConvParams::causal3d(pad, pad, pad));
  if (pad > 0) c.slot = cache_.add_slot(FrameCache::Kind::Conv);
  return c;
}

std::unique_ptr<ResBlock> BlockBuilder::res_block(const std::string& p) {
  auto b = std::make_unique<ResBlock>();
  b->gamma1 = flat_gamma(w_.get(p + ".residual.0.gamma"));
  b->conv1 = causal(p + ".residual.2", 1);
  b->gamma2 = flat_gamma(w_.get(p + ".residual.3.gamma"));
  b->conv2 = causal(p + ".residual.6", 1);
  if (w_.has(p + ".shortcut.weight")) b->shortcut = causal(p + ".shortcut", 0);
  return b;
}

std::unique_ptr<AttnBlock> BlockBuilder::attn_block(const std::string& p) {
  auto a = std::make_unique<AttnBlock>();
  a->gamma = flat_gamma(w_.get(p + ".norm.gamma"));
  a->to_qkv = std::make_unique<Conv>(per_frame_weight(as_f32(w_.get(p + ".to_qkv.weight"))),
                                     as_f32(w_.get(p + ".to_qkv.bias")), ConvParams{});
  a->proj = std::make_unique<Conv>(per_frame_weight(as_f32(w_.get(p + ".proj.weight"))),
                                   as_f32(w_.get(p + ".proj.bias")), ConvParams{});
  return a;
}

std::unique_ptr<Resample> BlockBuilder::resample(const std::string& p, Resample::Mode mode) {
  auto r = std::make_unique<Resample>();
  r->mode = mode;
  Tensor weight = per_frame_weight(as_f32(w_.get(p + ".resample.1.weight")));
  Tensor bias = as_f32(w_.get(p + ".resample.1.bias"));
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
    r->time_conv.conv = std::make_unique<Conv>(as_f32(w_.get(p + ".time_conv.weight")),
                                               as_f32(w_.get(p + ".time_conv.bias")),
                                               ConvParams::causal3d(1, 0, 0));
    r->slot = cache_.add_slot(FrameCache::Kind::Upsample);
  } else if (mode == Resample::Down3d) {
    ConvParams down;
    down.stride = {2, 1, 1};
    r->down = std::make_unique<Conv>(as_f32(w_.get(p + ".time_conv.weight")),
                                     as_f32(w_.get(p + ".time_conv.bias")), down);
    r->slot = cache_.add_slot(FrameCache::Kind::Downsample);
  }
  return r;
}

Head BlockBuilder::head(const std::string& p) {
  Head h;
  h.gamma = flat_gamma(w_.get(p + ".0.gamma"));
  h.conv = causal(p + ".2", 1);
  return h;
}

void BlockBuilder::middle(const std::string& p, std::vector<Layer>& out) {
  out.push_back({res_block(p + ".middle.0"), nullptr, nullptr});
  out.push_back({nullptr, attn_block(p + ".middle.1"), nullptr});
  out.push_back({res_block(p + ".middle.2"), nullptr, nullptr});
}

namespace {

// Encode: moments [1, 2z, T, h, w] -> the normalised mean (mu - mean) * (1/std): [z, T, h, w].
Tensor normalize_latent(const Tensor& moments, std::span<const float> mean,
                        std::span<const float> std) {
  const int64_t z = int64_t(mean.size());
  KINEMA_CHECK(moments.rank() == 5 && moments.dim(1) == 2 * z && std.size() == mean.size());
  Tensor mu = Tensor::empty({z, moments.dim(2), moments.dim(3), moments.dim(4)}, DType::F32);
  const int64_t per_channel = moments.dim(2) * moments.dim(3) * moments.dim(4);
  for (int64_t c = 0; c < z; ++c) {
    const float m = mean[size_t(c)], inv = 1.0f / std[size_t(c)];
    const float* src = moments.data<float>() + c * per_channel;  // channels [0, z): the mean
    float* dst = mu.mutable_data<float>() + c * per_channel;
    for (int64_t i = 0; i < per_channel; ++i) dst[i] = (src[i] - m) * inv;
  }
  return mu;
}

// Decode: latent [z, T, h, w] -> z / (1/std) + mean (division by the stored reciprocal, as the
// reference, wan-spec 5.6): [1, z, T, h, w].
Tensor denormalize_latent(const Tensor& latent, std::span<const float> mean,
                          std::span<const float> std) {
  const int64_t z = int64_t(mean.size());
  KINEMA_CHECK(latent.rank() == 4 && latent.dim(0) == z && std.size() == mean.size());
  const int64_t t = latent.dim(1), per_channel = t * latent.dim(2) * latent.dim(3);
  Tensor raw = Tensor::empty({1, z, t, latent.dim(2), latent.dim(3)}, DType::F32);
  for (int64_t c = 0; c < z; ++c) {
    const float m = mean[size_t(c)], inv = 1.0f / std[size_t(c)];
    const float* src = latent.data<float>() + c * per_channel;
    float* dst = raw.mutable_data<float>() + c * per_channel;
    for (int64_t i = 0; i < per_channel; ++i) dst[i] = src[i] / inv + m;
  }
  return raw;
}

// A non-finite value in decoded frames [first, first + n) of latent frame f is an error naming
// them (clamping would turn a NaN into a silent black pixel); then clamps to [-1, 1] in place.
void check_and_clamp_frames(const ComputeContext& ctx, Tensor& frames, int64_t first,
                            int64_t latent_frame) {
  const float* v = frames.data<float>();
  for (int64_t i = 0, n = frames.numel(); i < n; ++i)
    if (!std::isfinite(v[i]))
      throw NonFiniteError(str_cat("the VAE decoder produced a non-finite value (", v[i],
                                   ") in frames ", first, " to ", first + frames.dim(2) - 1,
                                   " (latent frame ", latent_frame, ")"));
  cpu::clamp(ctx, frames, -1.0f, 1.0f, frames);
}

}  // namespace

void Trunk::build(BlockBuilder& b) {
  enc_conv1 = b.causal("encoder.conv1", 1);
  b.middle("encoder", enc_middle);
  enc_head = b.head("encoder.head");
  conv1 = b.causal("conv1", 0);
  conv2 = b.causal("conv2", 0);
  dec_conv1 = b.causal("decoder.conv1", 1);
  b.middle("decoder", dec_middle);
  dec_head = b.head("decoder.head");
}

Tensor Trunk::encode(const ComputeContext& ctx, const Tensor& x, int64_t step,
                     const EncoderStages& stages) const {
  FrameCache::State state(cache_layout);
  std::vector<Tensor> chunks;
  for (int64_t start = 0; start < x.dim(2); start = start == 0 ? 1 : start + step) {
    Tensor h = enc_conv1(ctx, frames(x, start, start == 0 ? 1 : start + step), &state);
    h = run_layers(ctx, enc_middle, stages(h, state), state);
    chunks.push_back(enc_head.forward(ctx, h, state));
  }
  Tensor moments = conv1(ctx, cat_frames(chunks), nullptr);  // [1, 2z, T, h, w]: mean, log-var
  return normalize_latent(moments, mean, std);
}

void Trunk::decode(const ComputeContext& ctx, const Tensor& latent, const DecoderStages& stages,
                   const std::function<Tensor(const Tensor&)>& to_pixels,
                   const std::function<void(const Tensor&)>& sink) const {
  Tensor x = conv2(ctx, denormalize_latent(latent, mean, std), nullptr);
  FrameCache::State state(cache_layout);
  int64_t first = 0;
  for (int64_t f = 0; f < latent.dim(1); ++f) {
    Tensor h = dec_conv1(ctx, frames(x, f, f + 1), &state);
    h = stages(run_layers(ctx, dec_middle, h, state), state, f == 0);
    Tensor video = to_pixels(dec_head.forward(ctx, h, state));
    check_and_clamp_frames(ctx, video, first, f);
    first += video.dim(2);
    sink(video.reshape({3, video.dim(2), video.dim(3), video.dim(4)}));
  }
}

Tensor collect_frames(
    int64_t total,
    const std::function<void(const std::function<void(const Tensor&)>& sink)>& decode_stream,
    const std::function<void(int64_t done, int64_t total)>& on_frame) {
  std::vector<Tensor> chunks;
  decode_stream([&](const Tensor& frames) {
    chunks.push_back(frames.reshape({1, 3, frames.dim(1), frames.dim(2), frames.dim(3)}));
    if (on_frame) on_frame(int64_t(chunks.size()), total);
  });
  Tensor video = cat_frames(chunks);
  return video.reshape({3, video.dim(2), video.dim(3), video.dim(4)});
}

}  // namespace kinema::wan_vae
