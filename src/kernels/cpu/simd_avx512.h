// AVX-512 vector traits for the kernel templates in *_simd.h. Include only from *_avx512.cpp:
// everything here is compiled with AVX-512 enabled and lives in its own namespace, so the
// templates instantiated with it never collide with another instruction set's copy.
#pragma once

// GCC 12 reports -W(maybe-)uninitialized inside its own AVX-512 intrinsics (the `__Y = __Y`
// placeholders of max, min, roundscale, scalef, reduce_add, ...: GCC bug 105593), at the
// header's locations.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <cstdint>

namespace kinema::cpu::avx512 {

struct Simd {
  using V = __m512;
  using M = __mmask16;
  static constexpr int N = 16;

  static V zero() { return _mm512_setzero_ps(); }
  static V set1(float v) { return _mm512_set1_ps(v); }

  static V load(const float* p) { return _mm512_loadu_ps(p); }
  // bf16 bits widen exactly to f32.
  static V load(const uint16_t* p) {
    __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
  // The first n (< N) lanes; the rest are zero.
  static V load_n(const float* p, int n) { return _mm512_maskz_loadu_ps(lanes(n), p); }
  static V load_n(const uint16_t* p, int n) {
    __m256i h = _mm256_maskz_loadu_epi16(lanes(n), p);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }

  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static void store(uint16_t* p, V v) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), bf16_bits(v));
  }
  static void store_n(float* p, V v, int n) { _mm512_mask_storeu_ps(p, lanes(n), v); }
  static void store_n(uint16_t* p, V v, int n) {
    _mm256_mask_storeu_epi16(p, lanes(n), bf16_bits(v));
  }

  // v with the lanes from n on set to zero.
  static V keep_n(V v, int n) { return _mm512_maskz_mov_ps(lanes(n), v); }

  // v as computed, never fused into a following FMA: GCC contracts a*b + c written as two
  // intrinsics (-ffp-contract=fast is its C++ default), but torch rounds the product first.
  static V rounded(V v) {
    __asm__("" : "+v"(v));
    return v;
  }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V div(V a, V b) { return _mm512_div_ps(a, b); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }    // a*b + c
  static V fnmadd(V a, V b, V c) { return _mm512_fnmadd_ps(a, b, c); }  // c - a*b
  // max/min return the second operand when one is NaN; callers put the value that must
  // propagate NaN second.
  static V max(V a, V b) { return _mm512_max_ps(a, b); }
  static V min(V a, V b) { return _mm512_min_ps(a, b); }
  static V sqrt(V a) { return _mm512_sqrt_ps(a); }
  static V abs(V a) { return _mm512_abs_ps(a); }
  // mag with the sign bit of `sign` (bitwise select: sign_bit ? sign : mag).
  static V copysign(V mag, V sign) {
    const __m512i sign_bit = _mm512_set1_epi32(int(0x80000000u));
    return _mm512_castsi512_ps(_mm512_ternarylogic_epi32(sign_bit, _mm512_castps_si512(sign),
                                                         _mm512_castps_si512(mag), 0xCA));
  }
  static float reduce_add(V v) { return _mm512_reduce_add_ps(v); }

  static M lt(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
  static V select(M m, V if_true, V if_false) { return _mm512_mask_blend_ps(m, if_false, if_true); }

  // Nearest integer (ties to even), as a float.
  static V round_int(V v) {
    return _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  }
  // p * 2^n for integral n; exact scaling, gradual underflow and overflow to inf.
  static V ldexp(V p, V n) { return _mm512_scalef_ps(p, n); }

  // Rounds to the nearest bf16 value (ties to even), kept as f32; NaN stays NaN.
  static V round_bf16(V v) {
    __m512i r = _mm512_and_si512(rounded_bits(v), _mm512_set1_epi32(int(0xffff0000u)));
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), _mm512_castsi512_ps(r), v);
  }

 private:
  static __mmask16 lanes(int n) { return __mmask16((1u << n) - 1u); }
  // f32 bits plus the round-to-nearest-even increment for dropping the low 16 bits.
  static __m512i rounded_bits(V v) {
    __m512i b = _mm512_castps_si512(v);
    __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(1));
    return _mm512_add_epi32(b, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff)));
  }
  // bf16 bit patterns as torch rounds them: nearest even, NaN kept quiet.
  static __m256i bf16_bits(V v) {
    __m512i r = _mm512_srli_epi32(rounded_bits(v), 16);
    __m512i quiet =
        _mm512_or_si512(_mm512_srli_epi32(_mm512_castps_si512(v), 16), _mm512_set1_epi32(0x40));
    r = _mm512_mask_mov_epi32(r, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), quiet);
    return _mm512_cvtepi32_epi16(r);
  }
};

}  // namespace kinema::cpu::avx512
