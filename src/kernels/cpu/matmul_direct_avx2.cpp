// AVX2 dot_block: one x row against up to four weight rows, 8 lanes, scalar tail.
#include <immintrin.h>

#include "kernels/cpu/matmul_direct.h"

namespace kinema::cpu::avx2 {
namespace {

float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

}  // namespace

void dot_block(const float* x, int64_t ldx, int64_t m, const float* w, int64_t ldw, int nw,
               int64_t k, float* y, int64_t ldy) {
  // Rows past nw repeat row 0 so the loop stays branch-free; their sums are dropped.
  const float* rows[4] = {w, nw > 1 ? w + ldw : w, nw > 2 ? w + 2 * ldw : w,
                          nw > 3 ? w + 3 * ldw : w};
  int64_t body = k - k % 8;
  for (int64_t i = 0; i < m; ++i) {
    const float* xi = x + i * ldx;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t p = 0; p < body; p += 8) {
      __m256 xv = _mm256_loadu_ps(xi + p);
      a0 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(rows[0] + p), a0);
      a1 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(rows[1] + p), a1);
      a2 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(rows[2] + p), a2);
      a3 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(rows[3] + p), a3);
    }
    float sums[4] = {hsum(a0), hsum(a1), hsum(a2), hsum(a3)};
    for (int j = 0; j < nw; ++j) {
      for (int64_t p = body; p < k; ++p) sums[j] += xi[p] * rows[j][p];
      y[i * ldy + j] = sums[j];
    }
  }
}

}  // namespace kinema::cpu::avx2
