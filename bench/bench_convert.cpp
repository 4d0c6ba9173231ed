// The weight converters (kernels/cpu/convert.h) on one FFN weight, [8960, 1536]: the cost the
// GEMM path of linear() adds per call for weights stored in another type.
#include <benchmark/benchmark.h>

#include <vector>

#include "core/parallel.h"
#include "core/tensor.h"
#include "kernels/cpu/convert.h"

namespace kinema::bench {
namespace {

void BM_ConvertRows(benchmark::State& state) {
  auto src_type = DType(state.range(0));
  auto dst_type = DType(state.range(1));
  ComputeContext ctx = ComputeContext::with_threads(int(state.range(2)));
  int64_t rows = 8960, cols = 1536;
  std::vector<float> values(size_t(rows * cols));
  for (size_t i = 0; i < values.size(); ++i) values[i] = float(int(i % 97) - 48) * 1e-3f + 1e-5f;
  Tensor src = Tensor::from_f32({rows, cols}, values.data(), src_type);
  Tensor dst = Tensor::empty({rows, cols}, dst_type);
  for (auto _ : state) {
    cpu::convert(ctx, src, dst);
    benchmark::ClobberMemory();
  }
  double elems = double(rows * cols) * double(state.iterations());
  state.counters["Gelem/s"] = benchmark::Counter(elems / 1e9, benchmark::Counter::kIsRate);
  state.SetLabel(std::string(name(src_type)) + " -> " + std::string(name(dst_type)));
}

void convert_args(benchmark::internal::Benchmark* b) {
  for (DType src : {DType::F32, DType::F16, DType::F8_E4M3, DType::Q8_0, DType::Q4_0, DType::Q4_K,
                    DType::Q5_K, DType::Q6_K})
    for (DType dst : {DType::BF16, DType::F32}) b->Args({int64_t(src), int64_t(dst), 1});
  b->ArgNames({"src", "dst", "threads"})->UseRealTime()->Unit(benchmark::kMillisecond);
}

BENCHMARK(BM_ConvertRows)->Apply(convert_args);

}  // namespace
}  // namespace kinema::bench
