// Loops that apply a vector function over arrays of f32 or bf16 (uint16_t bits), written once
// over a vector traits type S. Include only from *_avx2.cpp / *_avx512.cpp.
#pragma once

#include <cstdint>

#include "kernels/cpu/kernel_types.h"

namespace kinema::cpu::simd {

// k (1..N) lanes from p: a full vector load when k == N.
template <class S, class T>
inline typename S::V load_k(const T* p, int k) {
  return k == S::N ? S::load(p) : S::load_n(p, k);
}
template <class S, class T>
inline void store_k(T* p, typename S::V v, int k) {
  if (k == S::N)
    S::store(p, v);
  else
    S::store_n(p, v, k);
}
// Lanes left at i of n, capped at one vector.
template <class S>
inline int lanes_at(int64_t i, int64_t n) {
  return n - i >= S::N ? S::N : int(n - i);
}

// y[i] = f(x[i]) for i in [0, n); the tail uses partial loads and stores.
template <class S, class TX, class TY, class F>
inline void map1(const TX* x, TY* y, int64_t n, F f) {
  int64_t i = 0;
  for (; i + S::N <= n; i += S::N) S::store(y + i, f(S::load(x + i)));
  if (i < n) {
    int rest = int(n - i);
    S::store_n(y + i, f(S::load_n(x + i, rest)), rest);
  }
}

// y[i] = f(a[i], b[i]).
template <class S, class TA, class TB, class TY, class F>
inline void map2(const TA* a, const TB* b, TY* y, int64_t n, F f) {
  int64_t i = 0;
  for (; i + S::N <= n; i += S::N) S::store(y + i, f(S::load(a + i), S::load(b + i)));
  if (i < n) {
    int rest = int(n - i);
    S::store_n(y + i, f(S::load_n(a + i, rest), S::load_n(b + i, rest)), rest);
  }
}

// Calls f(x, y) with x and y cast to the pointer types their Elem tags name, offset by `at`
// elements.
template <class F>
inline void with_types(const void* x, Elem tx, void* y, Elem ty, int64_t at, F f) {
  if (tx == Elem::F32) {
    const float* xf = static_cast<const float*>(x) + at;
    if (ty == Elem::F32)
      f(xf, static_cast<float*>(y) + at);
    else
      f(xf, static_cast<uint16_t*>(y) + at);
  } else {
    const uint16_t* xb = static_cast<const uint16_t*>(x) + at;
    if (ty == Elem::F32)
      f(xb, static_cast<float*>(y) + at);
    else
      f(xb, static_cast<uint16_t*>(y) + at);
  }
}

// Calls f(p + at) with p cast to the pointer type its Elem tag names.
template <class F>
inline void as_typed(const void* p, Elem type, int64_t at, F f) {
  if (type == Elem::F32)
    f(static_cast<const float*>(p) + at);
  else
    f(static_cast<const uint16_t*>(p) + at);
}
template <class F>
inline void as_typed_mut(void* p, Elem type, int64_t at, F f) {
  if (type == Elem::F32)
    f(static_cast<float*>(p) + at);
  else
    f(static_cast<uint16_t*>(p) + at);
}

}  // namespace kinema::cpu::simd
