// AVX-512 16x16 transpose of 32-bit words for pack_weight().
// GCC 12 warns inside its own AVX-512 intrinsics (_mm512_undefined_*, GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include <immintrin.h>

#include "kernels/cpu/matmul_pack.h"

namespace kinema::cpu::avx512 {

void transpose16(const uint32_t* in, int64_t in_stride, uint32_t* out, int64_t out_stride) {
  __m512i a[16], t[16];
  for (int i = 0; i < 16; ++i) a[i] = _mm512_loadu_si512(in + i * in_stride);
  // Pairs of rows interleaved by 32 bits, then by 64 bits: 4x4 blocks inside each 128-bit lane.
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_epi32(a[i], a[i + 1]);
    t[i + 1] = _mm512_unpackhi_epi32(a[i], a[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    a[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
    a[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
    a[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
    a[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
  }
  // a[4k + c], lane L: rows 4k..4k+3 of column 4L + c. Gather the four lanes L of each c.
  for (int c = 0; c < 4; ++c) {
    __m512i v0 = _mm512_shuffle_i32x4(a[c], a[4 + c], _MM_SHUFFLE(2, 0, 2, 0));
    __m512i v1 = _mm512_shuffle_i32x4(a[c], a[4 + c], _MM_SHUFFLE(3, 1, 3, 1));
    __m512i w0 = _mm512_shuffle_i32x4(a[8 + c], a[12 + c], _MM_SHUFFLE(2, 0, 2, 0));
    __m512i w1 = _mm512_shuffle_i32x4(a[8 + c], a[12 + c], _MM_SHUFFLE(3, 1, 3, 1));
    _mm512_storeu_si512(out + c * out_stride,
                        _mm512_shuffle_i32x4(v0, w0, _MM_SHUFFLE(2, 0, 2, 0)));
    _mm512_storeu_si512(out + (8 + c) * out_stride,
                        _mm512_shuffle_i32x4(v0, w0, _MM_SHUFFLE(3, 1, 3, 1)));
    _mm512_storeu_si512(out + (4 + c) * out_stride,
                        _mm512_shuffle_i32x4(v1, w1, _MM_SHUFFLE(2, 0, 2, 0)));
    _mm512_storeu_si512(out + (12 + c) * out_stride,
                        _mm512_shuffle_i32x4(v1, w1, _MM_SHUFFLE(3, 1, 3, 1)));
  }
}

}  // namespace kinema::cpu::avx512
