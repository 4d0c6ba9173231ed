// The Wan VAE decoder's convolutions through cpu::Conv (oneDNN), in GFLOP/s and as a fraction
// of this machine's f32 FMA peak, measured here with a register-only FMA loop.
#include <benchmark/benchmark.h>
#include <immintrin.h>
#include <omp.h>

#include <chrono>
#include <vector>

#include "core/cpu.h"
#include "core/parallel.h"
#include "kernels/cpu/conv.h"

namespace kinema {
namespace {

// Independent FMA chains, enough to cover both pipes' latency; values stay finite.
constexpr int kChains = 12;

__attribute__((target("avx512f"))) float fma_loop_avx512(int64_t iters) {
  __m512 acc[kChains];
  for (int j = 0; j < kChains; ++j) acc[j] = _mm512_set1_ps(float(j));
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-6f);
  for (int64_t i = 0; i < iters; ++i)
    for (int j = 0; j < kChains; ++j) acc[j] = _mm512_fmadd_ps(acc[j], a, b);
  float out[16], sum = 0;
  for (int j = 0; j < kChains; ++j) {
    _mm512_storeu_ps(out, acc[j]);
    sum += out[0];
  }
  return sum;
}

__attribute__((target("avx2,fma"))) float fma_loop_avx2(int64_t iters) {
  __m256 acc[kChains];
  for (int j = 0; j < kChains; ++j) acc[j] = _mm256_set1_ps(float(j));
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-6f);
  for (int64_t i = 0; i < iters; ++i)
    for (int j = 0; j < kChains; ++j) acc[j] = _mm256_fmadd_ps(acc[j], a, b);
  float out[8], sum = 0;
  for (int j = 0; j < kChains; ++j) {
    _mm256_storeu_ps(out, acc[j]);
    sum += out[0];
  }
  return sum;
}

// f32 FMA GFLOP/s of `threads` threads running the loop at once. Measured right after each
// benchmark run, so that both numbers see the same machine load.
double fma_peak_gflops(int threads) {
  const bool avx512 = detected_isa() >= Isa::Avx512;
  const int lanes = avx512 ? 16 : 8;
  const int64_t iters = 20'000'000;
  volatile float sink = 0;
  auto start = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads)
  {
    float s = avx512 ? fma_loop_avx512(iters) : fma_loop_avx2(iters);
#pragma omp critical
    sink = sink + s;
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return 2.0 * lanes * kChains * double(iters) * threads / seconds / 1e9;
}

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
// blocks (output frames = input frames).
void BM_CausalConv3d(benchmark::State& state) {
  const int64_t c = state.range(0), frames = state.range(1), h = state.range(2), w = state.range(3);
  ComputeContext ctx = ComputeContext::with_threads(0);
  Tensor weight = random_tensor({c, c, 3, 3, 3}, 0.02f);
  Tensor bias = random_tensor({c}, 0.1f);
  Tensor x = random_tensor({1, c, frames, h, w}, 1.0f);
  cpu::Conv conv(weight, bias, cpu::ConvParams::causal3d(1, 1, 1));
  Tensor out = Tensor::empty(conv.output_shape(x.shape()), DType::F32);
  conv.forward_into(ctx, x, Tensor(), out);  // plan and weight reorder outside the timing
  auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    conv.forward_into(ctx, x, Tensor(), out);
    benchmark::DoNotOptimize(out.raw());
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double gflop = 2.0 * double(c) * double(c) * 27 * double(out.numel() / c) / 1e9;
  const double peak = fma_peak_gflops(ctx.threads);
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
    ->Args({384, 4, 34, 60})
    ->Args({96, 4, 68, 120})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace kinema
