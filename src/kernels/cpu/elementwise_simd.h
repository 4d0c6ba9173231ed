// The elementwise kernels written once over a vector traits type S; elementwise_avx2.cpp and
// elementwise_avx512.cpp instantiate them. Include only from those files.
#pragma once

#include <cstdint>

#include "kernels/cpu/elementwise_isa.h"
#include "kernels/cpu/map_simd.h"

namespace kinema::cpu::simd {

template <class S>
void binary(const BinaryArgs& a, int64_t begin, int64_t end) {
  using V = typename S::V;
  const int64_t n = end - begin;
  as_typed(a.a, a.a_type, begin, [&](auto* pa) {
    as_typed(a.b, a.b_type, begin, [&](auto* pb) {
      as_typed_mut(a.y, a.y_type, begin, [&](auto* py) {
        if (a.op == BinaryOp::Add)
          map2<S>(pa, pb, py, n, [](V x, V y) { return S::add(x, y); });
        else
          map2<S>(pa, pb, py, n, [](V x, V y) { return S::mul(x, y); });
      });
    });
  });
}

template <class S>
void unary(const UnaryArgs& a, int64_t begin, int64_t end) {
  using V = typename S::V;
  const int64_t n = end - begin;
  with_types(a.x, a.x_type, a.y, a.y_type, begin, [&](auto* x, auto* y) {
    switch (a.op) {
      case UnaryOp::Copy: map1<S>(x, y, n, [](V v) { return v; }); return;
      case UnaryOp::Scale: {
        V s = S::set1(a.s);
        map1<S>(x, y, n, [s](V v) { return S::mul(v, s); });
        return;
      }
      case UnaryOp::Clamp: {
        V lo = S::set1(a.lo), hi = S::set1(a.hi);
        // v second in each, so that NaN passes through.
        map1<S>(x, y, n, [lo, hi](V v) { return S::min(hi, S::max(lo, v)); });
        return;
      }
    }
  });
}

template <class S>
void add_gated(const GatedArgs& a, int64_t begin, int64_t end) {
  using V = typename S::V;
  const int64_t d = a.dim;
  for (int64_t r = begin; r < end; ++r) {
    float* x = a.x + r * d;
    const float* gate = a.gate + (r / a.rows_per_gate) * d;
    as_typed(a.y, a.y_type, r * d, [&](auto* y) {
      for (int64_t i = 0; i < d; i += S::N) {
        int k = lanes_at<S>(i, d);
        V prod = S::rounded(S::mul(load_k<S>(y + i, k), load_k<S>(gate + i, k)));
        store_k<S>(x + i, S::add(load_k<S>(x + i, k), prod), k);
      }
    });
  }
}

template <class S>
void f32_to_bf16(const float* x, uint16_t* y, int64_t n) {
  map1<S>(x, y, n, [](typename S::V v) { return v; });
}
template <class S>
void bf16_to_f32(const uint16_t* x, float* y, int64_t n) {
  map1<S>(x, y, n, [](typename S::V v) { return v; });
}

template <class S>
constexpr ElementwiseKernels elementwise_table() {
  return {binary<S>, unary<S>, add_gated<S>, f32_to_bf16<S>, bf16_to_f32<S>};
}

}  // namespace kinema::cpu::simd
