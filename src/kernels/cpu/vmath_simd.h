// Vectorised exp, tanh, erf and the activations built on them, written once over a vector
// traits type S (simd_avx2.h, simd_avx512.h). Include only from *_avx2.cpp / *_avx512.cpp: each
// instantiation carries its instruction set's traits type, so the copies never collide.
//
// The polynomial coefficients are our own fits (tests/kernels/fit_vmath.py, Chebyshev fits with
// mpmath, rounded to f32); the tests compare every function with the C library over dense sweeps.
#pragma once

namespace kinema::cpu::simd {

// Horner evaluation of c[0] + c[1] x + ... + c[K-1] x^(K-1).
template <class S, int K>
inline typename S::V poly(typename S::V x, const float (&c)[K]) {
  typename S::V r = S::set1(c[K - 1]);
  for (int i = K - 2; i >= 0; --i) r = S::fmadd(r, x, S::set1(c[i]));
  return r;
}

// e^x to about 1 ulp. Results below the normal range are subnormal or zero, above it inf.
template <class S>
inline typename S::V exp(typename S::V x) {
  using V = typename S::V;
  // e^r = 1 + r + r^2 q(r) on |r| <= ln2/2; fit error 1.4e-9 in q.
  static constexpr float q[] = {0.5f,
                                0.1666666716337204f,
                                0.04166646674275398f,
                                0.00833331048488617f,
                                0.0013933641603216529f,
                                0.00019890980911441147f};
  // Below -104 the result rounds to 0, above 88.8 to inf; the clamp keeps 2^n in range.
  // max/min keep a NaN x (second operand).
  x = S::min(S::set1(88.8f), S::max(S::set1(-104.0f), x));
  V n = S::round_int(S::mul(x, S::set1(1.44269504088896341f)));
  // Cody-Waite: ln2 = hi + lo with hi exact in few bits, so n*hi is exact.
  V r = S::fnmadd(n, S::set1(0.693359375f), x);
  r = S::fnmadd(n, S::set1(-2.12194440e-4f), r);
  V p = S::add(S::set1(1.0f), S::fmadd(S::mul(r, r), poly<S>(r, q), r));
  return S::ldexp(p, n);
}

// tanh(x) to a few ulp: an odd polynomial near zero, 1 - 2/(e^{2|x|} + 1) beyond.
template <class S>
inline typename S::V tanh(typename S::V x) {
  using V = typename S::V;
  // tanh(x) = x + x^3 p(x^2) on |x| < 0.625; fit error 1.6e-9 in p.
  static constexpr float p[] = {-0.3333333432674408f,   0.13333304226398468f,
                                -0.053959257900714874f, 0.02176891826093197f,
                                -0.008343945257365704f, 0.002292744815349579f};
  V a = S::abs(x);
  V u = S::mul(x, x);
  V small = S::fmadd(S::mul(x, u), poly<S>(u, p), x);
  V e = exp<S>(S::add(a, a));
  V large = S::sub(S::set1(1.0f), S::div(S::set1(2.0f), S::add(e, S::set1(1.0f))));
  return S::select(S::lt(a, S::set1(0.625f)), small, S::copysign(large, x));
}

// erf(x) to a few ulp: x p(x^2) for |x| < 1; 1 - e^{-x^2} q(|x| - 2.475) up to 3.95, where
// erf rounds to 1 in f32.
template <class S>
inline typename S::V erf(typename S::V x) {
  using V = typename S::V;
  static constexpr float p[] = {
      1.1283791065216064f,   -0.3761262595653534f,   0.11283594369888306f,  -0.02685421146452427f,
      0.005189087241888046f, -0.000801686430349946f, 7.875874871388078e-05f};
  // q fits erfcx(x) = e^{x^2} erfc(x) on [1, 3.95], in t = x - 2.475; fit error 4.5e-8.
  static constexpr float q[] = {
      0.21268075704574585f,    -0.07560962438583374f,    0.025547536090016365f,
      -0.008250891231000423f,  0.0025602516252547503f,   -0.0007711793296039104f,
      0.00022286089370027184f, -5.6924451200757176e-05f, 1.566487662785221e-05f,
      -6.733383088430855e-06f, 1.710523065412417e-06f};
  V a = S::abs(x);
  V small = S::mul(x, poly<S>(S::mul(x, x), p));
  V ac = S::min(S::set1(3.95f), a);
  V e = exp<S>(S::mul(S::sub(S::zero(), ac), ac));
  V large = S::fnmadd(e, poly<S>(S::sub(ac, S::set1(2.475f)), q), S::set1(1.0f));
  return S::select(S::lt(a, S::set1(1.0f)), small, S::copysign(large, x));
}

// x / (1 + e^{-k}): x times the logistic function of k. Saturates cleanly: e^{-k} = inf gives
// -0 or 0, e^{-k} = 0 gives x.
template <class S>
inline typename S::V times_sigmoid(typename S::V x, typename S::V k) {
  return S::div(x, S::add(S::set1(1.0f), exp<S>(S::sub(S::zero(), k))));
}

// GELU with the tanh approximation, fused: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) in
// the operation order of PyTorch's kernels, so that even the negative tail, where 1 + tanh
// cancels, follows the reference.
template <class S>
inline typename S::V gelu_tanh(typename S::V x) {
  using V = typename S::V;
  V cube = S::mul(S::mul(x, x), x);
  V inner = S::add(x, S::rounded(S::mul(S::set1(0.044715f), cube)));
  inner = S::mul(S::set1(0.7978845608028654f), inner);
  return S::mul(S::mul(S::set1(0.5f), x), S::add(S::set1(1.0f), tanh<S>(inner)));
}

// Exact GELU: 0.5 x (1 + erf(x / sqrt 2)), as torch writes it.
template <class S>
inline typename S::V gelu_erf(typename S::V x) {
  typename S::V e = erf<S>(S::mul(x, S::set1(0.707106781186547524f)));
  return S::mul(S::mul(x, S::set1(0.5f)), S::add(S::set1(1.0f), e));
}

template <class S>
inline typename S::V silu(typename S::V x) {
  return times_sigmoid<S>(x, x);
}

// umT5's GELU, evaluated op by op on bf16 tensors: every intermediate rounds to bf16, in the
// order x^3, *0.044715, x+, *sqrt(2/pi), tanh, 1+, (0.5 x) * (...). x holds bf16 values.
// This is how the official code runs on bf16 tensors on the CPU: torch.pow(x, 3) is (x * x) * x
// with a rounding after each product, and the Python constants 0.044715 and sqrt(2/pi) are
// rounded to bf16 (0.044677734375 and 0.796875) before they multiply.
template <class S>
inline typename S::V gelu_tanh_t5(typename S::V x) {
  using V = typename S::V;
  V cube = S::round_bf16(S::mul(S::round_bf16(S::mul(x, x)), x));
  V t = S::round_bf16(S::mul(cube, S::set1(0.044677734375f)));
  t = S::round_bf16(S::add(x, t));
  t = S::round_bf16(S::mul(t, S::set1(0.796875f)));
  t = S::round_bf16(tanh<S>(t));
  t = S::round_bf16(S::add(S::set1(1.0f), t));
  V half = S::round_bf16(S::mul(x, S::set1(0.5f)));
  return S::round_bf16(S::mul(half, t));
}

}  // namespace kinema::cpu::simd
