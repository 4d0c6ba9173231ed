// AVX-512 row converters: 16 lanes.
// GCC 12 warns inside its own AVX-512 intrinsics (_mm512_undefined_*, GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include <immintrin.h>

#include "kernels/cpu/convert_isa.h"
#include "kernels/cpu/convert_simd.h"

namespace kinema::cpu::avx512 {
namespace {

struct Ops {
  using F = __m512;
  using I = __m512i;
  static constexpr int W = 16;

  static I iset(int v) { return _mm512_set1_epi32(v); }
  static F set1(float v) { return _mm512_set1_ps(v); }
  static float half(uint16_t h) { return _cvtsh_ss(h); }

  static F load_f32(const float* p) { return _mm512_loadu_ps(p); }
  static F load_bf16(const uint16_t* p) {
    __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
  // The hardware quiets signalling NaNs; the reference keeps the payload as is, so NaN lanes
  // are rebuilt bit by bit.
  static F load_f16(const uint16_t* p) {
    __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    F f = _mm512_cvtph_ps(h);
    I w = _mm512_cvtepu16_epi32(h);
    __mmask16 nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(w, iset(0x7fff)), iset(0x7c00));
    if (nan) {
      I sign = _mm512_slli_epi32(_mm512_and_si512(w, iset(0x8000)), 16);
      I rest = _mm512_slli_epi32(_mm512_and_si512(w, iset(0x7fff)), 13);
      I bits = _mm512_or_si512(_mm512_or_si512(sign, rest), iset(0x70000000));
      f = _mm512_mask_mov_ps(f, nan, _mm512_castsi512_ps(bits));
    }
    return f;
  }
  // fp8 goes through f16 (exact, subnormals included). e4m3 has bias 7 against f16's 15, so
  // its bits land in an f16 2^8 too small; the scaling is exact.
  static F load_f8e4m3(const uint8_t* p) {
    I v = load_u8(p);
    I h = _mm512_or_si512(_mm512_slli_epi32(_mm512_and_si512(v, iset(0x80)), 8),
                          _mm512_slli_epi32(_mm512_and_si512(v, iset(0x7f)), 7));
    F f = _mm512_mul_ps(_mm512_cvtph_ps(_mm512_cvtepi32_epi16(h)), set1(256.0f));
    __mmask16 nan = _mm512_cmpeq_epi32_mask(_mm512_and_si512(v, iset(0x7f)), iset(0x7f));
    return _mm512_mask_mov_ps(f, nan, _mm512_castsi512_ps(iset(0x7fc00000)));
  }
  static F load_f8e5m2(const uint8_t* p) {
    I v = load_u8(p);
    F f = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_slli_epi32(v, 8)));
    __mmask16 nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(v, iset(0x7f)), iset(0x7c));
    return _mm512_mask_mov_ps(f, nan, _mm512_castsi512_ps(iset(0x7fc00000)));
  }
  static I load_u8(const uint8_t* p) {
    return _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static I load_i8(const uint8_t* p) {
    return _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }

  static I and_i(I a, int m) { return _mm512_and_si512(a, iset(m)); }
  static I sub_i(I a, int v) { return _mm512_sub_epi32(a, iset(v)); }
  static I add(I a, I b) { return _mm512_add_epi32(a, b); }
  static I srl(I a, int n) { return _mm512_srl_epi32(a, _mm_cvtsi32_si128(n)); }
  static I shl(I a, int n) { return _mm512_sll_epi32(a, _mm_cvtsi32_si128(n)); }
  static F to_float(I a) { return _mm512_cvtepi32_ps(a); }
  static F mul(F a, F b) { return _mm512_mul_ps(a, b); }
  static F sub(F a, F b) { return _mm512_sub_ps(a, b); }

  static void store_f32(float* p, F v) { _mm512_storeu_ps(p, v); }
  // Round to nearest even as core's f32_to_bf16 (not vcvtneps2bf16, which flushes subnormals).
  static void store_bf16(uint16_t* p, F v) {
    I b = _mm512_castps_si512(v);
    I lsb = _mm512_and_si512(_mm512_srli_epi32(b, 16), iset(1));
    I r = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(b, iset(0x7fff)), lsb), 16);
    __mmask16 nan =
        _mm512_cmpgt_epi32_mask(_mm512_and_si512(b, iset(0x7fffffff)), iset(0x7f800000));
    r = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(_mm512_srli_epi32(b, 16), iset(0x40)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm512_cvtepi32_epi16(r));
  }
};

}  // namespace

void convert_row_to_f32(DType src_dtype, const void* src, float* dst, int64_t n) {
  convert_simd::row_to_f32<Ops>(src_dtype, src, dst, n);
}

void convert_row_to_bf16(DType src_dtype, const void* src, uint16_t* dst, int64_t n) {
  convert_simd::row_to_bf16<Ops>(src_dtype, src, dst, n);
}

}  // namespace kinema::cpu::avx512
