// bf16 block kernels with vdpbf16ps (AVX512-BF16): both products take bf16 pairs and accumulate
// in f32. The packing, softmax and finish here are shared with the AMX level, which wants the
// same layouts:
//   Q  [q_block][d_pad] bf16 (d_pad a multiple of 32)
//   K  in chunks of 32 keys, [k_block/32][d_pad/2][32][2]: for each pair of adjacent dims, the
//      32 keys' pairs; a vdpbf16ps against a broadcast query pair gives 16 keys' partial dots
//   V  [k_block/2][d_pad][2]: for each pair of adjacent keys, every dim's pair of values; a
//      vdpbf16ps against a broadcast probability pair gives 16 dims' partial sums
//   P  [q_block][k_block] bf16, so that adjacent keys form the pairs
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "kernels/cpu/attention_kernels.h"
#include "kernels/cpu/softmax_exp_avx512.h"

namespace kinema::cpu::attention_detail::avx512bf16 {
namespace {

constexpr int kQBlock = 48;
constexpr int kKBlock = 128;
constexpr int kQkRows = 12;  // Q.K^T register tile: 12 queries x 32 keys (24 accumulators)
constexpr int kPvRows = 6;   // P.V register tile: 6 queries x 64 dims (24 accumulators)
constexpr float kLog2e = 1.44269504088896341f;
// Lazy rescaling: the running max m only moves when a block's max exceeds it by more than this
// (in natural-log units), so most blocks leave the accumulator alone (alpha = 1). Probabilities
// then stay below e^8 = 2981 before normalisation: harmless in f32 and bf16, and the final
// division by l is unchanged.
constexpr float kLazyMax = 8.0f;

__mmask16 mask16(int left) {
  return left >= 16 ? __mmask16(0xffff) : left <= 0 ? 0 : __mmask16((1u << left) - 1);
}
__mmask32 mask32(int left) {
  return left >= 32 ? __mmask32(0xffffffffu) : left <= 0 ? 0 : __mmask32((1u << left) - 1);
}

// 32 values of a row (from bf16 or f32) as bf16; lanes past n are 0.
__m512i load_bf16x32(const void* src, DType dtype, int64_t index, int n) {
  if (dtype == DType::BF16)
    return _mm512_maskz_loadu_epi16(mask32(n), static_cast<const uint16_t*>(src) + index);
  const float* f = static_cast<const float*>(src) + index;
  __m512 lo = _mm512_maskz_loadu_ps(mask16(n), f);
  __m512 hi = _mm512_maskz_loadu_ps(mask16(n - 16), f + 16);
  return _mm512_castps_si512(reinterpret_cast<__m512>(_mm512_cvtne2ps_pbh(hi, lo)));
}

int32_t load_pair(const uint16_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

template <int MR>
void qk_tile(const uint16_t* q, int d_pad, const uint16_t* kc, float* s, int64_t ld) {
  __m512 acc[MR][2];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (int c = 0; c < d_pad; c += 2) {
    __m512bh k0 = reinterpret_cast<__m512bh>(_mm512_loadu_si512(kc + c * kKeyChunk));
    __m512bh k1 = reinterpret_cast<__m512bh>(_mm512_loadu_si512(kc + c * kKeyChunk + 32));
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      __m512bh qb = reinterpret_cast<__m512bh>(_mm512_set1_epi32(load_pair(q + r * d_pad + c)));
      acc[r][0] = _mm512_dpbf16_ps(acc[r][0], qb, k0);
      acc[r][1] = _mm512_dpbf16_ps(acc[r][1], qb, k1);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    _mm512_storeu_ps(s + r * ld, acc[r][0]);
    _mm512_storeu_ps(s + r * ld + 16, acc[r][1]);
  }
}

void scores(const void* q, const void* k, int d_pad, int k_used, int64_t ld, float* s) {
  const uint16_t* qh = static_cast<const uint16_t*>(q);
  const uint16_t* kh = static_cast<const uint16_t*>(k);
  for (int c = 0; c < k_used; c += kKeyChunk)
    for (int r = 0; r < kQBlock; r += kQkRows)
      qk_tile<kQkRows>(qh + r * d_pad, d_pad, kh + int64_t(c) * d_pad, s + r * ld + c, ld);
}

template <int MR, int NV>
void pv_tile(const uint16_t* p, int64_t ld, const uint16_t* v, int d_pad, int k_used,
             const float* alpha, float* o) {
  __m512 acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    __m512 a = _mm512_set1_ps(alpha[r]);
#pragma GCC unroll 8
    for (int t = 0; t < NV; ++t)
      acc[r][t] = _mm512_mul_ps(_mm512_loadu_ps(o + r * d_pad + 16 * t), a);
  }
  for (int j = 0; j < k_used; j += 2) {
    __m512bh vv[NV];
#pragma GCC unroll 8
    for (int t = 0; t < NV; ++t)
      vv[t] = reinterpret_cast<__m512bh>(_mm512_loadu_si512(v + int64_t(j) * d_pad + 32 * t));
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      __m512bh pb = reinterpret_cast<__m512bh>(_mm512_set1_epi32(load_pair(p + r * ld + j)));
#pragma GCC unroll 8
      for (int t = 0; t < NV; ++t) acc[r][t] = _mm512_dpbf16_ps(acc[r][t], pb, vv[t]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
    for (int t = 0; t < NV; ++t) _mm512_storeu_ps(o + r * d_pad + 16 * t, acc[r][t]);
}

void accumulate(const void* p, const void* v, const float* alpha, int d_pad, int k_used, int64_t ld,
                float* o) {
  const uint16_t* ph = static_cast<const uint16_t*>(p);
  const uint16_t* vh = static_cast<const uint16_t*>(v);
  for (int c = 0; c < d_pad; c += 64) {
    bool four = d_pad - c >= 64;
    for (int r = 0; r < kQBlock; r += kPvRows) {
      // V rows hold pairs: dim c of a key pair starts at element 2c.
      if (four)
        pv_tile<kPvRows, 4>(ph + r * ld, ld, vh + 2 * c, d_pad, k_used, alpha + r,
                            o + r * d_pad + c);
      else
        pv_tile<kPvRows, 2>(ph + r * ld, ld, vh + 2 * c, d_pad, k_used, alpha + r,
                            o + r * d_pad + c);
    }
  }
}

// Transposes a 16 x 16 matrix of 32-bit words held as 16 rows.
void transpose16x16(__m512i r[16]) {
  __m512i t[16], u[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
  }
  // u[4i + e], 128-bit lane L: rows 4i..4i+3 of column 4L + e.
  for (int i = 0; i < 4; ++i) {
    u[4 * i] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
    u[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
    u[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
    u[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
  }
  for (int e = 0; e < 4; ++e) {
    __m512i v0 = _mm512_shuffle_i32x4(u[e], u[4 + e], 0x88);
    __m512i v1 = _mm512_shuffle_i32x4(u[e], u[4 + e], 0xdd);
    __m512i v2 = _mm512_shuffle_i32x4(u[8 + e], u[12 + e], 0x88);
    __m512i v3 = _mm512_shuffle_i32x4(u[8 + e], u[12 + e], 0xdd);
    r[e] = _mm512_shuffle_i32x4(v0, v2, 0x88);
    r[8 + e] = _mm512_shuffle_i32x4(v0, v2, 0xdd);
    r[4 + e] = _mm512_shuffle_i32x4(v1, v3, 0x88);
    r[12 + e] = _mm512_shuffle_i32x4(v1, v3, 0xdd);
  }
}

}  // namespace

void pack_rows_bf16(const void* src, DType dtype, int64_t stride, int rows, int d, int n_rows,
                    int d_pad, void* dst) {
  uint16_t* out = static_cast<uint16_t*>(dst);
  for (int r = 0; r < n_rows; ++r)
    for (int c = 0; c < d_pad; c += 32) {
      __m512i x =
          r < rows ? load_bf16x32(src, dtype, r * stride + c, d - c) : _mm512_setzero_si512();
      _mm512_storeu_si512(out + int64_t(r) * d_pad + c, x);
    }
}

void pack_k_pairs(const void* src, DType dtype, int64_t stride, int rows, int d, int n_rows,
                  int d_pad, void* dst) {
  // As 32-bit words a key row is d_pad/2 pairs; word p of key j goes to [j/32][p][j%32]. Each
  // 16 keys x 16 pairs square is one register transpose.
  uint32_t* out = static_cast<uint32_t*>(dst);
  __m512i r[16];
  for (int j0 = 0; j0 < n_rows; j0 += 16) {
    uint32_t* chunk = out + int64_t(j0 / kKeyChunk) * (d_pad / 2) * kKeyChunk + j0 % kKeyChunk;
    for (int c = 0; c < d_pad; c += 32) {
      for (int i = 0; i < 16; ++i)
        r[i] = j0 + i < rows ? load_bf16x32(src, dtype, (j0 + i) * stride + c, d - c)
                             : _mm512_setzero_si512();
      transpose16x16(r);
      for (int e = 0; e < 16; ++e)
        _mm512_storeu_si512(chunk + int64_t(c / 2 + e) * kKeyChunk, r[e]);
    }
  }
}

void pack_v_pairs(const void* src, DType dtype, int64_t stride, int rows, int d, int n_rows,
                  int d_pad, void* dst) {
  uint16_t* out = static_cast<uint16_t*>(dst);
  // Interleave two key rows a, b into (a0 b0 a1 b1 ...): the index vectors pick from a (0..31)
  // and b (32..63).
  alignas(64) uint16_t lo_idx[32], hi_idx[32];
  for (int t = 0; t < 16; ++t) {
    lo_idx[2 * t] = uint16_t(t);
    lo_idx[2 * t + 1] = uint16_t(32 + t);
    hi_idx[2 * t] = uint16_t(16 + t);
    hi_idx[2 * t + 1] = uint16_t(48 + t);
  }
  const __m512i lo = _mm512_load_si512(lo_idx), hi = _mm512_load_si512(hi_idx);
  for (int j = 0; j < n_rows; j += 2) {
    uint16_t* pair = out + int64_t(j) * d_pad;
    for (int c = 0; c < d_pad; c += 32) {
      __m512i a =
          j < rows ? load_bf16x32(src, dtype, j * stride + c, d - c) : _mm512_setzero_si512();
      __m512i b = j + 1 < rows ? load_bf16x32(src, dtype, (j + 1) * stride + c, d - c)
                               : _mm512_setzero_si512();
      _mm512_storeu_si512(pair + 2 * c, _mm512_permutex2var_epi16(a, lo, b));
      _mm512_storeu_si512(pair + 2 * c + 32, _mm512_permutex2var_epi16(a, hi, b));
    }
  }
}

void softmax_block(const SoftmaxBlock& b) {
  uint16_t* p = static_cast<uint16_t*>(b.p);
  const __m512 neg_inf = _mm512_set1_ps(-INFINITY);
  // Two passes over the rows, first every row's max, then every row's exponentials, so that
  // one row's reductions (long dependency chains) overlap with other rows' work.
  alignas(64) float base2[kMaxQBlock];
  for (int i = 0; i < b.rows; ++i) {
    const float* si = b.s + i * b.ld;
    __m512 max0 = neg_inf, max1 = neg_inf;
    int j = 0;
    for (; j + 32 <= b.cols; j += 32) {
      max0 = _mm512_max_ps(max0, _mm512_loadu_ps(si + j));
      max1 = _mm512_max_ps(max1, _mm512_loadu_ps(si + j + 16));
    }
    for (; j < b.cols; j += 16)
      max0 = _mm512_max_ps(max0, _mm512_mask_loadu_ps(neg_inf, mask16(b.cols - j), si + j));
    const float mx = reduce_max16(_mm512_max_ps(max0, max1)) * b.scale;
    const float m_old = b.m[i];
    const float m_new = m_old == -INFINITY || mx > m_old + kLazyMax ? mx : m_old;
    const float base = m_new == -INFINITY ? 0.0f : m_new;  // all -inf so far: p = 0, not NaN
    base2[i] = base * kLog2e;
    // The first block (m_old = -inf) gives alpha = 0 directly: exp(-inf) would take a slow
    // subnormal path.
    b.alpha[i] = m_new == m_old       ? 1.0f
                 : m_old == -INFINITY ? 0.0f
                                      : _mm512_cvtss_f32(exp_avx512(_mm512_set1_ps(m_old - base)));
    b.m[i] = m_new;
  }
  // exp(s * scale - base) = 2^(s * scale * log2(e) - base * log2(e)): one FMA per element.
  const __m512 scale2 = _mm512_set1_ps(b.scale * kLog2e);
  for (int i = 0; i < b.rows; ++i) {
    const float* si = b.s + i * b.ld;
    uint16_t* pi = p + i * b.ld;
    const __m512 vbase = _mm512_set1_ps(base2[i]);
    __m512 sum0 = _mm512_setzero_ps(), sum1 = _mm512_setzero_ps();
    int j = 0;
    for (; j + 32 <= b.cols; j += 32) {
      __m512 e0 = exp2_avx512(_mm512_fmsub_ps(_mm512_loadu_ps(si + j), scale2, vbase));
      __m512 e1 = exp2_avx512(_mm512_fmsub_ps(_mm512_loadu_ps(si + j + 16), scale2, vbase));
      sum0 = _mm512_add_ps(sum0, e0);
      sum1 = _mm512_add_ps(sum1, e1);
      _mm512_storeu_si512(pi + j, reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(e1, e0)));
    }
    if (j < b.k_used) {  // the last, partial chunk: keys past cols get p = 0
      __m512 e0 = exp2_avx512(_mm512_fmsub_ps(_mm512_loadu_ps(si + j), scale2, vbase));
      __m512 e1 = exp2_avx512(_mm512_fmsub_ps(_mm512_loadu_ps(si + j + 16), scale2, vbase));
      e0 = _mm512_maskz_mov_ps(mask16(b.cols - j), e0);
      e1 = _mm512_maskz_mov_ps(mask16(b.cols - j - 16), e1);
      sum0 = _mm512_add_ps(sum0, e0);
      sum1 = _mm512_add_ps(sum1, e1);
      _mm512_storeu_si512(pi + j, reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(e1, e0)));
    }
    b.l[i] = b.l[i] * b.alpha[i] + reduce_add16(_mm512_add_ps(sum0, sum1));
  }
}

void finish_rows(const float* o, const float* l, int rows, int d, int d_pad, void* out,
                 DType out_dtype, int64_t out_stride) {
  for (int i = 0; i < rows; ++i) {
    __m512 inv = _mm512_set1_ps(l[i] > 0.0f ? 1.0f / l[i] : 0.0f);
    for (int c = 0; c < d; c += 16) {
      __m512 x = _mm512_mul_ps(_mm512_loadu_ps(o + int64_t(i) * d_pad + c), inv);
      __mmask16 k = mask16(d - c);
      if (out_dtype == DType::BF16)
        _mm256_mask_storeu_epi16(static_cast<uint16_t*>(out) + i * out_stride + c, k,
                                 reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(x)));
      else
        _mm512_mask_storeu_ps(static_cast<float*>(out) + i * out_stride + c, k, x);
    }
  }
}

void transform_logits(float* s, int64_t ld, int rows, int cols, float scale, const void* bias,
                      DType bias_dtype, int64_t bias_row_stride, bool round_bf16) {
  const __m512 vscale = _mm512_set1_ps(scale);
  for (int i = 0; i < rows; ++i) {
    float* si = s + i * ld;
    for (int j = 0; j < cols; j += 16) {
      const __mmask16 k = mask16(cols - j);
      __m512 x = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, si + j), vscale);
      if (round_bf16) x = round_to_bf16(x);
      if (bias) {
        const int64_t at = i * bias_row_stride + j;
        x = _mm512_add_ps(x, bias_dtype == DType::BF16
                                 ? bf16x16_to_f32(_mm256_maskz_loadu_epi16(
                                       k, static_cast<const uint16_t*>(bias) + at))
                                 : _mm512_maskz_loadu_ps(k, static_cast<const float*>(bias) + at));
        if (round_bf16) x = round_to_bf16(x);
      }
      _mm512_mask_storeu_ps(si + j, k, x);
    }
  }
}

const BlockKernels& block_kernels() {
  static const BlockKernels kernels{
      .q_block = kQBlock,
      .k_block = kKBlock,
      .d_align = 32,
      .elem_bytes = 2,
      .pack_q = pack_rows_bf16,
      .pack_k = pack_k_pairs,
      .pack_v = pack_v_pairs,
      .scores = scores,
      .softmax = softmax_block,
      .accumulate = accumulate,
      .finish = finish_rows,
      .transform = transform_logits,
  };
  return kernels;
}

}  // namespace kinema::cpu::attention_detail::avx512bf16
