// AVX2 + FMA vector traits for the kernel templates in *_simd.h. Include only from *_avx2.cpp
// (see simd_avx512.h for why each instruction set has its own namespace).
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace kinema::cpu::avx2 {

struct Simd {
  using V = __m256;
  using M = __m256;  // all-ones / all-zeros lanes
  static constexpr int N = 8;

  static V zero() { return _mm256_setzero_ps(); }
  static V set1(float v) { return _mm256_set1_ps(v); }

  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static V load(const uint16_t* p) {
    __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
  // The first n (< N) lanes; the rest are zero.
  static V load_n(const float* p, int n) { return _mm256_maskload_ps(p, lanes(n)); }
  static V load_n(const uint16_t* p, int n) {
    uint16_t buf[N] = {};
    std::memcpy(buf, p, size_t(n) * 2);
    return load(buf);
  }

  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static void store(uint16_t* p, V v) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), bf16_bits(v));
  }
  static void store_n(float* p, V v, int n) { _mm256_maskstore_ps(p, lanes(n), v); }
  static void store_n(uint16_t* p, V v, int n) {
    uint16_t buf[N];
    store(buf, v);
    std::memcpy(p, buf, size_t(n) * 2);
  }

  // v with the lanes from n on set to zero.
  static V keep_n(V v, int n) { return _mm256_and_ps(v, _mm256_castsi256_ps(lanes(n))); }

  // v as computed, never fused into a following FMA: GCC contracts a*b + c written as two
  // intrinsics (-ffp-contract=fast is its C++ default), but torch rounds the product first.
  static V rounded(V v) {
    __asm__("" : "+v"(v));
    return v;
  }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V div(V a, V b) { return _mm256_div_ps(a, b); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }    // a*b + c
  static V fnmadd(V a, V b, V c) { return _mm256_fnmadd_ps(a, b, c); }  // c - a*b
  // max/min return the second operand when one is NaN; callers put the value that must
  // propagate NaN second.
  static V max(V a, V b) { return _mm256_max_ps(a, b); }
  static V min(V a, V b) { return _mm256_min_ps(a, b); }
  static V sqrt(V a) { return _mm256_sqrt_ps(a); }
  static V abs(V a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
  // mag with the sign bit of `sign`.
  static V copysign(V mag, V sign) {
    const V sign_bit = _mm256_set1_ps(-0.0f);
    return _mm256_or_ps(_mm256_and_ps(sign_bit, sign), _mm256_andnot_ps(sign_bit, mag));
  }
  static float reduce_add(V v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }

  static M lt(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
  static V select(M m, V if_true, V if_false) { return _mm256_blendv_ps(if_false, if_true, m); }

  static V round_int(V v) {
    return _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  }
  // p * 2^n for integral n in [-252, 254]: two exact power-of-two factors, each a normal float,
  // so results in the subnormal range round once and overflow gives inf.
  static V ldexp(V p, V n) {
    __m256i k = _mm256_cvtps_epi32(n);
    __m256i k1 = _mm256_srai_epi32(k, 1);
    __m256i k2 = _mm256_sub_epi32(k, k1);
    const __m256i bias = _mm256_set1_epi32(127);
    V f1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k1, bias), 23));
    V f2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k2, bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, f1), f2);
  }

  // Rounds to the nearest bf16 value (ties to even), kept as f32; NaN stays NaN.
  static V round_bf16(V v) {
    __m256i r = _mm256_and_si256(rounded_bits(v), _mm256_set1_epi32(int(0xffff0000u)));
    return _mm256_blendv_ps(_mm256_castsi256_ps(r), v, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  }

 private:
  static __m256i lanes(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static __m256i rounded_bits(V v) {
    __m256i b = _mm256_castps_si256(v);
    __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(b, 16), _mm256_set1_epi32(1));
    return _mm256_add_epi32(b, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff)));
  }
  // bf16 bit patterns as torch rounds them: nearest even, NaN kept quiet.
  static __m128i bf16_bits(V v) {
    __m256i r = _mm256_srli_epi32(rounded_bits(v), 16);
    __m256i quiet =
        _mm256_or_si256(_mm256_srli_epi32(_mm256_castps_si256(v), 16), _mm256_set1_epi32(0x40));
    r = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(r), _mm256_castsi256_ps(quiet),
                                             _mm256_cmp_ps(v, v, _CMP_UNORD_Q)));
    // Values are <= 0xffff, so the signed-to-unsigned saturating pack is exact.
    __m128i lo = _mm256_castsi256_si128(r), hi = _mm256_extracti128_si256(r, 1);
    return _mm_packus_epi32(lo, hi);
  }
};

}  // namespace kinema::cpu::avx2
