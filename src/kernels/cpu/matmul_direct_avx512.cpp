// AVX-512 dot_block: one x row against up to four weight rows, 16 lanes, masked tail.
// GCC 12 warns inside its own AVX-512 intrinsics (_mm512_undefined_*, GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include <immintrin.h>

#include "kernels/cpu/matmul_direct.h"

namespace kinema::cpu::avx512 {

void dot_block(const float* x, int64_t ldx, int64_t m, const float* w, int64_t ldw, int nw,
               int64_t k, float* y, int64_t ldy) {
  // Rows past nw repeat row 0 so the loop stays branch-free; their sums are dropped.
  const float* w0 = w;
  const float* w1 = nw > 1 ? w + ldw : w;
  const float* w2 = nw > 2 ? w + 2 * ldw : w;
  const float* w3 = nw > 3 ? w + 3 * ldw : w;
  __mmask16 tail = __mmask16((1u << (k % 16)) - 1);
  int64_t body = k - k % 16;
  for (int64_t i = 0; i < m; ++i) {
    const float* xi = x + i * ldx;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t p = 0; p < body; p += 16) {
      __m512 xv = _mm512_loadu_ps(xi + p);
      a0 = _mm512_fmadd_ps(xv, _mm512_loadu_ps(w0 + p), a0);
      a1 = _mm512_fmadd_ps(xv, _mm512_loadu_ps(w1 + p), a1);
      a2 = _mm512_fmadd_ps(xv, _mm512_loadu_ps(w2 + p), a2);
      a3 = _mm512_fmadd_ps(xv, _mm512_loadu_ps(w3 + p), a3);
    }
    if (tail) {
      __m512 xv = _mm512_maskz_loadu_ps(tail, xi + body);
      a0 = _mm512_fmadd_ps(xv, _mm512_maskz_loadu_ps(tail, w0 + body), a0);
      a1 = _mm512_fmadd_ps(xv, _mm512_maskz_loadu_ps(tail, w1 + body), a1);
      a2 = _mm512_fmadd_ps(xv, _mm512_maskz_loadu_ps(tail, w2 + body), a2);
      a3 = _mm512_fmadd_ps(xv, _mm512_maskz_loadu_ps(tail, w3 + body), a3);
    }
    float sums[4] = {_mm512_reduce_add_ps(a0), _mm512_reduce_add_ps(a1), _mm512_reduce_add_ps(a2),
                     _mm512_reduce_add_ps(a3)};
    for (int j = 0; j < nw; ++j) y[i * ldy + j] = sums[j];
  }
}

}  // namespace kinema::cpu::avx512
