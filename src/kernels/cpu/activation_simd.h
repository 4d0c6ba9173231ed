// The activation kernels written once over a vector traits type S; activation_avx2.cpp and
// activation_avx512.cpp instantiate them. Include only from those files.
#pragma once

#include <cstdint>

#include "kernels/cpu/activation_isa.h"
#include "kernels/cpu/map_simd.h"
#include "kernels/cpu/vmath_simd.h"

namespace kinema::cpu::simd {

template <class S, class F>
inline void apply_activation(const ActivationArgs& a, int64_t begin, int64_t end, F f) {
  with_types(a.x, a.x_type, a.y, a.y_type, begin,
             [&](auto* x, auto* y) { map1<S>(x, y, end - begin, f); });
}

template <class S>
void activation_apply(const ActivationArgs& a, int64_t begin, int64_t end) {
  using V = typename S::V;
  switch (a.kind) {
    case ActKind::GeluTanh:
      apply_activation<S>(a, begin, end, [](V x) { return gelu_tanh<S>(x); });
      return;
    case ActKind::GeluErf:
      apply_activation<S>(a, begin, end, [](V x) { return gelu_erf<S>(x); });
      return;
    case ActKind::Silu: apply_activation<S>(a, begin, end, [](V x) { return silu<S>(x); }); return;
    case ActKind::GeluTanhT5:
      apply_activation<S>(a, begin, end, [](V x) { return gelu_tanh_t5<S>(x); });
      return;
  }
}

template <class S>
void gated_gelu_t5_array(const uint16_t* a, const uint16_t* b, uint16_t* y, int64_t n) {
  using V = typename S::V;
  // a and gelu(b) are bf16 values, so their f32 product is exact and the store rounds once.
  map2<S>(a, b, y, n, [](V va, V vb) { return S::mul(va, gelu_tanh_t5<S>(vb)); });
}

template <class S>
void exp_array(const float* x, float* y, int64_t n) {
  map1<S>(x, y, n, [](typename S::V v) { return exp<S>(v); });
}
template <class S>
void tanh_array(const float* x, float* y, int64_t n) {
  map1<S>(x, y, n, [](typename S::V v) { return tanh<S>(v); });
}
template <class S>
void erf_array(const float* x, float* y, int64_t n) {
  map1<S>(x, y, n, [](typename S::V v) { return erf<S>(v); });
}

template <class S>
constexpr ActivationKernels activation_table() {
  return {activation_apply<S>, gated_gelu_t5_array<S>, exp_array<S>, tanh_array<S>, erf_array<S>};
}

}  // namespace kinema::cpu::simd
