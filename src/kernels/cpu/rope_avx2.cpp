// RoPE rotation on 4 float64 lanes (2 pairs per vector), same arithmetic as rope_avx512.cpp.
#include <immintrin.h>

#include "kernels/cpu/rope.h"

namespace kinema::cpu::rope_detail::avx2 {

void rotate_token(float* x, int64_t heads, int64_t d, const double* c, const double* s) {
  alignas(32) double cc[4], ss[4];
  const int64_t vec_end = d / 4 * 4;
  for (int64_t e = 0; e < vec_end; e += 4) {
    for (int t = 0; t < 2; ++t) {
      cc[2 * t] = cc[2 * t + 1] = c[e / 2 + t];
      ss[2 * t] = -s[e / 2 + t];
      ss[2 * t + 1] = s[e / 2 + t];
    }
    __m256d vc = _mm256_load_pd(cc), vs = _mm256_load_pd(ss);
    for (int64_t h = 0; h < heads; ++h) {
      float* p = x + h * d + e;
      __m256d v = _mm256_cvtps_pd(_mm_loadu_ps(p));
      __m256d swapped = _mm256_permute_pd(v, 0x5);
      __m256d r = _mm256_add_pd(_mm256_mul_pd(v, vc), _mm256_mul_pd(swapped, vs));
      _mm_storeu_ps(p, _mm256_cvtpd_ps(r));
    }
  }
  rotate_pairs(x, heads, d, c, s, vec_end / 2);
}

}  // namespace kinema::cpu::rope_detail::avx2
