// RoPE rotation on 8 float64 lanes (4 pairs per vector).
// GCC 12's AVX-512 headers trip -Wmaybe-uninitialized on their own _mm512_undefined_*()
// placeholders (GCC PR105593, fixed in 12.3); the warning is about the header, not this code.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include "kernels/cpu/rope.h"

namespace kinema::cpu::rope_detail::avx512 {

void rotate_token(float* x, int64_t heads, int64_t d, const double* c, const double* s) {
  // Per element: even lanes a*c - b*s, odd lanes b*c + a*s, with the products rounded before
  // the add (no FMA), as the reference's complex128 multiply. cc repeats each cos twice, ss
  // holds (-sin, +sin) per pair, and the pair-swapped x supplies the cross terms.
  alignas(64) double cc[8], ss[8];
  const int64_t vec_end = d / 8 * 8;
  for (int64_t e = 0; e < vec_end; e += 8) {
    for (int t = 0; t < 4; ++t) {
      cc[2 * t] = cc[2 * t + 1] = c[e / 2 + t];
      ss[2 * t] = -s[e / 2 + t];
      ss[2 * t + 1] = s[e / 2 + t];
    }
    __m512d vc = _mm512_load_pd(cc), vs = _mm512_load_pd(ss);
    for (int64_t h = 0; h < heads; ++h) {
      float* p = x + h * d + e;
      __m512d v = _mm512_cvtps_pd(_mm256_loadu_ps(p));
      __m512d swapped = _mm512_permute_pd(v, 0x55);
      __m512d r = _mm512_add_pd(_mm512_mul_pd(v, vc), _mm512_mul_pd(swapped, vs));
      _mm256_storeu_ps(p, _mm512_cvtpd_ps(r));
    }
  }
  rotate_pairs(x, heads, d, c, s, vec_end / 2);
}

}  // namespace kinema::cpu::rope_detail::avx512
