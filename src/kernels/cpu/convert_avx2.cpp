// AVX2 (+F16C) row converters: 8 lanes.
#include <immintrin.h>

#include "kernels/cpu/convert_isa.h"
#include "kernels/cpu/convert_simd.h"

namespace kinema::cpu::avx2 {
namespace {

struct Ops {
  using F = __m256;
  using I = __m256i;
  static constexpr int W = 8;

  static I iset(int v) { return _mm256_set1_epi32(v); }
  static F set1(float v) { return _mm256_set1_ps(v); }
  static float half(uint16_t h) { return _cvtsh_ss(h); }
  static F bits(I v) { return _mm256_castsi256_ps(v); }
  // 8 lanes holding 16-bit values -> 8 halves -> f32.
  static F halves_to_f32(I h) {
    __m128i packed = _mm_packus_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
    return _mm256_cvtph_ps(packed);
  }

  static F load_f32(const float* p) { return _mm256_loadu_ps(p); }
  static F load_bf16(const uint16_t* p) {
    __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return bits(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
  // See convert_avx512.cpp: NaN lanes are rebuilt to keep signalling payloads.
  static F load_f16(const uint16_t* p) {
    __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    F f = _mm256_cvtph_ps(h);
    I w = _mm256_cvtepu16_epi32(h);
    I nan = _mm256_cmpgt_epi32(_mm256_and_si256(w, iset(0x7fff)), iset(0x7c00));
    if (!_mm256_testz_si256(nan, nan)) {
      I sign = _mm256_slli_epi32(_mm256_and_si256(w, iset(0x8000)), 16);
      I rest = _mm256_slli_epi32(_mm256_and_si256(w, iset(0x7fff)), 13);
      I b = _mm256_or_si256(_mm256_or_si256(sign, rest), iset(0x70000000));
      f = _mm256_blendv_ps(f, bits(b), bits(nan));
    }
    return f;
  }
  static F load_f8e4m3(const uint8_t* p) {
    I v = load_u8(p);
    I h = _mm256_or_si256(_mm256_slli_epi32(_mm256_and_si256(v, iset(0x80)), 8),
                          _mm256_slli_epi32(_mm256_and_si256(v, iset(0x7f)), 7));
    F f = _mm256_mul_ps(halves_to_f32(h), set1(256.0f));
    I nan = _mm256_cmpeq_epi32(_mm256_and_si256(v, iset(0x7f)), iset(0x7f));
    return _mm256_blendv_ps(f, bits(iset(0x7fc00000)), bits(nan));
  }
  static F load_f8e5m2(const uint8_t* p) {
    I v = load_u8(p);
    F f = halves_to_f32(_mm256_slli_epi32(v, 8));
    I nan = _mm256_cmpgt_epi32(_mm256_and_si256(v, iset(0x7f)), iset(0x7c));
    return _mm256_blendv_ps(f, bits(iset(0x7fc00000)), bits(nan));
  }
  static I load_u8(const uint8_t* p) {
    return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
  }
  static I load_i8(const uint8_t* p) {
    return _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
  }

  static I and_i(I a, int m) { return _mm256_and_si256(a, iset(m)); }
  static I sub_i(I a, int v) { return _mm256_sub_epi32(a, iset(v)); }
  static I add(I a, I b) { return _mm256_add_epi32(a, b); }
  static I srl(I a, int n) { return _mm256_srl_epi32(a, _mm_cvtsi32_si128(n)); }
  static I shl(I a, int n) { return _mm256_sll_epi32(a, _mm_cvtsi32_si128(n)); }
  static F to_float(I a) { return _mm256_cvtepi32_ps(a); }
  static F mul(F a, F b) { return _mm256_mul_ps(a, b); }
  static F sub(F a, F b) { return _mm256_sub_ps(a, b); }

  static void store_f32(float* p, F v) { _mm256_storeu_ps(p, v); }
  // Round to nearest even as core's f32_to_bf16.
  static void store_bf16(uint16_t* p, F v) {
    I b = _mm256_castps_si256(v);
    I lsb = _mm256_and_si256(_mm256_srli_epi32(b, 16), iset(1));
    I r = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(b, iset(0x7fff)), lsb), 16);
    I nan = _mm256_cmpgt_epi32(_mm256_and_si256(b, iset(0x7fffffff)), iset(0x7f800000));
    I quiet = _mm256_or_si256(_mm256_srli_epi32(b, 16), iset(0x40));
    r = _mm256_blendv_epi8(r, quiet, nan);
    __m128i packed = _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), packed);
  }
};

}  // namespace

void convert_row_to_f32(DType src_dtype, const void* src, float* dst, int64_t n) {
  convert_simd::row_to_f32<Ops>(src_dtype, src, dst, n);
}

void convert_row_to_bf16(DType src_dtype, const void* src, uint16_t* dst, int64_t n) {
  convert_simd::row_to_bf16<Ops>(src_dtype, src, dst, n);
}

}  // namespace kinema::cpu::avx2
