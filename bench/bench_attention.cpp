// Attention throughput at Wan-1.3B shapes: self-attention over 4096 tokens (12 heads of 128)
// and cross-attention against the 512 text rows, bf16, on every fast path this processor has;
// the umT5 encoder's (512 tokens, 64 heads of 64, bf16 position bias, rounded logits); and the
// VAE's single-head f32 attention (head dim 384).
//
// Counters: GFLOP/s (4 * Lq * Lk * D * H per call; GFLOPs from the mean call, GFLOPs_best from
// the fastest) and the percentage of this processor's measured peaks on the same threads:
// pct_dp = vs vdpbf16ps, pct_fma = vs f32 FMA, pct_amx = vs AMX tdpbf16ps (each measured once,
// in-process, by bench/peak.h's register-only loops; BM_Peak prints them).
#include <benchmark/benchmark.h>

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
#include "peak.h"

namespace kinema {
namespace {

double attn_seconds_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

using bench::PeakUnit;

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
  auto percent = [&](PeakUnit unit) {
    double peak = bench::peak_gflops(unit, threads);
    return peak > 0 ? 100.0 * gflops / peak : 0.0;
  };
  state.counters["pct_dp"] = percent(PeakUnit::Bf16Dot);
  state.counters["pct_fma"] = percent(PeakUnit::F32Fma);
  if (path == cpu::AttentionPath::Amx) state.counters["pct_amx"] = percent(PeakUnit::AmxBf16);
}

// Registers one benchmark per path that is fast enough for these shapes (not the generic one).
const bool attn_registered = [] {
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
