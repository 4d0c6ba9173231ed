// The one thread pool. oneDNN (Debian's build) runs on OpenMP, so our own kernels use the same
// OpenMP pool: two pools spinning against each other on 2 cores halves throughput.
#pragma once

#include <algorithm>
#include <cstdint>

namespace kinema {

// Passed to every kernel: how many threads to use. No global mutable state.
struct ComputeContext {
  int threads = 1;
  // A context with `threads` threads, or all hardware threads when threads <= 0.
  static ComputeContext with_threads(int threads);
};

int hardware_threads();

// Runs fn(begin, end) over [0, n) split into at most ctx.threads contiguous ranges of at least
// `grain` items, on the shared pool. fn must not throw.
template <class Fn>
void parallel_for(const ComputeContext& ctx, int64_t n, int64_t grain, Fn&& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  int64_t chunks = std::min<int64_t>(ctx.threads, (n + grain - 1) / grain);
  if (chunks <= 1) {
    fn(int64_t(0), n);
    return;
  }
#pragma omp parallel for num_threads(int(chunks)) schedule(static, 1)
  for (int64_t c = 0; c < chunks; ++c) {
    int64_t begin = n * c / chunks, end = n * (c + 1) / chunks;
    fn(begin, end);
  }
}

// Runs fn(i) for each i in [0, n) with dynamic scheduling, for uneven work items (tiles).
template <class Fn>
void parallel_tasks(const ComputeContext& ctx, int64_t n, Fn&& fn) {
  if (n <= 0) return;
  int threads = int(std::min<int64_t>(ctx.threads, n));
  if (threads <= 1) {
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
  for (int64_t i = 0; i < n; ++i) fn(i);
}

}  // namespace kinema
