// f32 FMA block kernels on 16 lanes (AVX-512F). bf16 inputs are widened when packed, so this is
// also the f32 (VAE) path and the bf16 path of AVX-512 processors without AVX512-BF16.
//
// Layouts: Q [q_block][d_pad] f32; K in chunks of 32 keys, [k_block/32][d_pad][32] (a d-row of a
// chunk is two vectors of keys); V [k_block][d_pad]; P [q_block][k_block] f32.
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "kernels/cpu/attention_kernels.h"
#include "kernels/cpu/softmax_exp_avx512.h"

namespace kinema::cpu::attention_detail::avx512 {
namespace {

constexpr int kQBlock = 48;
constexpr int kKBlock = 128;
constexpr int kQkRows = 12;  // Q.K^T register tile: 12 queries x 32 keys (24 accumulators)
constexpr int kPvRows = 6;   // P.V register tile: 6 queries x 64 dims (24 accumulators)

__mmask16 tail_mask(int left) {
  return left >= 16 ? __mmask16(0xffff) : left <= 0 ? __mmask16(0) : __mmask16((1u << left) - 1);
}

__m512 load_f32x16(const void* src, DType dtype, int64_t index, __mmask16 k) {
  if (dtype == DType::BF16)
    return bf16x16_to_f32(_mm256_maskz_loadu_epi16(k, static_cast<const uint16_t*>(src) + index));
  return _mm512_maskz_loadu_ps(k, static_cast<const float*>(src) + index);
}

// Row-major f32 rows (Q and V).
void pack_rows(const void* src, DType dtype, int64_t stride, int rows, int d, int n_rows, int d_pad,
               void* dst) {
  float* out = static_cast<float*>(dst);
  for (int r = 0; r < n_rows; ++r)
    for (int c = 0; c < d_pad; c += 16) {
      __m512 x = r < rows ? load_f32x16(src, dtype, r * stride + c, tail_mask(d - c))
                          : _mm512_setzero_ps();
      _mm512_storeu_ps(out + int64_t(r) * d_pad + c, x);
    }
}

// Keys transposed within chunks of 32: dst[chunk][c][key % 32].
void pack_k(const void* src, DType dtype, int64_t stride, int rows, int d, int n_rows, int d_pad,
            void* dst) {
  float* out = static_cast<float*>(dst);
  std::memset(out, 0, size_t(n_rows) * size_t(d_pad) * 4);
  alignas(64) float row[16];
  for (int j = 0; j < rows; ++j) {
    float* chunk = out + int64_t(j / kKeyChunk) * d_pad * kKeyChunk + j % kKeyChunk;
    for (int c = 0; c < d; c += 16) {
      _mm512_store_ps(row, load_f32x16(src, dtype, j * stride + c, tail_mask(d - c)));
      int n = d - c < 16 ? d - c : 16;
      for (int t = 0; t < n; ++t) chunk[int64_t(c + t) * kKeyChunk] = row[t];
    }
  }
}

template <int MR>
void qk_tile(const float* q, int d_pad, const float* kc, float* s, int64_t ld) {
  __m512 acc[MR][2];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (int c = 0; c < d_pad; ++c) {
    __m512 k0 = _mm512_loadu_ps(kc + c * kKeyChunk);
    __m512 k1 = _mm512_loadu_ps(kc + c * kKeyChunk + 16);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      __m512 qb = _mm512_set1_ps(q[r * d_pad + c]);
      acc[r][0] = _mm512_fmadd_ps(qb, k0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(qb, k1, acc[r][1]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    _mm512_storeu_ps(s + r * ld, acc[r][0]);
    _mm512_storeu_ps(s + r * ld + 16, acc[r][1]);
  }
}

void scores(const void* q, const void* k, int d_pad, int k_used, int64_t ld, float* s) {
  const float* qf = static_cast<const float*>(q);
  const float* kf = static_cast<const float*>(k);
  for (int c = 0; c < k_used; c += kKeyChunk)
    for (int r = 0; r < kQBlock; r += kQkRows)
      qk_tile<kQkRows>(qf + r * d_pad, d_pad, kf + int64_t(c) * d_pad, s + r * ld + c, ld);
}

// NV vectors of output dims for MR rows: o = o * alpha + P.V over k_used keys.
template <int MR, int NV>
void pv_tile(const float* p, int64_t ld, const float* v, int d_pad, int k_used, const float* alpha,
             float* o) {
  __m512 acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    __m512 a = _mm512_set1_ps(alpha[r]);
#pragma GCC unroll 8
    for (int t = 0; t < NV; ++t)
      acc[r][t] = _mm512_mul_ps(_mm512_loadu_ps(o + r * d_pad + 16 * t), a);
  }
  for (int j = 0; j < k_used; ++j) {
    __m512 vv[NV];
#pragma GCC unroll 8
    for (int t = 0; t < NV; ++t) vv[t] = _mm512_loadu_ps(v + int64_t(j) * d_pad + 16 * t);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      __m512 pb = _mm512_set1_ps(p[r * ld + j]);
#pragma GCC unroll 8
      for (int t = 0; t < NV; ++t) acc[r][t] = _mm512_fmadd_ps(pb, vv[t], acc[r][t]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
    for (int t = 0; t < NV; ++t) _mm512_storeu_ps(o + r * d_pad + 16 * t, acc[r][t]);
}

void accumulate(const void* p, const void* v, const float* alpha, int d_pad, int k_used, int64_t ld,
                float* o) {
  const float* pf = static_cast<const float*>(p);
  const float* vf = static_cast<const float*>(v);
  for (int c = 0; c < d_pad; c += 64) {
    int nv = (d_pad - c) / 16 < 4 ? (d_pad - c) / 16 : 4;
    for (int r = 0; r < kQBlock; r += kPvRows) {
      const float* pr = pf + r * ld;
      float* orow = o + r * d_pad + c;
      switch (nv) {
        case 4: pv_tile<kPvRows, 4>(pr, ld, vf + c, d_pad, k_used, alpha + r, orow); break;
        case 3: pv_tile<kPvRows, 3>(pr, ld, vf + c, d_pad, k_used, alpha + r, orow); break;
        case 2: pv_tile<kPvRows, 2>(pr, ld, vf + c, d_pad, k_used, alpha + r, orow); break;
        default: pv_tile<kPvRows, 1>(pr, ld, vf + c, d_pad, k_used, alpha + r, orow); break;
      }
    }
  }
}

float exp_scalar(float x) { return _mm512_cvtss_f32(exp_avx512(_mm512_set1_ps(x))); }

void softmax(const SoftmaxBlock& b) {
  float* p = static_cast<float*>(b.p);
  const __m512 scale = _mm512_set1_ps(b.scale), neg_inf = _mm512_set1_ps(-INFINITY);
  // Two passes over the rows, first every row's max, then every row's exponentials, so that
  // one row's reductions (long dependency chains) overlap with other rows' work.
  alignas(64) float bases[kMaxQBlock];
  for (int i = 0; i < b.rows; ++i) {
    const float* si = b.s + i * b.ld;
    __m512 max0 = neg_inf, max1 = neg_inf;
    int j = 0;
    for (; j + 32 <= b.cols; j += 32) {
      max0 = _mm512_max_ps(max0, _mm512_loadu_ps(si + j));
      max1 = _mm512_max_ps(max1, _mm512_loadu_ps(si + j + 16));
    }
    for (; j < b.cols; j += 16)
      max0 = _mm512_max_ps(max0, _mm512_mask_loadu_ps(neg_inf, tail_mask(b.cols - j), si + j));
    float mx = reduce_max16(_mm512_max_ps(max0, max1)) * b.scale;
    float m_new = mx > b.m[i] ? mx : b.m[i];
    float base = m_new == -INFINITY ? 0.0f : m_new;  // all -inf so far: p = 0, not NaN
    bases[i] = base;
    // m = -inf (the first block): alpha = 0 directly, exp(-inf) would take a slow subnormal path.
    b.alpha[i] = b.m[i] == -INFINITY ? 0.0f : exp_scalar(b.m[i] - base);
    b.m[i] = m_new;
  }
  for (int i = 0; i < b.rows; ++i) {
    const float* si = b.s + i * b.ld;
    float* pi = p + i * b.ld;
    __m512 vbase = _mm512_set1_ps(bases[i]), sum0 = _mm512_setzero_ps(), sum1 = _mm512_setzero_ps();
    for (int j = 0; j < b.k_used; j += 32) {
      __m512 e0 = exp_avx512(_mm512_fmsub_ps(_mm512_loadu_ps(si + j), scale, vbase));
      __m512 e1 = exp_avx512(_mm512_fmsub_ps(_mm512_loadu_ps(si + j + 16), scale, vbase));
      if (j + 32 > b.cols) {  // the last, partial chunk: keys past cols get p = 0
        e0 = _mm512_maskz_mov_ps(tail_mask(b.cols - j), e0);
        e1 = _mm512_maskz_mov_ps(tail_mask(b.cols - j - 16), e1);
      }
      sum0 = _mm512_add_ps(sum0, e0);
      sum1 = _mm512_add_ps(sum1, e1);
      _mm512_storeu_ps(pi + j, b.round_p ? round_to_bf16(e0) : e0);
      _mm512_storeu_ps(pi + j + 16, b.round_p ? round_to_bf16(e1) : e1);
    }
    b.l[i] = b.l[i] * b.alpha[i] + reduce_add16(_mm512_add_ps(sum0, sum1));
  }
}

void finish(const float* o, const float* l, int rows, int d, int d_pad, void* out, DType out_dtype,
            int64_t out_stride) {
  for (int i = 0; i < rows; ++i) {
    __m512 inv = _mm512_set1_ps(l[i] > 0.0f ? 1.0f / l[i] : 0.0f);
    for (int c = 0; c < d; c += 16) {
      __m512 x = _mm512_mul_ps(_mm512_loadu_ps(o + int64_t(i) * d_pad + c), inv);
      __mmask16 k = tail_mask(d - c);
      if (out_dtype == DType::BF16)
        _mm256_mask_storeu_epi16(static_cast<uint16_t*>(out) + i * out_stride + c, k,
                                 f32_to_bf16x16(x));
      else
        _mm512_mask_storeu_ps(static_cast<float*>(out) + i * out_stride + c, k, x);
    }
  }
}

}  // namespace

const BlockKernels& block_kernels() {
  static const BlockKernels kernels{
      .q_block = kQBlock,
      .k_block = kKBlock,
      .d_align = 16,
      .elem_bytes = 4,
      .pack_q = pack_rows,
      .pack_k = pack_k,
      .pack_v = pack_rows,
      .scores = scores,
      .softmax = softmax,
      .accumulate = accumulate,
      .finish = finish,
  };
  return kernels;
}

}  // namespace kinema::cpu::attention_detail::avx512
