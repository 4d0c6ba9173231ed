// Attention throughput at Wan-1.3B shapes: self-attention over 4096 tokens (12 heads of 128)
// and cross-attention against the 512 text rows, bf16, on every fast path this processor has;
// the umT5 encoder's (512 tokens, 64 heads of 64, bf16 position bias, rounded logits); and the
// VAE's single-head f32 attention (head dim 384).
//
// Counters: GFLOP/s (4 * Lq * Lk * D * H per call; GFLOPs from the mean call, GFLOPs_best from
// the fastest) and the percentage of this processor's measured peaks on the same threads:
// pct_dp = vs vdpbf16ps, pct_fma = vs f32 FMA, pct_amx = vs AMX tdpbf16ps (each measured once,
// in-process, by a register-only loop below; attention_peak/* print them).
#include <benchmark/benchmark.h>
#include <immintrin.h>
#include <omp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/cpu.h"
#include "core/parallel.h"
#include "core/tensor.h"
#include "kernels/cpu/attention.h"

namespace kinema {
namespace {

// ---- peak loops (named apart from bench/peak.cpp's) ----

double attn_seconds_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The loops store their result into a volatile: a function without side effects could be
// moved out of the timed region.
volatile float attn_peak_sink;

// 12 independent accumulators hide the latency.
__attribute__((noinline, target("avx512f,avx512bf16"))) void attn_dpbf16_loop(int64_t iters) {
  __m512 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_ps(float(i) * 1e-3f);
  __m512bh a = reinterpret_cast<__m512bh>(_mm512_set1_epi16(0x3f80));
  __m512bh b = reinterpret_cast<__m512bh>(_mm512_set1_epi16(0x3a80));
  for (int64_t it = 0; it < iters; ++it)
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
  __m512 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm512_add_ps(s, acc[i]);
  float out[16];
  _mm512_storeu_ps(out, s);
  attn_peak_sink = out[0];
}

__attribute__((noinline, target("avx512f,fma"))) void attn_fma512_loop(int64_t iters) {
  __m512 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_ps(float(i) * 1e-3f);
  __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(1e-3f);
  for (int64_t it = 0; it < iters; ++it)
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  __m512 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm512_add_ps(s, acc[i]);
  float out[16];
  _mm512_storeu_ps(out, s);
  attn_peak_sink = out[0];
}

struct alignas(64) AttnTileConfig {
  uint8_t palette = 1, start_row = 0, reserved[14] = {};
  uint16_t colsb[16] = {64, 64, 64, 64, 64, 64, 64, 64};
  uint8_t rows[16] = {16, 16, 16, 16, 16, 16, 16, 16};
};

// Four independent 16x16 accumulators, A and B tiles reloaded never: the tdpbf16ps rate.
__attribute__((noinline, target("amx-tile,amx-bf16"))) void attn_amx_loop(int64_t iters) {
  static const AttnTileConfig cfg;
  alignas(64) static uint16_t ones[512];
  for (auto& x : ones) x = 0x3f80;
  alignas(64) float out[256];
  _tile_loadconfig(&cfg);
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  _tile_loadd(4, ones, 64);
  _tile_loadd(5, ones, 64);
  _tile_loadd(6, ones, 64);
  _tile_loadd(7, ones, 64);
  for (int64_t it = 0; it < iters; ++it) {
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  _tile_stored(0, out, 64);
  _tile_release();
  attn_peak_sink = out[0];
}

enum class AttnPeak { Dpbf16, Fma512, Amx };

// Asking for the AMX path also asks the kernel for the tile state this process needs.
bool attn_has_amx() {
  auto paths = cpu::attention_paths(DType::BF16);
  return std::find(paths.begin(), paths.end(), cpu::AttentionPath::Amx) != paths.end();
}

// GFLOP/s of `kind` on `threads` threads (0 if this processor lacks it), measured once.
double attn_peak_gflops(AttnPeak kind, int threads) {
  static double cache[3][64] = {};
  double& slot = cache[int(kind)][std::min(threads, 63)];
  if (slot != 0.0) return slot;
  const CpuFeatures& f = cpu_features();
  if ((kind == AttnPeak::Dpbf16 && !f.avx512bf16) || (kind == AttnPeak::Fma512 && !f.avx512f) ||
      (kind == AttnPeak::Amx && !attn_has_amx()))
    return slot = -1.0;
  // flops per iteration: 12 x 16 lanes x (2 pairs x 2) for vdpbf16ps, 12 x 16 x 2 for FMA,
  // 4 tiles x 16 x 16 x 32 x 2 for AMX.
  const double flops = kind == AttnPeak::Dpbf16 ? 768 : kind == AttnPeak::Fma512 ? 384 : 65536;
  const int64_t iters = kind == AttnPeak::Amx ? 200000 : 5000000;
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    double t0 = attn_seconds_now();
#pragma omp parallel num_threads(threads)
    {
      if (kind == AttnPeak::Dpbf16)
        attn_dpbf16_loop(iters);
      else if (kind == AttnPeak::Fma512)
        attn_fma512_loop(iters);
      else
        attn_amx_loop(iters);
    }
    best = std::max(best, flops * double(iters) * threads / (attn_seconds_now() - t0) / 1e9);
  }
  return slot = best;
}

// ---- attention benchmarks ----

Tensor attn_random(const Shape& shape, DType dtype, uint64_t seed) {
  std::vector<float> v(size_t(shape.numel()));
  uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
  for (auto& f : v) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    f = float(double(x >> 11) / double(1ull << 53) * 2.0 - 1.0) * 1.7f;
  }
  return Tensor::from_f32(shape, v.data(), dtype);
}

void attn_bench(benchmark::State& state, cpu::AttentionPath path, int64_t lq, int64_t lk,
                int64_t heads, int64_t d, DType dtype, bool umt5) {
  const int threads = hardware_threads();
  ComputeContext ctx = ComputeContext::with_threads(threads);
  Tensor q = attn_random({lq, heads, d}, dtype, 1), k = attn_random({lk, heads, d}, dtype, 2);
  Tensor v = attn_random({lk, heads, d}, dtype, 3), out = Tensor::empty({lq, heads, d}, dtype);
  cpu::AttentionOptions options;
  options.path = path;
  Tensor bias;
  if (umt5) {  // umT5: unscaled, a bf16 [H, Lq, Lk] bias, logits rounded to bf16
    bias = attn_random({heads, lq, lk}, DType::BF16, 4);
    options.scale = 1.0f;
    options.round_logits_bf16 = true;
    options.bias = {bias.raw(), DType::BF16, lq * lk, lk};
  }
  double total = 0, best = 1e30;
  int64_t calls = 0;
  for (auto _ : state) {
    double t0 = attn_seconds_now();
    cpu::attention(ctx, q, k, v, out, options);
    benchmark::DoNotOptimize(out.raw());
    double t = attn_seconds_now() - t0;
    total += t;
    best = std::min(best, t);
    ++calls;
  }
  const double flops = 4.0 * double(lq) * double(lk) * double(d) * double(heads);
  const double gflops = flops / (total / double(calls)) * 1e-9;
  state.counters["GFLOPs"] = gflops;                    // from the mean time per call
  state.counters["GFLOPs_best"] = flops / best * 1e-9;  // the fastest call (less noise)
  state.counters["threads"] = threads;
  // Percent of each peak on the same threads, from the mean.
  auto percent = [&](AttnPeak kind) {
    double peak = attn_peak_gflops(kind, threads);
    return peak > 0 ? 100.0 * gflops / peak : 0.0;
  };
  state.counters["pct_dp"] = percent(AttnPeak::Dpbf16);
  state.counters["pct_fma"] = percent(AttnPeak::Fma512);
  if (path == cpu::AttentionPath::Amx) state.counters["pct_amx"] = percent(AttnPeak::Amx);
}

void attn_peak_bench(benchmark::State& state, AttnPeak kind) {
  const int threads = hardware_threads();
  double gflops = 0;
  for (auto _ : state) gflops = attn_peak_gflops(kind, threads);
  state.counters["peak_GFLOPs"] = gflops;
  state.counters["threads"] = threads;
}

// Registers one benchmark per path that is fast enough for these shapes (not the generic one).
const bool attn_registered = [] {
  benchmark::RegisterBenchmark("attention_peak/dpbf16", attn_peak_bench, AttnPeak::Dpbf16)
      ->Iterations(1);
  benchmark::RegisterBenchmark("attention_peak/fma512", attn_peak_bench, AttnPeak::Fma512)
      ->Iterations(1);
  benchmark::RegisterBenchmark("attention_peak/amx", attn_peak_bench, AttnPeak::Amx)->Iterations(1);
  for (cpu::AttentionPath path : cpu::attention_paths(DType::BF16)) {
    if (path == cpu::AttentionPath::Generic) continue;
    std::string name(cpu::attention_path_name(path));
    benchmark::RegisterBenchmark(("attention_self_L4096_H12_D128_bf16/" + name).c_str(), attn_bench,
                                 path, 4096, 4096, 12, 128, DType::BF16, false)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
    benchmark::RegisterBenchmark(("attention_cross_Lq4096_Lk512_H12_D128_bf16/" + name).c_str(),
                                 attn_bench, path, 4096, 512, 12, 128, DType::BF16, false)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
    benchmark::RegisterBenchmark(("attention_umt5_L512_H64_D64_bias_bf16/" + name).c_str(),
                                 attn_bench, path, 512, 512, 64, 64, DType::BF16, true)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  }
  for (cpu::AttentionPath path : cpu::attention_paths(DType::F32)) {
    if (path == cpu::AttentionPath::Generic) continue;
    std::string name(cpu::attention_path_name(path));
    benchmark::RegisterBenchmark(("attention_vae_L3120_H1_D384_f32/" + name).c_str(), attn_bench,
                                 path, 3120, 3120, 1, 384, DType::F32, false)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  }
  return true;
}();

}  // namespace
}  // namespace kinema
