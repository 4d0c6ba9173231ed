// linear() on the Wan2.1-1.3B DiT shapes (M = 4096 tokens): the attention projections
// [1536 -> 1536] and the FFN [1536 -> 8960], [8960 -> 1536], for each weight storage.
// Counters: GFLOP/s, and that rate as a fraction of the peaks measured in the same run
// (peak.cpp): the AVX512-BF16 dot unit, the AMX unit and the f32 FMA unit.
#include <benchmark/benchmark.h>

#include <chrono>
#include <string>
#include <vector>

#include "core/parallel.h"
#include "core/tensor.h"
#include "kernels/cpu/matmul.h"
#include "peak.h"

namespace kinema::bench {
namespace {

using cpu::MatmulPrecision;

// How the weight is stored and multiplied.
enum class Variant {
  F32,          // f32 x, f32 weight, f32 GEMM
  F32Packed,    // the same with a PackedWeight
  Bf16,         // bf16 x, bf16 weight, bf16 y: the DiT's linears with bf16 weights
  Bf16Packed,   // the same with a PackedWeight
  Bf16FromF32,  // f32 x and weight rounded to bf16 every call (autocast, unpacked)
  Q8_0,         // bf16 x, Q8_0 weight converted (and packed) per call
  Q4_K,         // bf16 x, Q4_K weight converted (and packed) per call
};

const char* variant_name(Variant v) {
  switch (v) {
    case Variant::F32: return "f32";
    case Variant::F32Packed: return "f32_packed";
    case Variant::Bf16: return "bf16";
    case Variant::Bf16Packed: return "bf16_packed";
    case Variant::Bf16FromF32: return "bf16_from_f32";
    case Variant::Q8_0: return "q8_0";
    case Variant::Q4_K: return "q4_k";
  }
  return "?";
}

// Deterministic, non-zero values of a realistic scale, cheap to make at this size.
std::vector<float> values(size_t n, uint32_t seed, float scale) {
  std::vector<float> v(n);
  uint32_t s = seed;
  for (float& x : v) {
    s = s * 1664525u + 1013904223u;
    x = (float(s >> 8) * (1.0f / 16777216.0f) - 0.5f) * scale + 1e-6f;
  }
  return v;
}

void BM_Linear(benchmark::State& state) {
  auto variant = Variant(state.range(0));
  int64_t m = state.range(1), k = state.range(2), n = state.range(3);
  ComputeContext ctx = ComputeContext::with_threads(int(state.range(4)));
  bool f32 = variant == Variant::F32 || variant == Variant::F32Packed;
  MatmulPrecision precision = f32 ? MatmulPrecision::F32 : MatmulPrecision::BF16;
  DType act = f32 || variant == Variant::Bf16FromF32 ? DType::F32 : DType::BF16;
  DType wtype = variant == Variant::Q8_0   ? DType::Q8_0
                : variant == Variant::Q4_K ? DType::Q4_K
                                           : act;

  auto xv = values(size_t(m * k), 1, 2.0f);
  Tensor x = Tensor::from_f32({m, k}, xv.data(), act);
  Tensor w;
  {
    auto wv = values(size_t(n * k), 2, 0.1f);
    w = Tensor::from_f32({n, k}, wv.data(), wtype);
  }
  auto bv = values(size_t(n), 3, 0.1f);
  Tensor b = Tensor::from_f32({n}, bv.data());
  Tensor y = Tensor::empty({m, n}, act);
  cpu::PackedWeight packed;
  bool use_packed = variant == Variant::F32Packed || variant == Variant::Bf16Packed;
  if (use_packed) packed = cpu::PackedWeight::pack(ctx, w, precision);

  // Measured before the timed loop (once per run; later calls reuse the numbers).
  int threads = ctx.threads;
  double peak_bf16 = peak_gflops(PeakUnit::Bf16Dot, threads);
  double peak_amx = peak_gflops(PeakUnit::AmxBf16, threads);
  double peak_f32 = peak_gflops(PeakUnit::F32Fma, threads);

  auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    if (use_packed)
      cpu::linear(ctx, x, packed, &b, y);
    else
      cpu::linear(ctx, x, w, &b, y, precision);
    benchmark::ClobberMemory();
  }

  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double gflops =
      2.0 * double(m) * double(k) * double(n) * double(state.iterations()) / seconds / 1e9;
  state.counters["GFLOP/s"] = gflops;
  auto pct = [&](double peak) { return peak > 0 ? 100.0 * gflops / peak : 0.0; };
  state.counters["pct_of_bf16_peak"] = pct(peak_bf16);
  state.counters["pct_of_amx_peak"] = pct(peak_amx);
  state.counters["pct_of_f32_peak"] = pct(peak_f32);
  state.SetLabel(std::string(variant_name(variant)) + " " +
                 cpu::linear_implementation(ctx, m, k, n, precision));
}

void linear_args(benchmark::internal::Benchmark* b) {
  const int64_t shapes[3][3] = {{4096, 1536, 1536}, {4096, 1536, 8960}, {4096, 8960, 1536}};
  for (Variant v : {Variant::F32, Variant::F32Packed, Variant::Bf16, Variant::Bf16Packed,
                    Variant::Bf16FromF32, Variant::Q8_0, Variant::Q4_K})
    for (const auto& s : shapes) b->Args({int64_t(v), s[0], s[1], s[2], hardware_threads()});
  b->ArgNames({"variant", "M", "K", "N", "threads"})
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond)
      ->MinTime(1.0);
}

BENCHMARK(BM_Linear)->Apply(linear_args);

// Few rows (the time embedding, short prompts): memory-bound, so GB/s of weight matters.
void BM_LinearFewRows(benchmark::State& state) {
  auto variant = Variant(state.range(0));
  int64_t m = state.range(1), k = 1536, n = 8960;
  ComputeContext ctx = ComputeContext::with_threads(hardware_threads());
  DType wtype = variant == Variant::Q8_0   ? DType::Q8_0
                : variant == Variant::Q4_K ? DType::Q4_K
                : variant == Variant::F32  ? DType::F32
                                           : DType::BF16;
  MatmulPrecision precision =
      variant == Variant::F32 ? MatmulPrecision::F32 : MatmulPrecision::BF16;
  auto xv = values(size_t(m * k), 1, 2.0f), wv = values(size_t(n * k), 2, 0.1f);
  Tensor x = Tensor::from_f32({m, k}, xv.data());
  Tensor w = Tensor::from_f32({n, k}, wv.data(), wtype);
  Tensor y = Tensor::empty({m, n}, DType::F32);
  for (auto _ : state) {
    cpu::linear(ctx, x, w, nullptr, y, precision);
    benchmark::ClobberMemory();
  }
  state.counters["weight_GB/s"] = benchmark::Counter(
      double(w.nbytes()) * double(state.iterations()) / 1e9, benchmark::Counter::kIsRate);
  state.SetLabel(variant_name(variant));
}

BENCHMARK(BM_LinearFewRows)
    ->ArgsProduct({{int64_t(Variant::F32), int64_t(Variant::Bf16), int64_t(Variant::Q8_0),
                    int64_t(Variant::Q4_K)},
                   {1, 4, 8, 16, 32}})
    ->ArgNames({"variant", "M"})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace kinema::bench
