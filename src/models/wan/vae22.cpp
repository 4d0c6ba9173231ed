#include "models/wan/vae22.h"

#include "core/error.h"
#include "kernels/cpu/elementwise.h"
#include "models/wan/vae_blocks.h"
#include "models/wan/vae_config.h"

namespace kinema {
namespace {

using wan_vae::Layer;

constexpr int kPatch = 2;

// Calls copy(pixel index, patch index) for every element of [1, C, T, 2h, 2w] pixels and
// [1, 4C, T, h, w] patches: channel c*4 + 2*r + q holds pixel (2i + q, 2j + r) of channel c.
template <class Copy>
void for_each_patch_element(const ComputeContext& ctx, int64_t colours, int64_t t, int64_t h,
                            int64_t w, Copy copy) {
  parallel_for(ctx, colours * kPatch * kPatch * t, 1, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t frame = item % t, ch = item / t;
      const int64_t c = ch / 4, r = (ch / 2) % 2, q = ch % 2;
      const int64_t patch = (ch * t + frame) * h * w, W = w * kPatch;
      const int64_t pixel = (c * t + frame) * h * kPatch * W;
      for (int64_t i = 0; i < h; ++i)
        for (int64_t j = 0; j < w; ++j)
          copy(pixel + (kPatch * i + q) * W + kPatch * j + r, patch + i * w + j);
    }
  });
}

// The encoder stages' shortcut (AvgDown3D): zero frames in front up to a multiple of ft; each
// (ft, fs, fs) cell of channel c gives ft*fs*fs values ordered (time, row, column) at expanded
// channels c*ft*fs*fs + ...; consecutive groups of those are averaged down to `cout` channels.
// x: [1, C, T, H, W] -> [1, cout, ceil(T/ft), H/fs, W/fs]
Tensor avg_down(const ComputeContext& ctx, const Tensor& x, int64_t cout, int64_t ft, int64_t fs) {
  const int64_t c = x.dim(1), t = x.dim(2), h = x.dim(3), w = x.dim(4);
  const int64_t pad = (ft - t % ft) % ft, to = (t + pad) / ft, ho = h / fs, wo = w / fs;
  const int64_t cell = ft * fs * fs, group = c * cell / cout;
  Tensor out = Tensor::zeros({1, cout, to, ho, wo}, DType::F32);
  const float* src = x.data<float>();
  parallel_for(ctx, cout, 1, [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o) {
      float* dst = out.mutable_data<float>() + o * to * ho * wo;
      for (int64_t g = 0; g < group; ++g) {
        const int64_t k = o * group + g, ch = k / cell, a = (k % cell) / (fs * fs),
                      b = (k / fs) % fs, d = k % fs;
        for (int64_t tt = 0; tt < to; ++tt) {
          const int64_t frame = tt * ft + a - pad;
          if (frame < 0) continue;  // a zero frame
          const float* plane = src + (ch * t + frame) * h * w;
          float* row_out = dst + tt * ho * wo;
          for (int64_t i = 0; i < ho; ++i)
            for (int64_t j = 0; j < wo; ++j)
              row_out[i * wo + j] += plane[(i * fs + b) * w + j * fs + d];
        }
      }
      for (int64_t i = 0; i < to * ho * wo; ++i) dst[i] /= float(group);
    }
  });
  return out;
}

// The decoder stages' shortcut (DupUp3D): each channel repeated cout*ft*fs*fs/C times; the copies,
// in order, fill `cout` channels of (ft, fs, fs) cells ordered (time, row, column). The first chunk
// drops its first ft-1 frames. x: [1, C, T, h, w] -> [1, cout, T*ft (- ft+1), h*fs, w*fs]
Tensor dup_up(const ComputeContext& ctx, const Tensor& x, int64_t cout, int64_t ft, int64_t fs,
              bool first_chunk) {
  const int64_t c = x.dim(1), t = x.dim(2), h = x.dim(3), w = x.dim(4);
  const int64_t cell = ft * fs * fs, repeats = cout * cell / c, skip = first_chunk ? ft - 1 : 0;
  const int64_t to = t * ft - skip, ho = h * fs, wo = w * fs;
  Tensor out = Tensor::empty({1, cout, to, ho, wo}, DType::F32);
  const float* src = x.data<float>();
  parallel_for(ctx, cout, 1, [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o)
      for (int64_t f = 0; f < to; ++f) {
        const int64_t tt = (f + skip) / ft, a = (f + skip) % ft;
        float* dst = out.mutable_data<float>() + (o * to + f) * ho * wo;
        for (int64_t b = 0; b < fs; ++b)
          for (int64_t d = 0; d < fs; ++d) {
            const int64_t ch = (o * cell + (a * fs + b) * fs + d) / repeats;
            const float* plane = src + (ch * t + tt) * h * w;
            for (int64_t i = 0; i < h; ++i)
              for (int64_t j = 0; j < w; ++j)
                dst[(i * fs + b) * wo + j * fs + d] = plane[i * w + j];
          }
      }
  });
  return out;
}

}  // namespace

Tensor wan22_patchify(const ComputeContext& ctx, const Tensor& video) {
  KINEMA_CHECK(video.rank() == 5 && video.dim(0) == 1 && video.dtype() == DType::F32 &&
               video.dim(3) % kPatch == 0 && video.dim(4) % kPatch == 0);
  const int64_t c = video.dim(1), t = video.dim(2), h = video.dim(3) / kPatch,
                w = video.dim(4) / kPatch;
  Tensor out = Tensor::empty({1, c * kPatch * kPatch, t, h, w}, DType::F32);
  const float* src = video.data<float>();
  float* dst = out.mutable_data<float>();
  for_each_patch_element(ctx, c, t, h, w,
                         [&](int64_t pixel, int64_t patch) { dst[patch] = src[pixel]; });
  return out;
}

Tensor wan22_unpatchify(const ComputeContext& ctx, const Tensor& x) {
  KINEMA_CHECK(x.rank() == 5 && x.dim(0) == 1 && x.dtype() == DType::F32 &&
               x.dim(1) % (kPatch * kPatch) == 0);
  const int64_t c = x.dim(1) / (kPatch * kPatch), t = x.dim(2), h = x.dim(3), w = x.dim(4);
  Tensor out = Tensor::empty({1, c, t, h * kPatch, w * kPatch}, DType::F32);
  const float* src = x.data<float>();
  float* dst = out.mutable_data<float>();
  for_each_patch_element(ctx, c, t, h, w,
                         [&](int64_t pixel, int64_t patch) { dst[pixel] = src[patch]; });
  return out;
}

// An encoder stage: residual blocks, then (except the last) a downsample, plus avg_down of its
// input. A decoder stage: residual blocks, then (except the last) an upsample, plus dup_up of its
// input; the last decoder stage has no shortcut.
struct ResidualStage {
  std::vector<Layer> blocks;
  int64_t cout = 0, ft = 1, fs = 1;
  bool shortcut = false;
};

struct WanVAE22::Modules {
  wan_vae::Trunk trunk;
  std::vector<ResidualStage> down, up;
};

WanVAE22::WanVAE22(const WeightFile& file, const WanVAE22Config& config)
    : config_(config), m_(std::make_unique<Modules>()) {
  BoundWeights w = bind_weights(file, "Wan2.2 VAE", wan_vae22_tensors(config),
                                wan_vae22_layouts(config), wan_vae_prefixes());
  Modules& m = *m_;
  wan_vae::BlockBuilder b(w, m.trunk.cache_layout);
  m.trunk.build(b);
  m.trunk.mean = kWan22LatentMean;
  m.trunk.std = kWan22LatentStd;
  using Mode = wan_vae::Resample::Mode;
  const int last = config.stages() - 1;

  auto enc = config.encoder_dims();
  for (int i = 0; i <= last; ++i) {
    ResidualStage s;
    for (int r = 0; r < config.num_res_blocks; ++r)
      s.blocks.push_back({b.res_block(wan_vae22_block(true, i, r)), nullptr, nullptr});
    const bool temporal = config.temporal(i);
    if (i != last)
      s.blocks.push_back({nullptr, nullptr,
                          b.resample(wan_vae22_block(true, i, config.num_res_blocks),
                                     temporal ? Mode::Down3d : Mode::Down2d)});
    s.cout = enc[size_t(i) + 1];
    s.ft = temporal ? 2 : 1;
    s.fs = i != last ? 2 : 1;
    s.shortcut = true;  // the last stage's is the identity (groups of one), kept as the reference
    m.down.push_back(std::move(s));
  }
  auto dec = config.decoder_dims();
  for (int i = 0; i <= last; ++i) {
    ResidualStage s;
    for (int r = 0; r <= config.num_res_blocks; ++r)
      s.blocks.push_back({b.res_block(wan_vae22_block(false, i, r)), nullptr, nullptr});
    const bool temporal = config.temporal(last - 1 - i);
    if (i != last)
      s.blocks.push_back({nullptr, nullptr,
                          b.resample(wan_vae22_block(false, i, config.num_res_blocks + 1),
                                     temporal ? Mode::Up3d : Mode::Up2d)});
    s.cout = dec[size_t(i) + 1];
    s.ft = temporal ? 2 : 1;
    s.fs = 2;
    s.shortcut = i != last;
    m.up.push_back(std::move(s));
  }
}

WanVAE22::~WanVAE22() = default;

Tensor WanVAE22::encode(const ComputeContext& ctx, const Tensor& video) const {
  const int64_t stride = config_.space_stride();
  if (video.rank() != 4 || video.dim(0) != 3 || video.dtype() != DType::F32 ||
      (video.dim(1) - 1) % config_.time_stride() != 0 || video.dim(2) % stride ||
      video.dim(3) % stride || video.dim(2) == 0 || video.dim(3) == 0)
    fail("Wan2.2 VAE encode: expected an f32 video [3, 4n+1, H, W] with H, W multiples of ", stride,
         ", got ", video.shape().str());
  const Modules& m = *m_;
  Tensor x = wan22_patchify(ctx, video.reshape({1, 3, video.dim(1), video.dim(2), video.dim(3)}));
  return m.trunk.encode(ctx, x, config_.time_stride(), [&](Tensor h, FrameCache::State& state) {
    for (const ResidualStage& s : m.down) {
      Tensor main = wan_vae::run_layers(ctx, s.blocks, h, state);
      cpu::add(ctx, main, avg_down(ctx, h, s.cout, s.ft, s.fs), main);
      h = main;
    }
    return h;
  });
}

void WanVAE22::decode_stream(const ComputeContext& ctx, const Tensor& latent,
                             const std::function<void(const Tensor&)>& sink) const {
  const int64_t z = config_.z_dim;
  if (latent.rank() != 4 || latent.dim(0) != z || latent.dtype() != DType::F32 ||
      latent.numel() == 0)
    fail("Wan2.2 VAE decode: expected an f32 latent [", z, ", T, h, w], got ",
         latent.shape().str());
  const Modules& m = *m_;
  m.trunk.decode(
      ctx, latent,
      [&](Tensor h, FrameCache::State& state, bool first_chunk) {
        for (const ResidualStage& s : m.up) {
          Tensor main = wan_vae::run_layers(ctx, s.blocks, h, state);
          if (s.shortcut)
            cpu::add(ctx, main, dup_up(ctx, h, s.cout, s.ft, s.fs, first_chunk), main);
          h = main;
        }
        return h;
      },
      [&](const Tensor& head) { return wan22_unpatchify(ctx, head); }, sink);
}

Tensor WanVAE22::decode(const ComputeContext& ctx, const Tensor& latent,
                        const std::function<void(int64_t, int64_t)>& on_frame) const {
  return wan_vae::collect_frames(
      latent.rank() == 4 ? latent.dim(1) : 0,
      [&](const std::function<void(const Tensor&)>& sink) { decode_stream(ctx, latent, sink); },
      on_frame);
}

}  // namespace kinema
