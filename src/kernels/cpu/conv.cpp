#include "kernels/cpu/conv.h"

#include <omp.h>

#include <map>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <unordered_map>
#include <utility>

#include "core/error.h"
#include "kernels/cpu/conv_geometry.h"

namespace kinema::cpu {
namespace {

using dnnl::memory;
using tag = dnnl::memory::format_tag;

// oneDNN's CPU engine is a stateless handle; one serves every convolution.
const dnnl::engine& cpu_engine() {
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

memory::dims dims_of(const Shape& s) { return memory::dims(s.vec()); }

tag plain_tag(int rank) {
  switch (rank) {
    case 1: return tag::a;
    case 4: return tag::abcd;
    case 5: return tag::abcde;
  }
  fail("conv: no plain oneDNN layout for rank ", rank);
}

memory::desc plain_desc(const Shape& s) {
  return memory::desc(dims_of(s), memory::data_type::f32, plain_tag(s.rank()));
}

// oneDNN on OpenMP sizes its parallel regions from omp_get_max_threads(); this sets it for the
// calling thread for one call and restores it after.
class OmpThreads {
 public:
  explicit OmpThreads(int threads) : saved_(omp_get_max_threads()) { omp_set_num_threads(threads); }
  ~OmpThreads() { omp_set_num_threads(saved_); }
  OmpThreads(const OmpThreads&) = delete;
  OmpThreads& operator=(const OmpThreads&) = delete;

 private:
  int saved_;
};

}  // namespace

struct Conv::Impl {
  Tensor weight, bias;
  ConvParams params;

  // One primitive per (input shape, history frames, threads): oneDNN picks its blocking for a
  // given problem and thread count.
  struct Plan {
    dnnl::convolution_forward primitive;
    memory::desc src, dst;
    memory packed_weights;
  };
  mutable std::mutex mutex;
  mutable std::map<std::vector<int64_t>, std::shared_ptr<const Plan>> plans;
  // Weights reordered per distinct layout oneDNN asked for (usually one for all shapes).
  mutable std::vector<std::pair<memory::desc, memory>> packed;
  mutable std::string last_implementation;

  ConvGeometry geometry(const Shape& x, const Shape* history) const {
    Shape bias_shape = bias.shape();
    return conv_geometry("Conv", x, weight.shape(), params, bias.defined() ? &bias_shape : nullptr,
                         history);
  }
  ConvGeometry geometry(const Shape& x, const Tensor& history) const {
    Shape history_shape = history.shape();
    return geometry(x, history.defined() ? &history_shape : nullptr);
  }
  std::shared_ptr<const Plan> plan(const ConvGeometry& g, int threads) const;
  memory packed_weights(const memory::desc& want) const;  // with mutex held
};

memory Conv::Impl::packed_weights(const memory::desc& want) const {
  for (const auto& [desc, mem] : packed)
    if (desc == want) return mem;
  const dnnl::engine& eng = cpu_engine();
  memory plain(plain_desc(weight.shape()), eng, const_cast<void*>(weight.raw()));
  memory mem = plain;
  if (want != plain.get_desc()) {
    mem = memory(want, eng);
    dnnl::stream stream(eng);
    dnnl::reorder(plain, mem).execute(stream, plain, mem);
    stream.wait();
  }
  packed.emplace_back(want, mem);
  return mem;
}

std::shared_ptr<const Conv::Impl::Plan> Conv::Impl::plan(const ConvGeometry& g, int threads) const {
  std::vector<int64_t> key = g.input_shape().vec();
  key.push_back(g.history);
  key.push_back(threads);
  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = plans.find(key); it != plans.end()) return it->second;

  const auto f32 = memory::data_type::f32;
  memory::desc src_any(dims_of(g.input_shape()), f32, tag::any);
  memory::desc weights_any(dims_of(weight.shape()), f32, tag::any);
  memory::desc dst_any(dims_of(g.output_shape()), f32, tag::any);
  memory::dims strides(g.stride), pad_l(g.before), pad_r(g.after);
  // Direct convolution only: Winograd would change the numerics.
  const auto kind = dnnl::prop_kind::forward_inference;
  const auto algo = dnnl::algorithm::convolution_direct;
  auto desc = bias.defined() ? dnnl::convolution_forward::desc(kind, algo, src_any, weights_any,
                                                               plain_desc(bias.shape()), dst_any,
                                                               strides, pad_l, pad_r)
                             : dnnl::convolution_forward::desc(kind, algo, src_any, weights_any,
                                                               dst_any, strides, pad_l, pad_r);
  dnnl::convolution_forward::primitive_desc pd(desc, cpu_engine());
  auto p = std::make_shared<Plan>();
  p->primitive = dnnl::convolution_forward(pd);
  p->src = pd.src_desc();
  p->dst = pd.dst_desc();
  p->packed_weights = packed_weights(pd.weights_desc());
  last_implementation = pd.impl_info_str();
  plans.emplace(std::move(key), p);
  return p;
}

Conv::Conv(const Tensor& weight, const Tensor& bias, ConvParams params)
    : impl_(std::make_unique<Impl>()) {
  constexpr std::string_view op = "Conv";
  if (weight.dtype() != DType::F32) fail(op, ": weight must be f32, found ", name(weight.dtype()));
  if (bias.defined() && bias.dtype() != DType::F32)
    fail(op, ": bias must be f32, found ", name(bias.dtype()));
  if (weight.rank() != 4 && weight.rank() != 5)
    fail(op, ": weight must be [O, I, kh, kw] or [O, I, kt, kh, kw], found ", weight.shape().str());
  if (bias.defined() && (bias.rank() != 1 || bias.dim(0) != weight.dim(0)))
    fail(op, ": bias must be [", weight.dim(0), "], found ", bias.shape().str());
  impl_->weight = weight;
  impl_->bias = bias;
  impl_->params = std::move(params);
}

Conv::~Conv() = default;
Conv::Conv(Conv&&) noexcept = default;
Conv& Conv::operator=(Conv&&) noexcept = default;

int64_t Conv::in_channels() const { return impl_->weight.dim(1); }
int64_t Conv::out_channels() const { return impl_->weight.dim(0); }
const ConvParams& Conv::params() const { return impl_->params; }

std::string Conv::implementation() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->last_implementation;
}

Shape Conv::output_shape(const Shape& x, int64_t history_frames) const {
  if (history_frames == 0) return impl_->geometry(x, nullptr).output_shape();
  if (x.rank() != 5) fail("Conv: a history of frames needs a 3-D input, found ", x.str());
  Shape history = x;
  history[2] = history_frames;
  return impl_->geometry(x, &history).output_shape();
}

Tensor Conv::forward(const ComputeContext& ctx, const Tensor& x) const {
  return forward(ctx, x, Tensor());
}

Tensor Conv::forward(const ComputeContext& ctx, const Tensor& x, const Tensor& history) const {
  Tensor out = Tensor::empty(impl_->geometry(x.shape(), history).output_shape(), DType::F32);
  forward_into(ctx, x, history, out);
  return out;
}

void Conv::forward_into(const ComputeContext& ctx, const Tensor& x, const Tensor& history,
                        Tensor& out) const {
  constexpr std::string_view op = "Conv";
  if (x.dtype() != DType::F32) fail(op, ": x must be f32, found ", name(x.dtype()));
  if (history.defined() && history.dtype() != DType::F32)
    fail(op, ": history must be f32, found ", name(history.dtype()));
  if (out.dtype() != DType::F32) fail(op, ": out must be f32, found ", name(out.dtype()));
  ConvGeometry g = impl_->geometry(x.shape(), history);
  if (out.shape() != g.output_shape())
    fail(op, ": out has shape ", out.shape().str(), ", expected ", g.output_shape().str());
  if (!out.writable()) fail(op, ": out is not writable");

  try {
    run(ctx, g, x, history, out);
  } catch (const dnnl::error& e) {
    fail(op, ": oneDNN failed for input ", x.shape().str(), " and weight ",
         impl_->weight.shape().str(), ": ", e.what());
  }
}

void Conv::run(const ComputeContext& ctx, const ConvGeometry& g, const Tensor& x,
               const Tensor& history, Tensor& out) const {
  OmpThreads threads(ctx.threads);
  std::shared_ptr<const Impl::Plan> plan = impl_->plan(g, ctx.threads);
  const dnnl::engine& eng = cpu_engine();
  dnnl::stream stream(eng);

  // The source: x itself when oneDNN reads the plain layout and there is no history; otherwise
  // a buffer in oneDNN's layout that history and x are reordered into, one after the other in
  // time, without an intermediate concatenated copy.
  memory::desc plain_src = plain_desc(g.input_shape());
  memory src;
  if (g.history == 0 && plan->src == plain_src) {
    src = memory(plain_src, eng, const_cast<void*>(x.raw()));
  } else {
    src = memory(plan->src, eng);
    auto copy_in = [&](const Tensor& part, int64_t frame_offset) {
      memory::dims offsets(size_t(x.rank()), 0);
      if (g.axes == 3) offsets[2] = frame_offset;
      memory from(plain_desc(part.shape()), eng, const_cast<void*>(part.raw()));
      memory into(plan->src.submemory_desc(dims_of(part.shape()), offsets), eng,
                  src.get_data_handle());
      dnnl::reorder(from, into).execute(stream, from, into);
    };
    if (g.history > 0) copy_in(history, 0);
    copy_in(x, g.history);
  }

  memory::desc plain_dst = plain_desc(g.output_shape());
  memory dst_plain(plain_dst, eng, out.mutable_raw());
  const bool dst_is_plain = plan->dst == plain_dst;
  memory dst = dst_is_plain ? dst_plain : memory(plan->dst, eng);

  std::unordered_map<int, memory> args = {
      {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, plan->packed_weights}, {DNNL_ARG_DST, dst}};
  if (impl_->bias.defined())
    args.emplace(DNNL_ARG_BIAS, memory(plain_desc(impl_->bias.shape()), eng,
                                       const_cast<void*>(impl_->bias.raw())));
  plan->primitive.execute(stream, args);
  if (!dst_is_plain) dnnl::reorder(dst, dst_plain).execute(stream, dst, dst_plain);
  stream.wait();
}

}  // namespace kinema::cpu
