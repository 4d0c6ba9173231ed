// e^x on 16 f32 lanes, within 2 ulp of the correctly rounded result (tests/kernels/test_softmax
// checks it against std::exp), plus bf16 helpers. For *_avx512*.cpp files only: the functions
// have internal linkage, so every instruction-set level keeps its own copy.
//
// e^x = 2^n * e^r with n = round(x / ln 2) and r = x - n ln 2 (Cody-Waite: ln 2 split into an
// f32 head and a tail, both subtracted with FMA), |r| <= ln2 / 2. e^r is the degree-6
// polynomial 1 + r + c2 r^2 + ... + c6 r^6 whose c2..c6 were fitted (Lawson-weighted least
// squares, i.e. minimax, on the relative error over [-ln2/2, ln2/2]: 3.1e-9 before f32
// rounding). scalef applies 2^n exactly, including the subnormal range.
#pragma once
// GCC 12's AVX-512 headers trip -Wmaybe-uninitialized on their own _mm512_undefined_*()
// placeholders (GCC PR105593, fixed in 12.3); the warning is about the header, not this code.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <immintrin.h>

#include <cstdint>

namespace kinema::cpu {
namespace {

inline __m512 exp_avx512(__m512 x) {
  // Clamp so that n stays finite: e^-104 rounds to 0 and e^89 to +inf anyway. max/min return
  // their second operand when one is NaN, so NaN passes through.
  x = _mm512_max_ps(_mm512_set1_ps(-104.0f), x);
  x = _mm512_min_ps(_mm512_set1_ps(89.0f), x);
  __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693147182464599609375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-1.904654290582768e-09f), r);
  __m512 p = _mm512_set1_ps(1.381461276e-03f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.368710056e-03f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.166838899e-02f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.666652113e-01f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.999999404e-01f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

// 2^x on 16 lanes for x <= ~128, within 2 ulp of 2^x for the f32 x given, except that results
// below 2^-126 (x < -126, including -inf) are 0: subnormal results would cost a microcode assist
// each. NaN stays NaN. For the attention probabilities: the caller folds log2(e) into the score
// scale, which saves exp's range reduction (x = n + f, |f| <= 1/2, 2^f by a degree-5 polynomial
// fitted like exp's: 9.2e-8 relative before f32 rounding).
inline __m512 exp2_avx512(__m512 x) {
  const __mmask16 normal = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-126.0f), _CMP_NLT_UQ);
  __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 f = _mm512_sub_ps(x, n);
  __m512 p = _mm512_set1_ps(1.326472731e-03f);
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.671512991e-03f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.550733581e-02f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.402224243e-01f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.931470037e-01f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
  return _mm512_maskz_scalef_ps(normal, p, n);
}

// Horizontal max and sum of 16 lanes (not _mm512_reduce_*: GCC 12 warns inside those).
inline float reduce_max16(__m512 v) {
  __m256 m8 = _mm256_max_ps(_mm512_extractf32x8_ps(v, 0), _mm512_extractf32x8_ps(v, 1));
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(m8), _mm256_extractf128_ps(m8, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  return _mm_cvtss_f32(_mm_max_ss(m, _mm_shuffle_ps(m, m, 1)));
}

inline float reduce_add16(__m512 v) {
  __m256 s8 = _mm256_add_ps(_mm512_extractf32x8_ps(v, 0), _mm512_extractf32x8_ps(v, 1));
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 1)));
}

// 16 bf16 values to f32.
inline __m512 bf16x16_to_f32(__m256i h) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

// Rounds 16 f32 values to bf16, to nearest even (as torch; NaNs are not special-cased, fine
// for the finite values the kernels produce).
inline __m256i f32_to_bf16x16(__m512 x) {
  __m512i bits = _mm512_castps_si512(x);
  __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
  bits = _mm512_add_epi32(bits, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff)));
  return _mm512_cvtepi32_epi16(_mm512_srli_epi32(bits, 16));
}

// x rounded to the nearest bf16 value, kept in f32.
inline __m512 round_to_bf16(__m512 x) {
  __m512i bits = _mm512_castps_si512(x);
  __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
  bits = _mm512_add_epi32(bits, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff)));
  return _mm512_castsi512_ps(_mm512_and_si512(bits, _mm512_set1_epi32(int32_t(0xffff0000u))));
}

}  // namespace
}  // namespace kinema::cpu
