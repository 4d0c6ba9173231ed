#include "kernels/cpu/matmul_onednn.h"

#include <omp.h>

#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>

#include "core/error.h"

namespace kinema::cpu::onednn {
namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

// oneDNN sizes its parallel regions (at creation and at execution) from the OpenMP thread count
// of the calling thread; this sets it to ctx.threads for a scope.
class OmpThreads {
 public:
  explicit OmpThreads(int threads) : saved_(omp_get_max_threads()), threads_(threads) {
    if (threads_ != saved_) omp_set_num_threads(threads_);
  }
  ~OmpThreads() {
    if (threads_ != saved_) omp_set_num_threads(saved_);
  }
  OmpThreads(const OmpThreads&) = delete;
  OmpThreads& operator=(const OmpThreads&) = delete;

 private:
  int saved_, threads_;
};

const dnnl::engine& engine() {
  static const dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

// Streams are not thread-safe; CPU streams are cheap, so each calling thread has its own.
dnnl::stream& stream() {
  thread_local dnnl::stream s(engine());
  return s;
}

dt to_dnnl(DType d) {
  switch (d) {
    case DType::F32: return dt::f32;
    case DType::BF16: return dt::bf16;
    default: fail("oneDNN GEMM: unsupported element type ", name(d), " (expected f32 or bf16)");
  }
}

// The packed layout is queried once per (K, N, type) with a fixed nominal M and thread count,
// so that a weight packed at load time stays valid for every later call.
dnnl::memory::desc query_packed_desc(int64_t k, int64_t n, DType ab) {
  constexpr int64_t kNominalM = 1024;
  OmpThreads scope(hardware_threads());
  dnnl::memory::desc a({kNominalM, k}, to_dnnl(ab), tag::ab);
  dnnl::memory::desc b({k, n}, to_dnnl(ab), tag::any);
  dnnl::memory::desc c({kNominalM, n}, dt::f32, tag::ab);
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c), engine());
  return pd.weights_desc();
}

dnnl::memory::desc b_desc(const Gemm& g);

struct Plan {
  dnnl::memory::desc a, b, c, bias;
  dnnl::matmul primitive;
};

using PlanKey = std::array<int64_t, 8>;

PlanKey key_of(const Gemm& g, int threads) {
  return {g.m, g.k, g.n, int64_t(g.ab), int64_t(g.c), int64_t(g.layout), g.bias, threads};
}

// Primitives are JIT-compiled: a cache keyed by everything that shapes one makes repeated calls
// cost a lookup. oneDNN keeps its own primitive cache too, but a descriptor still costs tens of
// microseconds to build, which matters for the small per-step linears.
class PlanCache {
 public:
  std::shared_ptr<const Plan> get(const Gemm& g, int threads) {
    PlanKey key = key_of(g, threads);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = plans_.find(key);
      if (it != plans_.end()) return it->second;
    }
    auto plan = make(g);
    std::lock_guard<std::mutex> lock(mutex_);
    if (plans_.size() >= kMaxPlans) plans_.clear();
    plans_.emplace(key, plan);
    return plan;
  }

  dnnl::memory::desc packed(int64_t k, int64_t n, DType ab) {
    std::array<int64_t, 3> key = {k, n, int64_t(ab)};
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = packed_.find(key);
    if (it != packed_.end()) return it->second;
    return packed_.emplace(key, query_packed_desc(k, n, ab)).first->second;
  }

 private:
  static constexpr size_t kMaxPlans = 512;

  static std::shared_ptr<const Plan> make(const Gemm& g) {
    auto plan = std::make_shared<Plan>();
    plan->a = dnnl::memory::desc({g.m, g.k}, to_dnnl(g.ab), tag::ab);
    plan->b = b_desc(g);
    plan->c = dnnl::memory::desc({g.m, g.n}, to_dnnl(g.c), tag::ab);
    dnnl::matmul::primitive_desc pd;
    if (g.bias) {
      plan->bias = dnnl::memory::desc({1, g.n}, dt::f32, tag::ab);
      pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(plan->a, plan->b, plan->bias, plan->c),
                                        engine());
    } else {
      pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(plan->a, plan->b, plan->c), engine());
    }
    plan->primitive = dnnl::matmul(pd);
    return plan;
  }

  std::mutex mutex_;
  std::map<PlanKey, std::shared_ptr<const Plan>> plans_;
  std::map<std::array<int64_t, 3>, dnnl::memory::desc> packed_;
};

PlanCache& cache() {
  static PlanCache c;
  return c;
}

dnnl::memory::desc b_desc(const Gemm& g) {
  switch (g.layout) {
    case BLayout::Transposed: return dnnl::memory::desc({g.k, g.n}, to_dnnl(g.ab), tag::ba);
    case BLayout::Plain: return dnnl::memory::desc({g.k, g.n}, to_dnnl(g.ab), tag::ab);
    case BLayout::Packed: return cache().packed(g.k, g.n, g.ab);
  }
  fail("unknown B layout");
}

std::string describe(const Gemm& g) {
  return str_cat("[", g.m, ", ", g.k, "] x [", g.k, ", ", g.n, "] ", name(g.ab), " -> ", name(g.c));
}

void check(const Gemm& g) {
  KINEMA_CHECK(g.m > 0 && g.k > 0 && g.n > 0, describe(g));
  KINEMA_CHECK(g.ab == DType::F32 || g.ab == DType::BF16, describe(g));
  KINEMA_CHECK(g.c == DType::F32 || (g.c == DType::BF16 && g.ab == DType::BF16), describe(g));
}

}  // namespace

void run(const ComputeContext& ctx, const Gemm& g, const void* a, const void* b, const float* bias,
         void* c) {
  check(g);
  OmpThreads scope(ctx.threads);
  try {
    auto plan = cache().get(g, ctx.threads);
    const dnnl::engine& e = engine();
    // oneDNN takes non-const handles; it only reads A, B and bias.
    dnnl::memory am(plan->a, e, const_cast<void*>(a));
    dnnl::memory bm(plan->b, e, const_cast<void*>(b));
    dnnl::memory cm(plan->c, e, c);
    if (g.bias) {
      dnnl::memory biasm(plan->bias, e, const_cast<float*>(bias));
      plan->primitive.execute(
          stream(),
          {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_BIAS, biasm}, {DNNL_ARG_DST, cm}});
    } else {
      plan->primitive.execute(stream(),
                              {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}});
    }
    stream().wait();
  } catch (const dnnl::error& err) {
    fail("oneDNN matmul ", describe(g), " failed: ", err.what());
  }
}

size_t packed_bytes(int64_t k, int64_t n, DType ab) {
  try {
    return cache().packed(k, n, ab).get_size();
  } catch (const dnnl::error& err) {
    fail("oneDNN has no packed layout for a [", k, ", ", n, "] ", name(ab),
         " weight: ", err.what());
  }
}

void pack_b(const ComputeContext& ctx, int64_t k, int64_t n, DType ab, const void* w_nk,
            void* packed) {
  OmpThreads scope(ctx.threads);
  try {
    const dnnl::engine& e = engine();
    dnnl::memory src(dnnl::memory::desc({k, n}, to_dnnl(ab), tag::ba), e, const_cast<void*>(w_nk));
    dnnl::memory dst(cache().packed(k, n, ab), e, packed);
    dnnl::reorder(src, dst).execute(stream(), src, dst);
    stream().wait();
  } catch (const dnnl::error& err) {
    fail("oneDNN could not pack a [", n, ", ", k, "] ", name(ab), " weight: ", err.what());
  }
}

std::optional<PackedLayout> packed_layout(int64_t k, int64_t n, DType ab) {
  dnnl::memory::desc desc;
  try {
    desc = cache().packed(k, n, ab);
  } catch (const dnnl::error&) {
    return std::nullopt;
  }
  const dnnl_memory_desc_t& d = desc.data;
  const auto& b = d.format_desc.blocking;
  if (d.format_kind != dnnl_blocked || d.ndims != 2 || d.offset0 != 0 || d.extra.flags != 0)
    return std::nullopt;
  PackedLayout l;
  if (b.inner_nblks == 3 && b.inner_idxs[0] == 0 && b.inner_idxs[1] == 1 && b.inner_idxs[2] == 0)
    l.pair = b.inner_blks[2];
  else if (!(b.inner_nblks == 2 && b.inner_idxs[0] == 0 && b.inner_idxs[1] == 1))
    return std::nullopt;
  l.k_block = b.inner_blks[0];
  l.n_block = b.inner_blks[1];
  l.k_padded = d.padded_dims[0];
  l.n_padded = d.padded_dims[1];
  l.k_block_stride = b.strides[0];
  l.n_block_stride = b.strides[1];
  l.bytes = desc.get_size();
  int64_t k_rows = l.k_block * l.pair;
  bool dense = l.k_block_stride == k_rows * l.n_block &&
               l.n_block_stride == l.k_padded / k_rows * l.k_block_stride &&
               l.k_padded % k_rows == 0 && l.n_padded % l.n_block == 0 &&
               l.bytes == size_t(l.k_padded * l.n_padded) * size_t(traits(ab).block_bytes);
  if (!dense) return std::nullopt;
  return l;
}

std::string implementation(const ComputeContext& ctx, const Gemm& g) {
  check(g);
  OmpThreads scope(ctx.threads);
  dnnl::memory::desc a({g.m, g.k}, to_dnnl(g.ab), tag::ab);
  dnnl::memory::desc c({g.m, g.n}, to_dnnl(g.c), tag::ab);
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b_desc(g), c), engine());
  return pd.impl_info_str();
}

}  // namespace kinema::cpu::onednn
