// Portable block kernels: plain C++, f32 math, every operand packed as row-major f32. This is
// the reference the vector levels are tested against, and the fallback for any processor.
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/cpu/attention_kernels.h"

namespace kinema::cpu::attention_detail::generic {
namespace {

void pack_rows(const void* src, DType dtype, int64_t stride, int rows, int d, int n_rows, int d_pad,
               void* dst) {
  float* out = static_cast<float*>(dst);
  for (int r = 0; r < n_rows; ++r) {
    float* o = out + int64_t(r) * d_pad;
    int c = 0;
    if (r < rows) {
      if (dtype == DType::BF16) {
        const uint16_t* in = static_cast<const uint16_t*>(src) + r * stride;
        for (; c < d; ++c) o[c] = bf16_to_f32(in[c]);
      } else {
        std::memcpy(o, static_cast<const float*>(src) + r * stride, size_t(d) * 4);
        c = d;
      }
    }
    for (; c < d_pad; ++c) o[c] = 0.0f;
  }
}

constexpr int kQBlock = 32;
constexpr int kKBlock = 64;

void scores(const void* q, const void* k, int d_pad, int k_used, int64_t ld, float* s) {
  const float* qf = static_cast<const float*>(q);
  const float* kf = static_cast<const float*>(k);
  for (int i = 0; i < kQBlock; ++i) {
    const float* qi = qf + int64_t(i) * d_pad;
    for (int j = 0; j < k_used; ++j) {
      const float* kj = kf + int64_t(j) * d_pad;
      float acc = 0.0f;
      for (int c = 0; c < d_pad; ++c) acc += qi[c] * kj[c];
      s[i * ld + j] = acc;
    }
  }
}

void softmax(const SoftmaxBlock& b) {
  float* p = static_cast<float*>(b.p);
  for (int i = 0; i < b.rows; ++i) {
    float* si = b.s + i * b.ld;
    float* pi = p + i * b.ld;
    float mx = -std::numeric_limits<float>::infinity();
    for (int j = 0; j < b.cols; ++j) mx = std::fmax(mx, si[j] * b.scale);
    float m_new = std::fmax(b.m[i], mx);
    // A row whose scores are all -inf so far keeps p = 0 instead of exp(-inf + inf) = NaN.
    float base = std::isinf(m_new) && m_new < 0 ? 0.0f : m_new;
    float sum = 0.0f;
    for (int j = 0; j < b.k_used; ++j) {
      float e = j < b.cols ? std::exp(si[j] * b.scale - base) : 0.0f;
      sum += e;
      pi[j] = b.round_p ? bf16_to_f32(f32_to_bf16(e)) : e;
    }
    b.alpha[i] = std::exp(b.m[i] - base);
    b.l[i] = b.l[i] * b.alpha[i] + sum;
    b.m[i] = m_new;
  }
}

void accumulate(const void* p, const void* v, const float* alpha, int d_pad, int k_used, int64_t ld,
                float* o) {
  const float* pf = static_cast<const float*>(p);
  const float* vf = static_cast<const float*>(v);
  for (int i = 0; i < kQBlock; ++i) {
    float* oi = o + int64_t(i) * d_pad;
    for (int c = 0; c < d_pad; ++c) oi[c] *= alpha[i];
    for (int j = 0; j < k_used; ++j) {
      float pij = pf[i * ld + j];
      if (pij == 0.0f) continue;
      const float* vj = vf + int64_t(j) * d_pad;
      for (int c = 0; c < d_pad; ++c) oi[c] += pij * vj[c];
    }
  }
}

void finish(const float* o, const float* l, int rows, int d, int d_pad, void* out, DType out_dtype,
            int64_t out_stride) {
  for (int i = 0; i < rows; ++i) {
    const float* oi = o + int64_t(i) * d_pad;
    for (int c = 0; c < d; ++c) {
      float x = l[i] > 0.0f ? oi[c] / l[i] : 0.0f;
      if (out_dtype == DType::BF16)
        static_cast<uint16_t*>(out)[i * out_stride + c] = f32_to_bf16(x);
      else
        static_cast<float*>(out)[i * out_stride + c] = x;
    }
  }
}

}  // namespace

const BlockKernels& block_kernels() {
  static const BlockKernels kernels{
      .q_block = kQBlock,
      .k_block = kKBlock,
      .d_align = 1,
      .elem_bytes = 4,
      .pack_q = pack_rows,
      .pack_k = pack_rows,
      .pack_v = pack_rows,
      .scores = scores,
      .softmax = softmax,
      .accumulate = accumulate,
      .finish = finish,
  };
  return kernels;
}

}  // namespace kinema::cpu::attention_detail::generic
