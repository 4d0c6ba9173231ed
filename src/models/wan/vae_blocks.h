// The blocks the Wan2.1 and Wan2.2 VAEs share (wan-spec 5.2, docs/wan22-spec.md section 4): causal
// convolutions with a FrameCache slot, the residual block, the per-frame attention block and the
// resamplers, each bound from a weight table by its module path; and the Trunk: the blocks around
// the stages with the chunked encode and decode loops, the latent normalisation and the check of
// the decoder's output. Each VAE adds its own stages. f32 throughout.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/parallel.h"
#include "core/tensor.h"
#include "kernels/cpu/conv.h"
#include "models/wan/frame_cache.h"
#include "models/weight_table.h"

namespace kinema::wan_vae {

// A CausalConv3d: 2*pt zero frames in front, or the frames its slot cached from the last chunk.
struct CausalConv {
  std::unique_ptr<cpu::Conv> conv;
  int slot = -1;  // -1: no temporal history (kernel 1 in time)

  // x: [1, I, t, H, W] -> [1, O, t, H, W]
  Tensor operator()(const ComputeContext& ctx, const Tensor& x, FrameCache::State* state) const;
};

// RMS_norm -> SiLU -> conv -> RMS_norm -> SiLU -> conv, plus x or a 1x1x1 shortcut conv.
struct ResBlock {
  Tensor gamma1, gamma2;
  CausalConv conv1, conv2, shortcut;
  // x: [1, Cin, t, H, W] -> [1, Cout, t, H, W]
  Tensor forward(const ComputeContext& ctx, const Tensor& x, FrameCache::State& s) const;
};

// Single-head self-attention over each frame's H*W positions, plus x.
struct AttnBlock {
  Tensor gamma;
  std::unique_ptr<cpu::Conv> to_qkv, proj;
  // x: [1, C, t, H, W] -> [1, C, t, H, W]
  Tensor forward(const ComputeContext& ctx, const Tensor& x) const;
};

// Spatial 2x resampling per frame, with the temporal conv of the 3-D modes (wan-spec 5.5).
struct Resample {
  enum Mode { Up2d, Up3d, Down2d, Down3d } mode;
  std::unique_ptr<cpu::Conv> spatial;
  CausalConv time_conv;             // Up3d
  std::unique_ptr<cpu::Conv> down;  // Down3d time conv (stride 2, no padding)
  int slot = -1;
  // Up: [1, C, t, H, W] -> [1, C', t or 2t, 2H, 2W]; down: -> [1, C, t or ~t/2, H/2, W/2]
  Tensor forward(const ComputeContext& ctx, Tensor x, FrameCache::State& s) const;
};

// One entry of a block list: exactly one of the three is set.
struct Layer {
  std::unique_ptr<ResBlock> res;
  std::unique_ptr<AttnBlock> attn;
  std::unique_ptr<Resample> resample;
};
Tensor run_layers(const ComputeContext& ctx, const std::vector<Layer>& layers, Tensor x,
                  FrameCache::State& s);

// RMS_norm -> SiLU -> causal conv: the encoder's and decoder's output heads.
struct Head {
  Tensor gamma;
  CausalConv conv;
  Tensor forward(const ComputeContext& ctx, const Tensor& x, FrameCache::State& s) const;
};

// Builds blocks from bound weights, registering their temporal slots in one FrameCache.
class BlockBuilder {
 public:
  BlockBuilder(const BoundWeights& w, FrameCache& cache) : w_(w), cache_(cache) {}
  CausalConv causal(const std::string& path, int64_t pad);
  std::unique_ptr<ResBlock> res_block(const std::string& path);
  std::unique_ptr<AttnBlock> attn_block(const std::string& path);
  std::unique_ptr<Resample> resample(const std::string& path, Resample::Mode mode);
  Head head(const std::string& path);
  // path.middle.{0,1,2}: residual, attention, residual.
  void middle(const std::string& path, std::vector<Layer>& out);

 private:
  const BoundWeights& w_;
  FrameCache& cache_;
};

// What both VAEs have around their stages, and their chunked encode and decode loops (wan-spec
// 5.5): the first convs, the middles, the heads, the 1x1x1 convs on the latent (conv1 after the
// encoder, conv2 before the decoder), the latent normalisation and the FrameCache layout.
struct Trunk {
  FrameCache cache_layout;
  CausalConv enc_conv1, dec_conv1, conv1, conv2;
  std::vector<Layer> enc_middle, dec_middle;
  Head enc_head, dec_head;
  std::span<const float> mean, std;  // per latent channel

  // Builds the blocks above from their official paths.
  void build(BlockBuilder& b);

  // Runs one chunk through a VAE's stages: the encoder's downsampling ones, or the decoder's
  // upsampling ones (first_chunk: latent frame 0).
  using EncoderStages = std::function<Tensor(const Tensor& x, FrameCache::State& s)>;
  using DecoderStages =
      std::function<Tensor(const Tensor& x, FrameCache::State& s, bool first_chunk)>;

  // x: [1, C, F, H, W], F = 1 + n*step, encoded frame 0 alone then `step` frames per chunk ->
  // the normalised latent mean [z, 1 + n, h, w].
  Tensor encode(const ComputeContext& ctx, const Tensor& x, int64_t step,
                const EncoderStages& stages) const;
  // latent: [z, T, h, w] normalised, decoded one latent frame per chunk; `to_pixels` turns the
  // head's output into [1, 3, n, H, W] frames, which are checked, clamped to [-1, 1] and given
  // to `sink` as [3, n, H, W].
  void decode(const ComputeContext& ctx, const Tensor& latent, const DecoderStages& stages,
              const std::function<Tensor(const Tensor&)>& to_pixels,
              const std::function<void(const Tensor&)>& sink) const;
};

// Runs a streaming decode of `total` latent frames and concatenates its chunks into one
// [3, F, H, W] video, calling on_frame(done, total) after each latent frame.
Tensor collect_frames(
    int64_t total,
    const std::function<void(const std::function<void(const Tensor&)>& sink)>& decode_stream,
    const std::function<void(int64_t done, int64_t total)>& on_frame);

}  // namespace kinema::wan_vae
