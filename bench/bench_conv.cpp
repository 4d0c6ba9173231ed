// The Wan VAE decoder's convolutions through cpu::Conv (oneDNN), in GFLOP/s and as a fraction
// of this machine's f32 FMA peak (bench/peak.h).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "core/cpu.h"
#include "core/parallel.h"
#include "kernels/cpu/conv.h"
#include "peak.h"

namespace kinema {
namespace {

Tensor random_tensor(const Shape& shape, float scale) {
  Tensor t = Tensor::empty(shape, DType::F32);
  float* p = t.mutable_data<float>();
  uint32_t state = 12345;
  for (int64_t i = 0; i < t.numel(); ++i) {
    state = state * 1664525u + 1013904223u;
    p[i] = scale * (float(state >> 8) / float(1 << 24) - 0.5f);
  }
  return t;
}

// A causal 3x3x3 convolution C -> C over `frames` frames of h x w, as in the decoder's residual
// blocks (output frames = input frames). The fifth argument is the number of cached frames of
// the previous chunk it also reads (the decoder passes 2; 0 pads with zeros instead).
void BM_CausalConv3d(benchmark::State& state) {
  const int64_t c = state.range(0), frames = state.range(1), h = state.range(2), w = state.range(3),
                history_frames = state.range(4);
  ComputeContext ctx = ComputeContext::with_threads(0);
  Tensor weight = random_tensor({c, c, 3, 3, 3}, 0.02f);
  Tensor bias = random_tensor({c}, 0.1f);
  Tensor x = random_tensor({1, c, frames, h, w}, 1.0f);
  Tensor history =
      history_frames > 0 ? random_tensor({1, c, history_frames, h, w}, 1.0f) : Tensor();
  cpu::Conv conv(weight, bias, cpu::ConvParams::causal3d(1, 1, 1));
  Tensor out = Tensor::empty(conv.output_shape(x.shape(), history_frames), DType::F32);
  conv.forward_into(ctx, x, history, out);  // plan and weight reorder outside the timing
  auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    conv.forward_into(ctx, x, history, out);
    benchmark::DoNotOptimize(out.raw());
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // Only the temporal taps that read real frames count: without history the first output frames
  // read causal zero padding, which oneDNN skips.
  const int64_t padded = std::max<int64_t>(0, 2 - history_frames);
  int64_t taps = 0;
  for (int64_t t = 0; t < frames; ++t) taps += 3 - std::max<int64_t>(0, padded - t);
  const double gflop = 2.0 * double(c) * double(c) * 9 * double(taps) * double(h * w) / 1e9;
  const double peak = bench::peak_gflops(bench::PeakUnit::F32Fma, ctx.threads);
  state.counters["GFLOP/s"] =
      benchmark::Counter(gflop, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["peak_GFLOP/s"] = peak;
  state.counters["of_peak"] = gflop * double(state.iterations()) / seconds / peak;
  state.counters["threads"] = ctx.threads;
  state.SetLabel(conv.implementation());
}

// 384 channels at the decoder's first upsampling level for 480x272 output (34x60 latent
// positions), 4 frames; 96 channels at its last level, a quarter of a 480p frame.
BENCHMARK(BM_CausalConv3d)
    ->Args({384, 4, 34, 60, 0})
    ->Args({96, 4, 68, 120, 0})
    ->Args({384, 4, 34, 60, 2})
    ->Args({96, 4, 68, 120, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace kinema
