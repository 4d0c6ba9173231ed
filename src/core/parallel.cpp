#include "core/parallel.h"

#include <omp.h>

#include <thread>

namespace kinema {

int hardware_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : int(n);
}

ComputeContext ComputeContext::with_threads(int threads) {
  ComputeContext ctx;
  ctx.threads = threads > 0 ? threads : hardware_threads();
  omp_set_num_threads(ctx.threads);  // oneDNN sizes its parallel regions from this
  return ctx;
}

}  // namespace kinema
