// The temporal state of one Wan VAE encode or decode (wan-spec 5.5): the VAE runs chunk by chunk
// (frame 0, then 4 frames per chunk when encoding; one latent frame per chunk when decoding) and
// each causal convolution carries the input frames it needs from the previous chunk.
#pragma once

#include <vector>

#include "core/tensor.h"

namespace kinema {

// Frames [begin, end) of a [N, C, T, H, W] f32 tensor, copied into a new contiguous tensor.
Tensor frames(const Tensor& x, int64_t begin, int64_t end);
// Concatenates [N, C, Ti, H, W] f32 tensors along time.
Tensor cat_frames(const std::vector<Tensor>& parts);

class FrameCache {
 public:
  // Kinds of slot, one per causal module.
  enum class Kind {
    Conv,        // an ordinary causal conv: history = the last two input frames seen
    Upsample,    // upsample3d's time_conv: skips the first chunk, then history from zeros
    Downsample,  // downsample3d's time_conv: history = the last frame seen
  };

  // Registers a slot at model construction; returns its index.
  int add_slot(Kind kind) {
    kinds_.push_back(kind);
    return int(kinds_.size() - 1);
  }
  int slots() const { return int(kinds_.size()); }

  // The per-pass state: fresh for every encode or decode.
  class State {
   public:
    explicit State(const FrameCache& layout);

    // Conv slot: the history to prepend to `chunk` (undefined on the first chunk); records the
    // chunk's last two frames (with the previous last frame in front when the chunk has one).
    Tensor conv_history(int slot, const Tensor& chunk);
    // Upsample slot: false on the first chunk (the module passes it through untouched);
    // afterwards true, with `history` set to the frames to prepend (undefined = zeros) and the
    // state advanced as for a conv slot whose history starts from zeros.
    bool upsample_history(int slot, const Tensor& chunk, Tensor* history);
    // Downsample slot: the last frame of the previous chunk (undefined on the first chunk);
    // records this chunk's last frame.
    Tensor downsample_history(int slot, const Tensor& chunk);

   private:
    struct Slot {
      Tensor frames;
      bool started = false;
    };
    const FrameCache* layout_;
    std::vector<Slot> slots_;
  };

 private:
  std::vector<Kind> kinds_;
};

}  // namespace kinema
