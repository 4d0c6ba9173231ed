// f32 FMA block kernels on 8 lanes (AVX2 + FMA): the attention path of processors without
// AVX-512. bf16 inputs are widened when packed.
//
// Layouts: Q [q_block][d_pad] f32; K in chunks of 32 keys, [k_block/32][d_pad][32]; V
// [k_block][d_pad]; P [q_block][k_block] f32. d_pad is a multiple of 8.
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "kernels/cpu/attention_kernels.h"
#include "kernels/cpu/softmax_exp_avx2.h"

namespace kinema::cpu::attention_detail::avx2 {
namespace {

constexpr int kQBlock = 48;
constexpr int kKBlock = 128;
constexpr int kQkRows = 6;  // Q.K^T register tile: 6 queries x 16 keys (12 accumulators)
constexpr int kPvRows = 6;  // P.V register tile: 6 queries x 16 dims (12 accumulators)

// Up to 8 values of a row (bf16 or f32) as f32; lanes past n are 0.
__m256 load_f32x8(const void* src, DType dtype, int64_t index, int n) {
  if (n >= 8) {
    if (dtype == DType::BF16)
      return bf16x8_to_f32(_mm_loadu_si128(
          reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(src) + index)));
    return _mm256_loadu_ps(static_cast<const float*>(src) + index);
  }
  alignas(32) float buf[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int t = 0; t < n; ++t) {
    if (dtype == DType::BF16) {
      uint32_t bits = uint32_t(static_cast<const uint16_t*>(src)[index + t]) << 16;
      std::memcpy(buf + t, &bits, 4);
    } else {
      buf[t] = static_cast<const float*>(src)[index + t];
    }
  }
  return _mm256_load_ps(buf);
}

void pack_rows(const void* src, DType dtype, int64_t stride, int rows, int d, int n_rows, int d_pad,
               void* dst) {
  float* out = static_cast<float*>(dst);
  for (int r = 0; r < n_rows; ++r)
    for (int c = 0; c < d_pad; c += 8) {
      __m256 x =
          r < rows && c < d ? load_f32x8(src, dtype, r * stride + c, d - c) : _mm256_setzero_ps();
      _mm256_storeu_ps(out + int64_t(r) * d_pad + c, x);
    }
}

void pack_k(const void* src, DType dtype, int64_t stride, int rows, int d, int n_rows, int d_pad,
            void* dst) {
  float* out = static_cast<float*>(dst);
  std::memset(out, 0, size_t(n_rows) * size_t(d_pad) * 4);
  alignas(32) float row[8];
  for (int j = 0; j < rows; ++j) {
    float* chunk = out + int64_t(j / kKeyChunk) * d_pad * kKeyChunk + j % kKeyChunk;
    for (int c = 0; c < d; c += 8) {
      _mm256_store_ps(row, load_f32x8(src, dtype, j * stride + c, d - c));
      int n = d - c < 8 ? d - c : 8;
      for (int t = 0; t < n; ++t) chunk[int64_t(c + t) * kKeyChunk] = row[t];
    }
  }
}

// MR queries x 16 keys (one half of a 32-key chunk).
template <int MR>
void qk_tile(const float* q, int d_pad, const float* kc, float* s, int64_t ld) {
  __m256 acc[MR][2];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  for (int c = 0; c < d_pad; ++c) {
    __m256 k0 = _mm256_loadu_ps(kc + c * kKeyChunk);
    __m256 k1 = _mm256_loadu_ps(kc + c * kKeyChunk + 8);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      __m256 qb = _mm256_broadcast_ss(q + r * d_pad + c);
      acc[r][0] = _mm256_fmadd_ps(qb, k0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(qb, k1, acc[r][1]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    _mm256_storeu_ps(s + r * ld, acc[r][0]);
    _mm256_storeu_ps(s + r * ld + 8, acc[r][1]);
  }
}

void scores(const void* q, const void* k, int d_pad, int k_used, int64_t ld, float* s) {
  const float* qf = static_cast<const float*>(q);
  const float* kf = static_cast<const float*>(k);
  for (int c = 0; c < k_used; c += 16) {
    const float* kc = kf + int64_t(c / kKeyChunk) * d_pad * kKeyChunk + c % kKeyChunk;
    for (int r = 0; r < kQBlock; r += kQkRows)
      qk_tile<kQkRows>(qf + r * d_pad, d_pad, kc, s + r * ld + c, ld);
  }
}

template <int MR, int NV>
void pv_tile(const float* p, int64_t ld, const float* v, int d_pad, int k_used, const float* alpha,
             float* o) {
  __m256 acc[MR][NV];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    __m256 a = _mm256_set1_ps(alpha[r]);
#pragma GCC unroll 2
    for (int t = 0; t < NV; ++t)
      acc[r][t] = _mm256_mul_ps(_mm256_loadu_ps(o + r * d_pad + 8 * t), a);
  }
  for (int j = 0; j < k_used; ++j) {
    __m256 vv[NV];
#pragma GCC unroll 2
    for (int t = 0; t < NV; ++t) vv[t] = _mm256_loadu_ps(v + int64_t(j) * d_pad + 8 * t);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      __m256 pb = _mm256_broadcast_ss(p + r * ld + j);
#pragma GCC unroll 2
      for (int t = 0; t < NV; ++t) acc[r][t] = _mm256_fmadd_ps(pb, vv[t], acc[r][t]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 2
    for (int t = 0; t < NV; ++t) _mm256_storeu_ps(o + r * d_pad + 8 * t, acc[r][t]);
}

void accumulate(const void* p, const void* v, const float* alpha, int d_pad, int k_used, int64_t ld,
                float* o) {
  const float* pf = static_cast<const float*>(p);
  const float* vf = static_cast<const float*>(v);
  for (int c = 0; c < d_pad; c += 16) {
    bool two = d_pad - c >= 16;
    for (int r = 0; r < kQBlock; r += kPvRows) {
      if (two)
        pv_tile<kPvRows, 2>(pf + r * ld, ld, vf + c, d_pad, k_used, alpha + r, o + r * d_pad + c);
      else
        pv_tile<kPvRows, 1>(pf + r * ld, ld, vf + c, d_pad, k_used, alpha + r, o + r * d_pad + c);
    }
  }
}

// Lanes [0, n) set, for n in [0, 8].
__m256 lane_mask(int n) {
  __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(n), idx));
}

void softmax(const SoftmaxBlock& b) {
  float* p = static_cast<float*>(b.p);
  const __m256 scale = _mm256_set1_ps(b.scale), neg_inf = _mm256_set1_ps(-INFINITY);
  // Two passes over the rows (every row's max, then every row's exponentials), so that the
  // rows' reduction chains overlap.
  alignas(32) float bases[kMaxQBlock];
  for (int i = 0; i < b.rows; ++i) {
    const float* si = b.s + i * b.ld;
    __m256 max0 = neg_inf, max1 = neg_inf;
    int j = 0;
    for (; j + 16 <= b.cols; j += 16) {
      max0 = _mm256_max_ps(max0, _mm256_loadu_ps(si + j));
      max1 = _mm256_max_ps(max1, _mm256_loadu_ps(si + j + 8));
    }
    for (; j < b.cols; j += 8)
      max0 = _mm256_max_ps(
          max0, _mm256_blendv_ps(neg_inf, _mm256_loadu_ps(si + j), lane_mask(b.cols - j)));
    float mx = hmax8(_mm256_max_ps(max0, max1)) * b.scale;
    float m_new = mx > b.m[i] ? mx : b.m[i];
    float base = m_new == -INFINITY ? 0.0f : m_new;
    bases[i] = base;
    // m = -inf (the first block): alpha = 0 directly, exp(-inf) would take a slow subnormal path.
    b.alpha[i] =
        b.m[i] == -INFINITY ? 0.0f : _mm256_cvtss_f32(exp_avx2(_mm256_set1_ps(b.m[i] - base)));
    b.m[i] = m_new;
  }
  for (int i = 0; i < b.rows; ++i) {
    const float* si = b.s + i * b.ld;
    float* pi = p + i * b.ld;
    __m256 vbase = _mm256_set1_ps(bases[i]), sum0 = _mm256_setzero_ps(), sum1 = _mm256_setzero_ps();
    for (int j = 0; j < b.k_used; j += 16) {
      __m256 e0 = exp_avx2(_mm256_fmsub_ps(_mm256_loadu_ps(si + j), scale, vbase));
      __m256 e1 = exp_avx2(_mm256_fmsub_ps(_mm256_loadu_ps(si + j + 8), scale, vbase));
      if (j + 16 > b.cols) {  // the last, partial chunk: keys past cols get p = 0
        e0 = _mm256_and_ps(e0, lane_mask(b.cols - j));
        e1 = _mm256_and_ps(e1, lane_mask(b.cols - j - 8));
      }
      sum0 = _mm256_add_ps(sum0, e0);
      sum1 = _mm256_add_ps(sum1, e1);
      _mm256_storeu_ps(pi + j, b.round_p ? round_to_bf16(e0) : e0);
      _mm256_storeu_ps(pi + j + 8, b.round_p ? round_to_bf16(e1) : e1);
    }
    b.l[i] = b.l[i] * b.alpha[i] + hsum8(_mm256_add_ps(sum0, sum1));
  }
}

void finish(const float* o, const float* l, int rows, int d, int d_pad, void* out, DType out_dtype,
            int64_t out_stride) {
  alignas(32) float buf[8];
  alignas(16) uint16_t hbuf[8];
  for (int i = 0; i < rows; ++i) {
    __m256 inv = _mm256_set1_ps(l[i] > 0.0f ? 1.0f / l[i] : 0.0f);
    for (int c = 0; c < d; c += 8) {
      __m256 x = _mm256_mul_ps(_mm256_loadu_ps(o + int64_t(i) * d_pad + c), inv);
      int n = d - c < 8 ? d - c : 8;
      if (out_dtype == DType::BF16) {
        uint16_t* dst = static_cast<uint16_t*>(out) + i * out_stride + c;
        if (n == 8) {
          _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), f32_to_bf16x8(x));
        } else {
          _mm_store_si128(reinterpret_cast<__m128i*>(hbuf), f32_to_bf16x8(x));
          std::memcpy(dst, hbuf, size_t(n) * 2);
        }
      } else {
        float* dst = static_cast<float*>(out) + i * out_stride + c;
        if (n == 8) {
          _mm256_storeu_ps(dst, x);
        } else {
          _mm256_store_ps(buf, x);
          std::memcpy(dst, buf, size_t(n) * 4);
        }
      }
    }
  }
}

}  // namespace

const BlockKernels& block_kernels() {
  static const BlockKernels kernels{
      .q_block = kQBlock,
      .k_block = kKBlock,
      .d_align = 8,
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

}  // namespace kinema::cpu::attention_detail::avx2
