// Softmax rows and e^x on 8 f32 lanes (AVX2 + FMA).
#include <immintrin.h>

#include <cmath>
#include <cstring>
#include <new>

#include "kernels/cpu/softmax.h"
#include "kernels/cpu/softmax_exp_avx2.h"

namespace kinema::cpu::softmax_detail::avx2 {
namespace {

// In place on an f32 row whose length is a multiple of 8 (the caller pads with -inf).
void softmax_padded_row(float* row, int64_t n_pad) {
  __m256 vmax = _mm256_set1_ps(-INFINITY);
  for (int64_t j = 0; j < n_pad; j += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(row + j));
  float mx = hmax8(vmax);
  if (mx == -INFINITY) mx = 0.0f;
  __m256 vmx = _mm256_set1_ps(mx), vsum = _mm256_setzero_ps();
  for (int64_t j = 0; j < n_pad; j += 8) {
    __m256 e = exp_avx2(_mm256_sub_ps(_mm256_loadu_ps(row + j), vmx));
    vsum = _mm256_add_ps(vsum, e);
    _mm256_storeu_ps(row + j, e);
  }
  __m256 inv = _mm256_set1_ps(1.0f / hsum8(vsum));
  for (int64_t j = 0; j < n_pad; j += 8)
    _mm256_storeu_ps(row + j, _mm256_mul_ps(_mm256_loadu_ps(row + j), inv));
}

}  // namespace

void softmax_rows(DType dtype, const void* x, void* y, int64_t rows, int64_t n) {
  // Rows are staged in an f32 buffer padded to a multiple of 8 with -inf (e^-inf = 0).
  int64_t n_pad = (n + 7) / 8 * 8;
  float* row = static_cast<float*>(::operator new(size_t(n_pad) * 4));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = n; j < n_pad; ++j) row[j] = -INFINITY;  // the last row overwrote them
    if (dtype == DType::F32) {
      std::memcpy(row, static_cast<const float*>(x) + r * n, size_t(n) * 4);
    } else {
      const uint16_t* in = static_cast<const uint16_t*>(x) + r * n;
      int64_t j = 0;
      for (; j + 8 <= n; j += 8)
        _mm256_storeu_ps(row + j,
                         bf16x8_to_f32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + j))));
      for (; j < n; ++j) {
        uint32_t bits = uint32_t(in[j]) << 16;
        std::memcpy(row + j, &bits, 4);
      }
    }
    softmax_padded_row(row, n_pad);
    if (dtype == DType::F32) {
      std::memcpy(static_cast<float*>(y) + r * n, row, size_t(n) * 4);
    } else {
      uint16_t* out = static_cast<uint16_t*>(y) + r * n;
      int64_t j = 0;
      for (; j + 8 <= n; j += 8)
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out + j),
                         f32_to_bf16x8(_mm256_loadu_ps(row + j)));
      if (j < n) {
        alignas(16) uint16_t tail[8];
        _mm_store_si128(reinterpret_cast<__m128i*>(tail), f32_to_bf16x8(_mm256_loadu_ps(row + j)));
        std::memcpy(out + j, tail, size_t(n - j) * 2);
      }
    }
  }
  ::operator delete(row);
}

void exp_f32(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, exp_avx2(_mm256_loadu_ps(x + i)));
  if (i < n) {
    float buf[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::memcpy(buf, x + i, size_t(n - i) * 4);
    _mm256_storeu_ps(buf, exp_avx2(_mm256_loadu_ps(buf)));
    std::memcpy(y + i, buf, size_t(n - i) * 4);
  }
}

}  // namespace kinema::cpu::softmax_detail::avx2
