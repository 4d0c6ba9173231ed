// Softmax rows and e^x on 16 f32 lanes.
#include <immintrin.h>

#include <cmath>
#include <new>

#include "kernels/cpu/softmax.h"
#include "kernels/cpu/softmax_exp_avx512.h"

namespace kinema::cpu::softmax_detail::avx512 {
namespace {

__mmask16 tail_mask(int64_t left) {
  return left >= 16 ? __mmask16(0xffff) : __mmask16((1u << left) - 1);
}

// In place on an f32 row: row = softmax(row).
void softmax_f32_row(float* row, int64_t n) {
  __m512 vmax = _mm512_set1_ps(-INFINITY);
  for (int64_t j = 0; j < n; j += 16) {
    __mmask16 k = tail_mask(n - j);
    vmax = _mm512_mask_max_ps(vmax, k, vmax, _mm512_maskz_loadu_ps(k, row + j));
  }
  float mx = reduce_max16(vmax);
  if (mx == -INFINITY) mx = 0.0f;  // all -inf: 0/0 = NaN below, as torch
  __m512 vmx = _mm512_set1_ps(mx), vsum = _mm512_setzero_ps();
  for (int64_t j = 0; j < n; j += 16) {
    __mmask16 k = tail_mask(n - j);
    __m512 e = exp_avx512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, row + j), vmx));
    vsum = _mm512_mask_add_ps(vsum, k, vsum, e);
    _mm512_mask_storeu_ps(row + j, k, e);
  }
  __m512 inv = _mm512_set1_ps(1.0f / reduce_add16(vsum));
  for (int64_t j = 0; j < n; j += 16) {
    __mmask16 k = tail_mask(n - j);
    _mm512_mask_storeu_ps(row + j, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, row + j), inv));
  }
}

}  // namespace

void softmax_rows(DType dtype, const void* x, void* y, int64_t rows, int64_t n) {
  if (dtype == DType::F32) {
    for (int64_t r = 0; r < rows; ++r) {
      const float* in = static_cast<const float*>(x) + r * n;
      float* out = static_cast<float*>(y) + r * n;
      if (out != in)
        for (int64_t j = 0; j < n; j += 16) {
          __mmask16 k = tail_mask(n - j);
          _mm512_mask_storeu_ps(out + j, k, _mm512_maskz_loadu_ps(k, in + j));
        }
      softmax_f32_row(out, n);
    }
    return;
  }
  float* row = static_cast<float*>(::operator new(size_t(n) * 4));
  for (int64_t r = 0; r < rows; ++r) {
    const uint16_t* in = static_cast<const uint16_t*>(x) + r * n;
    uint16_t* out = static_cast<uint16_t*>(y) + r * n;
    for (int64_t j = 0; j < n; j += 16) {
      __mmask16 k = tail_mask(n - j);
      _mm512_mask_storeu_ps(row + j, k, bf16x16_to_f32(_mm256_maskz_loadu_epi16(k, in + j)));
    }
    softmax_f32_row(row, n);
    for (int64_t j = 0; j < n; j += 16) {
      __mmask16 k = tail_mask(n - j);
      _mm256_mask_storeu_epi16(out + j, k, f32_to_bf16x16(_mm512_maskz_loadu_ps(k, row + j)));
    }
  }
  ::operator delete(row);
}

void exp_f32(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 k = tail_mask(n - i);
    _mm512_mask_storeu_ps(y + i, k, exp_avx512(_mm512_maskz_loadu_ps(k, x + i)));
  }
}

}  // namespace kinema::cpu::softmax_detail::avx512
