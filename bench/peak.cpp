// Peak loops: independent accumulators (more than latency x ports), no memory traffic.
#include "peak.h"

#include <asm/prctl.h>
#include <benchmark/benchmark.h>
#include <immintrin.h>
#include <omp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <utility>

#include "core/cpu.h"
#include "core/parallel.h"

namespace kinema::bench {
namespace {

constexpr int kXfeatureXtiledata = 18;

__attribute__((target("avx512f"))) float lane_sum(__m512 v) {
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, v);
  float s = 0;
  for (float x : lanes) s += x;
  return s;
}

// Each returns the flop it performed; `sink` keeps the compiler from dropping the work.
__attribute__((target("avx512f,fma"))) double f32_fma_loop(int64_t iters, float* sink) {
  __m512 a = _mm512_set1_ps(1.0f + 1e-7f), b = _mm512_set1_ps(-1e-7f);
  __m512 acc[16];
  for (int j = 0; j < 16; ++j) acc[j] = _mm512_set1_ps(float(j));
  for (int64_t i = 0; i < iters; ++i)
    for (int j = 0; j < 16; ++j) acc[j] = _mm512_fmadd_ps(acc[j], a, b);
  __m512 s = acc[0];
  for (int j = 1; j < 16; ++j) s = _mm512_add_ps(s, acc[j]);
  *sink += lane_sum(s);
  return double(iters) * 16 * 16 * 2;
}

__attribute__((target("avx512f,avx512bf16"))) double bf16_dot_loop(int64_t iters, float* sink) {
  __m512bh a = (__m512bh)_mm512_set1_epi16(0x3f80), b = (__m512bh)_mm512_set1_epi16(0x3380);
  __m512 acc[16];
  for (int j = 0; j < 16; ++j) acc[j] = _mm512_set1_ps(float(j));
  for (int64_t i = 0; i < iters; ++i)
    for (int j = 0; j < 16; ++j) acc[j] = _mm512_dpbf16_ps(acc[j], a, b);
  __m512 s = acc[0];
  for (int j = 1; j < 16; ++j) s = _mm512_add_ps(s, acc[j]);
  *sink += lane_sum(s);
  return double(iters) * 16 * 4 * 16;
}

// Tile palette 1: tmm0-3 accumulators (16 rows x 64 bytes f32), tmm4-5 A (16 x 32 bf16),
// tmm6-7 B (16 rows of 32 bf16 pairs).
struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

__attribute__((target("amx-tile,amx-bf16"))) double amx_loop(int64_t iters, float* sink) {
  TileConfig cfg;
  for (int t = 0; t < 8; ++t) {
    cfg.colsb[t] = 64;
    cfg.rows[t] = 16;
  }
  // Not _tile_loadconfig: GCC 12 declares only 8 bytes of its operand as read, so the stores
  // that fill the rest of the configuration may be dropped.
  asm volatile("ldtilecfg %0" ::"m"(cfg));
  alignas(64) uint16_t ab[16 * 32];
  for (auto& v : ab) v = 0x3c00;
  _tile_loadd(4, ab, 64);
  _tile_loadd(5, ab, 64);
  _tile_loadd(6, ab, 64);
  _tile_loadd(7, ab, 64);
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (int64_t i = 0; i < iters; ++i) {
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  alignas(64) float out[16 * 16];
  _tile_stored(0, out, 64);
  _tile_release();
  *sink += out[0];
  return double(iters) * 4 * 16 * 16 * 32 * 2;
}

// Linux hands out the AMX tile state only on request, once per process.
bool amx_permitted() {
  static const bool ok = syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, kXfeatureXtiledata) == 0;
  return ok;
}

double run_loop(PeakUnit unit, int64_t iters, float* sink) {
  switch (unit) {
    case PeakUnit::F32Fma: return f32_fma_loop(iters, sink);
    case PeakUnit::Bf16Dot: return bf16_dot_loop(iters, sink);
    case PeakUnit::AmxBf16: return amx_loop(iters, sink);
  }
  return 0;
}

}  // namespace

const char* peak_unit_name(PeakUnit unit) {
  switch (unit) {
    case PeakUnit::F32Fma: return "f32_fma";
    case PeakUnit::Bf16Dot: return "bf16_dot";
    case PeakUnit::AmxBf16: return "amx_bf16";
  }
  return "?";
}

bool peak_unit_available(PeakUnit unit) {
  const CpuFeatures& f = cpu_features();
  switch (unit) {
    case PeakUnit::F32Fma: return f.avx512f;
    case PeakUnit::Bf16Dot: return f.avx512bf16;
    case PeakUnit::AmxBf16: return f.amx_bf16 && amx_permitted();
  }
  return false;
}

double measure_peak_gflops(PeakUnit unit, int threads, double seconds) {
  if (!peak_unit_available(unit)) return 0.0;
  // Calibrate on one thread, then time all threads together on the same count.
  float sink = 0;
  int64_t iters = 1000;
  double elapsed = 0;
  while (true) {
    auto t0 = std::chrono::steady_clock::now();
    run_loop(unit, iters, &sink);
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (elapsed > seconds / 4) break;
    iters *= 2;
  }
  iters = int64_t(double(iters) * seconds / elapsed);
  double flop = 0;
  auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads) reduction(+ : flop)
  {
    float local = 0;
    flop += run_loop(unit, iters, &local);
    benchmark::DoNotOptimize(local);
  }
  elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  benchmark::DoNotOptimize(sink);
  return flop / elapsed / 1e9;
}

double peak_gflops(PeakUnit unit, int threads) {
  static std::mutex mutex;
  static std::map<std::pair<int, int>, double> measured;
  std::lock_guard<std::mutex> lock(mutex);
  auto key = std::make_pair(int(unit), threads);
  auto it = measured.find(key);
  if (it == measured.end())
    it = measured.emplace(key, measure_peak_gflops(unit, threads, 0.3)).first;
  return it->second;
}

namespace {

void BM_Peak(benchmark::State& state) {
  auto unit = PeakUnit(state.range(0));
  int threads = int(state.range(1));
  if (!peak_unit_available(unit)) {
    state.SkipWithError("not available on this processor");
    return;
  }
  double gflops = 0;
  for (auto _ : state) gflops = measure_peak_gflops(unit, threads, 0.2);
  state.counters["GFLOP/s"] = gflops;
  state.SetLabel(peak_unit_name(unit));
}

void peak_args(benchmark::internal::Benchmark* b) {
  for (PeakUnit unit : {PeakUnit::F32Fma, PeakUnit::Bf16Dot, PeakUnit::AmxBf16})
    for (int threads : {1, hardware_threads()}) b->Args({int64_t(unit), threads});
  b->ArgNames({"unit", "threads"})->Iterations(3)->UseRealTime()->Unit(benchmark::kMillisecond);
}

BENCHMARK(BM_Peak)->Apply(peak_args);

}  // namespace
}  // namespace kinema::bench
