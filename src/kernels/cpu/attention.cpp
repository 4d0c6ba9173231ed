// The attention API, the choice of path, and the one tiling driver all paths share. The block
// kernels (attention_kernels.h) do the arithmetic; this file owns the loops, the scratch and the
// threads.
#include "kernels/cpu/attention.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <new>

#include "core/cpu.h"
#include "core/error.h"
#include "kernels/cpu/attention_kernels.h"

namespace kinema::cpu {

using attention_detail::BlockKernels;
using attention_detail::kKeyChunk;
using attention_detail::SoftmaxBlock;

namespace {

// 64-byte aligned, uninitialised bytes.
class AlignedBytes {
 public:
  explicit AlignedBytes(size_t n)
      : data_(static_cast<std::byte*>(
            ::operator new(std::max<size_t>(n, 64), std::align_val_t(64)))) {}
  ~AlignedBytes() { ::operator delete(data_, std::align_val_t(64)); }
  AlignedBytes(const AlignedBytes&) = delete;
  AlignedBytes& operator=(const AlignedBytes&) = delete;
  std::byte* get() const { return data_; }

 private:
  std::byte* data_;
};

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

const BlockKernels& kernels_for(AttentionPath path) {
  switch (path) {
    case AttentionPath::Generic: return attention_detail::generic::block_kernels();
    case AttentionPath::Avx2: return attention_detail::avx2::block_kernels();
    case AttentionPath::Avx512: return attention_detail::avx512::block_kernels();
    case AttentionPath::Avx512Bf16: return attention_detail::avx512bf16::block_kernels();
    case AttentionPath::Amx: return *attention_detail::amx::block_kernels();
    case AttentionPath::Auto: break;
  }
  fail("attention: no block kernels for path ", attention_path_name(path));
}

AttentionPath choose_path(DType dtype, AttentionPath wanted) {
  std::vector<AttentionPath> paths = attention_paths(dtype);
  if (wanted == AttentionPath::Auto) return paths.back();
  if (std::find(paths.begin(), paths.end(), wanted) == paths.end())
    fail("attention: path ", attention_path_name(wanted), " is not available for ", name(dtype),
         " inputs on this processor (KINEMA_ISA=", isa_name(active_isa()), ")");
  return wanted;
}

// The umT5 logit transform (see BlockKernels::transform), the portable version.
void transform_logits(float* s, int64_t ld, int rows, int cols, float scale, const void* bias,
                      DType bias_dtype, int64_t bias_row_stride, bool round_bf16) {
  for (int i = 0; i < rows; ++i) {
    float* row = s + i * ld;
    for (int j = 0; j < cols; ++j) {
      float x = row[j] * scale;
      if (round_bf16) x = bf16_to_f32(f32_to_bf16(x));
      if (bias) {
        int64_t at = i * bias_row_stride + j;
        x += bias_dtype == DType::BF16 ? bf16_to_f32(static_cast<const uint16_t*>(bias)[at])
                                       : static_cast<const float*>(bias)[at];
        if (round_bf16) x = bf16_to_f32(f32_to_bf16(x));
      }
      row[j] = x;
    }
  }
}

void check_problem(const AttentionProblem& p, const AttentionOptions& o) {
  if (p.dtype != DType::BF16 && p.dtype != DType::F32)
    fail("attention: q, k, v must be bf16 or f32, got ", name(p.dtype));
  if (p.out_dtype != DType::BF16 && p.out_dtype != DType::F32)
    fail("attention: out must be bf16 or f32, got ", name(p.out_dtype));
  if (p.dtype == DType::F32 && p.out_dtype != DType::F32)
    fail("attention: f32 inputs need an f32 output, got ", name(p.out_dtype));
  if (p.q_len < 1 || p.k_len < 1 || p.heads < 1 || p.head_dim < 1)
    fail("attention: empty problem (q_len ", p.q_len, ", k_len ", p.k_len, ", heads ", p.heads,
         ", head_dim ", p.head_dim, ")");
  if (p.head_dim > 4096) fail("attention: head_dim ", p.head_dim, " exceeds the supported 4096");
  int64_t row = p.heads * p.head_dim;
  if (p.q_stride < row || p.k_stride < row || p.v_stride < row || p.out_stride < row)
    fail("attention: token row strides (q ", p.q_stride, ", k ", p.k_stride, ", v ", p.v_stride,
         ", out ", p.out_stride, ") must be at least heads*head_dim = ", row);
  if (!p.q || !p.k || !p.v || !p.out) fail("attention: null q, k, v or out pointer");
  if (o.kv_len == 0 || o.kv_len < -1 || o.kv_len > p.k_len)
    fail("attention: kv_len ", o.kv_len, " must be -1 or in [1, k_len = ", p.k_len, "]");
  if (!(o.scale >= 0.0f) || std::isinf(o.scale))
    fail("attention: scale must be positive and finite (0 for 1/sqrt(head_dim)), got ", o.scale);
  if (o.bias.data && o.bias.dtype != DType::BF16 && o.bias.dtype != DType::F32)
    fail("attention: bias must be bf16 or f32, got ", name(o.bias.dtype));
}

}  // namespace

std::string_view attention_path_name(AttentionPath path) {
  switch (path) {
    case AttentionPath::Auto: return "auto";
    case AttentionPath::Generic: return "generic";
    case AttentionPath::Avx2: return "avx2";
    case AttentionPath::Avx512: return "avx512";
    case AttentionPath::Avx512Bf16: return "avx512bf16";
    case AttentionPath::Amx: return "amx";
  }
  return "?";
}

std::vector<AttentionPath> attention_paths(DType dtype) {
  std::vector<AttentionPath> paths{AttentionPath::Generic};
  Isa isa = active_isa();
  if (isa >= Isa::Avx2) paths.push_back(AttentionPath::Avx2);
  if (isa >= Isa::Avx512) paths.push_back(AttentionPath::Avx512);
  if (isa >= Isa::Avx512Bf16 && dtype == DType::BF16) {
    paths.push_back(AttentionPath::Avx512Bf16);
    if (attention_detail::amx::block_kernels()) paths.push_back(AttentionPath::Amx);
  }
  return paths;
}

void attention(const ComputeContext& ctx, const AttentionProblem& p, const AttentionOptions& opt) {
  check_problem(p, opt);
  const BlockKernels& kern = kernels_for(choose_path(p.dtype, opt.path));
  KINEMA_CHECK(kern.q_block <= attention_detail::kMaxQBlock && kern.k_block % kKeyChunk == 0);
  const int d = int(p.head_dim);
  const int d_pad = int(round_up(d, kern.d_align));
  const int64_t kv_len = opt.kv_len < 0 ? p.k_len : opt.kv_len;
  const float scale = opt.scale > 0.0f ? opt.scale : float(1.0 / std::sqrt(double(d)));
  // The umT5 options need a logit transform before the softmax.
  const auto transform = opt.bias.data == nullptr && !opt.round_logits_bf16 ? nullptr
                         : kern.transform                                   ? kern.transform
                                                                            : transform_logits;
  const size_t esize = size_t(p.dtype == DType::BF16 ? 2 : 4);
  const size_t eb = size_t(kern.elem_bytes);

  // K and V are packed for a group of heads at a time, about 4 MB, so that the packed blocks
  // are still in cache when the tasks read them (and the copy stays small however long the
  // sequence).
  const int64_t k_blocks = (kv_len + kern.k_block - 1) / kern.k_block;
  const size_t kv_block_bytes = size_t(kern.k_block) * size_t(d_pad) * eb;
  const size_t head_bytes = 2 * size_t(k_blocks) * kv_block_bytes;
  const int64_t group = std::clamp<int64_t>(int64_t((size_t(4) << 20) / head_bytes), 1, p.heads);
  AlignedBytes packed(size_t(group) * head_bytes);

  // Per-thread scratch: packed Q, scores S, probabilities P, accumulator O, m, l, alpha.
  const size_t q_bytes = round_up(int64_t(kern.q_block) * d_pad * eb, 64);
  const size_t s_bytes = size_t(kern.q_block) * size_t(kern.k_block) * 4;
  const size_t p_bytes = size_t(kern.q_block) * size_t(kern.k_block) * eb;
  const size_t o_bytes = size_t(kern.q_block) * size_t(d_pad) * 4;
  const size_t v_bytes = round_up(kern.q_block * 4, 64);
  const size_t thread_bytes = q_bytes + s_bytes + p_bytes + o_bytes + 3 * v_bytes;
  const int threads = std::max(1, ctx.threads);
  AlignedBytes scratch(thread_bytes * size_t(threads));

  const int64_t q_blocks = (p.q_len + kern.q_block - 1) / kern.q_block;
  const auto* q_base = static_cast<const std::byte*>(p.q);
  const auto* k_base = static_cast<const std::byte*>(p.k);
  const auto* v_base = static_cast<const std::byte*>(p.v);
  auto* out_base = static_cast<std::byte*>(p.out);
  const size_t out_esize = p.out_dtype == DType::BF16 ? 2 : 4;

  for (int64_t h0 = 0; h0 < p.heads; h0 += group) {
    const int64_t g = std::min(group, p.heads - h0);
    parallel_for(ctx, g * k_blocks, 4, [&](int64_t begin, int64_t end) {
      for (int64_t item = begin; item < end; ++item) {
        int64_t h = h0 + item / k_blocks, kb = item % k_blocks;
        int64_t k0 = kb * kern.k_block;
        int rows = int(std::min<int64_t>(kern.k_block, kv_len - k0));
        std::byte* dst = packed.get() + size_t(item) * 2 * kv_block_bytes;
        kern.pack_k(k_base + (k0 * p.k_stride + h * d) * esize, p.dtype, p.k_stride, rows, d,
                    kern.k_block, d_pad, dst);
        kern.pack_v(v_base + (k0 * p.v_stride + h * d) * esize, p.dtype, p.v_stride, rows, d,
                    kern.k_block, d_pad, dst + kv_block_bytes);
      }
    });

    parallel_tasks(ctx, g * q_blocks, [&](int64_t task) {
      const int64_t hl = task / q_blocks, h = h0 + hl;
      const int64_t q0 = (task % q_blocks) * kern.q_block;
      const int rows = int(std::min<int64_t>(kern.q_block, p.q_len - q0));
      std::byte* mine = scratch.get() + thread_bytes * size_t(omp_get_thread_num() % threads);
      void* qp = mine;
      float* s = reinterpret_cast<float*>(mine + q_bytes);
      void* pp = mine + q_bytes + s_bytes;
      float* o = reinterpret_cast<float*>(mine + q_bytes + s_bytes + p_bytes);
      float* m = reinterpret_cast<float*>(mine + q_bytes + s_bytes + p_bytes + o_bytes);
      float* l = m + v_bytes / 4;
      float* alpha = l + v_bytes / 4;

      if (kern.begin_task) kern.begin_task();
      kern.pack_q(q_base + (q0 * p.q_stride + h * d) * esize, p.dtype, p.q_stride, rows, d,
                  kern.q_block, d_pad, qp);
      // Only the padding rows of P are never written by the softmax; the products read them.
      std::memset(static_cast<std::byte*>(pp) + size_t(rows) * size_t(kern.k_block) * eb, 0,
                  size_t(kern.q_block - rows) * size_t(kern.k_block) * eb);
      std::memset(o, 0, o_bytes);
      for (int i = 0; i < kern.q_block; ++i) {
        m[i] = -std::numeric_limits<float>::infinity();
        l[i] = 0.0f;
        alpha[i] = 0.0f;
      }
      for (int64_t kb = 0; kb < k_blocks; ++kb) {
        const int64_t k0 = kb * kern.k_block;
        const int cols = int(std::min<int64_t>(kern.k_block, kv_len - k0));
        const int k_used = int(round_up(cols, kKeyChunk));
        const std::byte* kp = packed.get() + size_t(hl * k_blocks + kb) * 2 * kv_block_bytes;
        kern.scores(qp, kp, d_pad, k_used, kern.k_block, s);
        float block_scale = scale;
        if (transform) {
          const void* bias = nullptr;
          if (opt.bias.data) {
            const int64_t at = h * opt.bias.head_stride + q0 * opt.bias.row_stride + k0;
            bias = static_cast<const std::byte*>(opt.bias.data) +
                   at * (opt.bias.dtype == DType::BF16 ? 2 : 4);
          }
          transform(s, kern.k_block, rows, cols, scale, bias, opt.bias.dtype, opt.bias.row_stride,
                    opt.round_logits_bf16);
          block_scale = 1.0f;
        }
        kern.softmax(SoftmaxBlock{.s = s,
                                  .ld = kern.k_block,
                                  .rows = rows,
                                  .cols = cols,
                                  .k_used = k_used,
                                  .scale = block_scale,
                                  .m = m,
                                  .l = l,
                                  .alpha = alpha,
                                  .p = pp,
                                  .round_p = p.dtype == DType::BF16});
        kern.accumulate(pp, kp + kv_block_bytes, alpha, d_pad, k_used, kern.k_block, o);
      }
      kern.finish(o, l, rows, d, d_pad, out_base + (q0 * p.out_stride + h * d) * out_esize,
                  p.out_dtype, p.out_stride);
      if (kern.end_task) kern.end_task();
    });
  }
}

void attention(const ComputeContext& ctx, const Tensor& q, const Tensor& k, const Tensor& v,
               Tensor& out, const AttentionOptions& options) {
  auto check_rank = [](const Tensor& t, const char* what) {
    if (t.rank() != 3)
      fail("attention: ", what, " must be [L, heads, head_dim], got rank ", t.rank());
  };
  check_rank(q, "q");
  check_rank(k, "k");
  check_rank(v, "v");
  check_rank(out, "out");
  if (k.shape() != v.shape())
    fail("attention: k ", k.shape().str(), " and v ", v.shape().str(), " shapes differ");
  if (q.dim(1) != k.dim(1) || q.dim(2) != k.dim(2))
    fail("attention: q ", q.shape().str(), " and k ", k.shape().str(),
         " disagree on heads or head_dim");
  if (out.shape() != q.shape())
    fail("attention: out ", out.shape().str(), " must have q's shape ", q.shape().str());
  if (q.dtype() != k.dtype() || q.dtype() != v.dtype())
    fail("attention: q, k, v dtypes differ (", name(q.dtype()), ", ", name(k.dtype()), ", ",
         name(v.dtype()), ")");
  AttentionProblem p;
  p.dtype = q.dtype();
  p.out_dtype = out.dtype();
  p.q = q.raw();
  p.k = k.raw();
  p.v = v.raw();
  p.out = out.mutable_raw();
  p.q_len = q.dim(0);
  p.k_len = k.dim(0);
  p.heads = q.dim(1);
  p.head_dim = q.dim(2);
  p.q_stride = p.k_stride = p.v_stride = p.out_stride = p.heads * p.head_dim;
  attention(ctx, p, options);
}

}  // namespace kinema::cpu
