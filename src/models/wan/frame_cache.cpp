#include "models/wan/frame_cache.h"

#include <cstring>

#include "core/error.h"

namespace kinema {

Tensor frames(const Tensor& x, int64_t begin, int64_t end) {
  if (x.rank() != 5 || x.dtype() != DType::F32 || begin < 0 || end > x.dim(2) || begin > end)
    fail("frames [", begin, ", ", end, ") of ", x.shape().str(), ": out of range or not 5-D f32");
  const int64_t n = x.dim(0), c = x.dim(1), t = x.dim(2), plane = x.dim(3) * x.dim(4);
  Tensor out = Tensor::empty({n, c, end - begin, x.dim(3), x.dim(4)}, DType::F32);
  const float* src = x.data<float>();
  float* dst = out.mutable_data<float>();
  const size_t bytes = size_t((end - begin) * plane) * 4;
  for (int64_t nc = 0; nc < n * c; ++nc)
    std::memcpy(dst + nc * (end - begin) * plane, src + (nc * t + begin) * plane, bytes);
  return out;
}

Tensor cat_frames(const std::vector<Tensor>& parts) {
  KINEMA_CHECK(!parts.empty());
  const Tensor& a = parts[0];
  int64_t total = 0;
  for (const Tensor& p : parts) {
    if (p.rank() != 5 || p.dtype() != DType::F32 || p.dim(0) != a.dim(0) || p.dim(1) != a.dim(1) ||
        p.dim(3) != a.dim(3) || p.dim(4) != a.dim(4))
      fail("cat_frames: ", a.shape().str(), " and ", p.shape().str(), " differ beyond time");
    total += p.dim(2);
  }
  const int64_t nc = a.dim(0) * a.dim(1), plane = a.dim(3) * a.dim(4);
  Tensor out = Tensor::empty({a.dim(0), a.dim(1), total, a.dim(3), a.dim(4)}, DType::F32);
  float* dst = out.mutable_data<float>();
  for (int64_t i = 0; i < nc; ++i)
    for (const Tensor& p : parts) {
      const int64_t n = p.dim(2) * plane;
      std::memcpy(dst, p.data<float>() + i * n, size_t(n) * 4);
      dst += n;
    }
  return out;
}

FrameCache::State::State(const FrameCache& layout)
    : layout_(&layout), slots_(size_t(layout.slots())) {}

namespace {

// The last two frames of `chunk`, with the previous history's last frame (or a zero frame) in
// front when the chunk has only one.
Tensor last_two(const Tensor& chunk, const Tensor& previous, bool zeros_if_none) {
  const int64_t t = chunk.dim(2);
  Tensor keep = frames(chunk, t >= 2 ? t - 2 : 0, t);
  if (t >= 2) return keep;
  if (previous.defined())
    return cat_frames({frames(previous, previous.dim(2) - 1, previous.dim(2)), keep});
  if (zeros_if_none) return cat_frames({Tensor::zeros(keep.shape(), DType::F32), keep});
  return keep;
}

}  // namespace

Tensor FrameCache::State::conv_history(int slot, const Tensor& chunk) {
  KINEMA_CHECK(layout_->kinds_[size_t(slot)] == Kind::Conv);
  Slot& s = slots_[size_t(slot)];
  Tensor history = s.frames;
  s.frames = last_two(chunk, history, false);
  return history;
}

bool FrameCache::State::upsample_history(int slot, const Tensor& chunk, Tensor* history) {
  KINEMA_CHECK(layout_->kinds_[size_t(slot)] == Kind::Upsample);
  Slot& s = slots_[size_t(slot)];
  if (!s.started) {
    s.started = true;  // frame 0 never enters the temporal conv
    return false;
  }
  *history = s.frames;
  s.frames = last_two(chunk, s.frames, true);
  return true;
}

Tensor FrameCache::State::downsample_history(int slot, const Tensor& chunk) {
  KINEMA_CHECK(layout_->kinds_[size_t(slot)] == Kind::Downsample);
  Slot& s = slots_[size_t(slot)];
  Tensor history = s.frames;
  s.frames = frames(chunk, chunk.dim(2) - 1, chunk.dim(2));
  return history;
}

}  // namespace kinema
