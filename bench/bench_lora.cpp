// A LoRA run beside the weight (nn/linear.h LowRankUpdate: W x + s B (A x)) against the same
// Linear merged, on the Wan2.1-1.3B attention projection [1536 -> 1536] and FFN [1536 -> 8960]
// with M = 4096 tokens, bf16: what the unmerged mode costs per step (docs/performance.md).
#include <benchmark/benchmark.h>

#include <vector>

#include "core/parallel.h"
#include "core/tensor.h"
#include "nn/linear.h"

namespace kinema::bench {
namespace {

Tensor filled(const Shape& shape, uint32_t seed, float scale, DType dtype) {
  std::vector<float> v(size_t(shape.numel()));
  uint32_t s = seed;
  for (float& x : v) {
    s = s * 1664525u + 1013904223u;
    x = (float(s >> 8) * (1.0f / 16777216.0f) - 0.5f) * scale + 1e-6f;
  }
  return Tensor::from_f32(shape, v.data(), dtype);
}

// range: rank (0: merged, no update), in, out, threads
void BM_LoraLinear(benchmark::State& state) {
  const int64_t rank = state.range(0), in = state.range(1), out = state.range(2), m = 4096;
  const ComputeContext ctx = ComputeContext::with_threads(int(state.range(3)));
  Linear l{filled({out, in}, 1, 0.05f, DType::BF16), filled({out}, 2, 0.1f, DType::F32), {}, {}};
  if (rank > 0)
    l.updates.push_back({filled({rank, in}, 3, 0.05f, DType::BF16),
                         filled({out, rank}, 4, 0.05f, DType::BF16), 0.5f});
  const Tensor x = filled({m, in}, 5, 1.0f, DType::BF16);
  Tensor y = Tensor::empty({m, out}, DType::BF16);
  for (auto _ : state) l.forward_into(ctx, x, MatmulPrecision::BF16, y);
  state.counters["GFLOP/s"] = benchmark::Counter(
      2.0 * double(m) * double(in) * double(out) * double(state.iterations()) * 1e-9,
      benchmark::Counter::kIsRate);
}

BENCHMARK(BM_LoraLinear)
    ->ArgNames({"rank", "in", "out", "threads"})
    ->Args({0, 1536, 1536, 2})
    ->Args({16, 1536, 1536, 2})
    ->Args({64, 1536, 1536, 2})
    ->Args({0, 1536, 8960, 2})
    ->Args({64, 1536, 8960, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace kinema::bench
