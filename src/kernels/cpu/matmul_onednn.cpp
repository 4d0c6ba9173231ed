#include "kernels/cpu/matmul_onednn.h"

#include <omp.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <unordered_map>
#include <vector>
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
  dnnl::memory::desc a, b, c, bias, scratchpad;
  dnnl::matmul primitive;
};

using PlanKey = std::array<int64_t, 10>;

// `concurrent`: the plan may run on several threads at once (the panels of run()), so each
// execution passes a scratchpad of its own thread instead of using the library's shared one,
// which concurrent executions would overwrite.
PlanKey key_of(const Gemm& g, int threads, bool concurrent) {
  return {g.m,    g.k,   g.n,     int64_t(g.ab), int64_t(g.c), int64_t(g.layout),
          g.bias, g.ldb, threads, concurrent};
}

// Primitives are JIT-compiled: a cache keyed by everything that shapes one makes repeated calls
// cost a lookup. oneDNN keeps its own primitive cache too, but a descriptor still costs tens of
// microseconds to build, which matters for the small per-step linears.
class PlanCache {
 public:
  std::shared_ptr<const Plan> get(const Gemm& g, int threads, bool concurrent) {
    PlanKey key = key_of(g, threads, concurrent);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = plans_.find(key);
      if (it != plans_.end()) return it->second;
    }
    auto plan = make(g, concurrent);
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

  static std::shared_ptr<const Plan> make(const Gemm& g, bool concurrent) {
    auto plan = std::make_shared<Plan>();
    plan->a = dnnl::memory::desc({g.m, g.k}, to_dnnl(g.ab), tag::ab);
    plan->b = b_desc(g);
    plan->c = dnnl::memory::desc({g.m, g.n}, to_dnnl(g.c), tag::ab);
    dnnl::primitive_attr attr;
    if (concurrent) attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    dnnl::matmul::primitive_desc pd;
    if (g.bias) {
      plan->bias = dnnl::memory::desc({1, g.n}, dt::f32, tag::ab);
      pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(plan->a, plan->b, plan->bias, plan->c),
                                        attr, engine());
    } else {
      pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(plan->a, plan->b, plan->c), attr,
                                        engine());
    }
    plan->scratchpad = pd.scratchpad_desc();
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
    case BLayout::Plain:
      if (g.ldb > 0 && g.ldb != g.n)
        return dnnl::memory::desc({g.k, g.n}, to_dnnl(g.ab), dnnl::memory::dims{g.ldb, 1});
      return dnnl::memory::desc({g.k, g.n}, to_dnnl(g.ab), tag::ab);
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

// A page-aligned scratchpad per thread, kept between calls (freed when unusually large).
class ThreadScratch {
 public:
  void* get(size_t bytes) {
    if (bytes > capacity_) {
      buffer_.reset(static_cast<std::byte*>(std::aligned_alloc(4096, (bytes + 4095) / 4096 * 4096)));
      if (!buffer_) fail("out of memory allocating ", bytes, " bytes of GEMM scratchpad");
      capacity_ = bytes;
    }
    return buffer_.get();
  }
  void trim() {
    if (capacity_ > (size_t(256) << 20)) {
      buffer_.reset();
      capacity_ = 0;
    }
  }

 private:
  struct Free {
    void operator()(std::byte* p) const { std::free(p); }
  };
  std::unique_ptr<std::byte, Free> buffer_;
  size_t capacity_ = 0;
};

void run_one(const ComputeContext& ctx, const Gemm& g, const void* a, const void* b,
             const float* bias, void* c, bool concurrent) {
  OmpThreads scope(ctx.threads);
  try {
    auto plan = cache().get(g, ctx.threads, concurrent);
    const dnnl::engine& e = engine();
    // oneDNN takes non-const handles; it only reads A, B and bias.
    dnnl::memory am(plan->a, e, const_cast<void*>(a));
    dnnl::memory bm(plan->b, e, const_cast<void*>(b));
    dnnl::memory cm(plan->c, e, c);
    std::unordered_map<int, dnnl::memory> args = {
        {DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}};
    if (g.bias) args.emplace(DNNL_ARG_BIAS, dnnl::memory(plan->bias, e, const_cast<float*>(bias)));
    thread_local ThreadScratch scratch;
    if (concurrent)
      args.emplace(DNNL_ARG_SCRATCHPAD,
                   dnnl::memory(plan->scratchpad, e, scratch.get(plan->scratchpad.get_size())));
    plan->primitive.execute(stream(), args);
    if (concurrent) scratch.trim();
    stream().wait();
  } catch (const dnnl::error& err) {
    fail("oneDNN matmul ", describe(g), " failed: ", err.what());
  }
}

size_t elem_bytes(DType d) { return d == DType::BF16 ? 2 : 4; }

// Where column panel [n0, n0 + width) of B starts, or null when B's layout cannot be cut there
// (a packed layout whose panel would not be laid out as a packed B of its own).
const std::byte* panel_of_b(const Gemm& g, const void* b, int64_t n0, int64_t width) {
  const auto* base = static_cast<const std::byte*>(b);
  const size_t e = elem_bytes(g.ab);
  switch (g.layout) {
    case BLayout::Transposed: return base + size_t(n0 * g.k) * e;
    case BLayout::Plain: return base + size_t(n0) * e;
    case BLayout::Packed: {
      const auto whole = packed_layout(g.k, g.n, g.ab), part = packed_layout(g.k, width, g.ab);
      if (!whole || !part || n0 % whole->n_block != 0 || part->n_block != whole->n_block ||
          part->k_block != whole->k_block || part->pair != whole->pair ||
          part->k_padded != whole->k_padded || part->n_block_stride != whole->n_block_stride)
        return nullptr;
      return base + size_t(n0 / whole->n_block * whole->n_block_stride) * e;
    }
  }
  return nullptr;
}

}  // namespace

void run(const ComputeContext& ctx, const Gemm& g, const void* a, const void* b, const float* bias,
         void* c) {
  check(g);
  if (g.m >= kFixedPartitionRows) return run_one(ctx, g, a, b, bias, c, false);
  const ComputeContext single = ComputeContext::with_threads(1);
  const int64_t panels = (g.n + kPanelColumns - 1) / kPanelColumns;
  const int64_t last = (panels - 1) * kPanelColumns;
  // Every panel is as wide as the first but the last; both must be cuttable, or the product runs
  // as one single-threaded call (still independent of the thread count).
  if (panels == 1 || !panel_of_b(g, b, kPanelColumns, kPanelColumns) ||
      !panel_of_b(g, b, last, g.n - last))
    return run_one(single, g, a, b, bias, c, false);
  const size_t ce = elem_bytes(g.c);
  parallel_tasks(ctx, panels, [&](int64_t p) {
    const int64_t n0 = p * kPanelColumns, width = std::min(kPanelColumns, g.n - n0);
    Gemm part = g;
    part.n = width;
    if (g.layout == BLayout::Plain) part.ldb = g.ldb > 0 ? g.ldb : g.n;
    // Each panel writes a dense C of its own (oneDNN's fast kernels need one), then its columns.
    thread_local std::vector<std::byte> panel_c;
    panel_c.resize(size_t(g.m * width) * ce);
    run_one(single, part, a, panel_of_b(g, b, n0, width), bias ? bias + n0 : nullptr,
            panel_c.data(), true);
    auto* dst = static_cast<std::byte*>(c);
    for (int64_t i = 0; i < g.m; ++i)
      std::memcpy(dst + size_t(i * g.n + n0) * ce, panel_c.data() + size_t(i * width) * ce,
                  size_t(width) * ce);
  });
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
