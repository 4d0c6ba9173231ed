// The normalisation kernels written once over a vector traits type S; norm_avx2.cpp and
// norm_avx512.cpp instantiate them. Include only from those files.
#pragma once

#include <cstdint>

#include "kernels/cpu/map_simd.h"
#include "kernels/cpu/norm_isa.h"
#include "kernels/cpu/vmath_simd.h"

namespace kinema::cpu::simd {

// Sum over one row of term(v, k), v holding k valid lanes (the rest zero), with four
// accumulators for latency hiding and shorter summation chains.
template <class S, class T, class F>
inline float row_sum(const T* x, int64_t d, F term) {
  using V = typename S::V;
  V acc[4] = {S::zero(), S::zero(), S::zero(), S::zero()};
  int64_t i = 0;
  for (; i + 4 * S::N <= d; i += 4 * S::N)
    for (int j = 0; j < 4; ++j) acc[j] = S::add(acc[j], term(S::load(x + i + j * S::N), S::N));
  for (; i < d; i += S::N) {
    int k = lanes_at<S>(i, d);
    acc[0] = S::add(acc[0], term(load_k<S>(x + i, k), k));
  }
  return S::reduce_add(S::add(S::add(acc[0], acc[1]), S::add(acc[2], acc[3])));
}

template <class S, class TX, class TY>
void layer_norm_row(const LayerNormArgs& a, const TX* x, TY* y, const float* scale,
                    const float* shift) {
  using V = typename S::V;
  const int64_t d = a.dim;
  const V mean = S::set1(row_sum<S>(x, d, [](V v, int) { return v; }) / float(d));
  // Two-pass variance: centred values, with the padding lanes of a partial vector zeroed.
  float var = row_sum<S>(x, d,
                         [&](V v, int k) {
                           V c = S::sub(v, mean);
                           if (k < S::N) c = S::keep_n(c, k);
                           return S::mul(c, c);
                         }) /
              float(d);
  const V rstd = S::set1(1.0f / __builtin_sqrtf(var + a.eps));
  const V one = S::set1(1.0f);
  for (int64_t i = 0; i < d; i += S::N) {
    int k = lanes_at<S>(i, d);
    V n = S::mul(S::sub(load_k<S>(x + i, k), mean), rstd);
    if (a.round_normed) n = S::round_bf16(n);
    if (a.weight)
      n = S::add(S::rounded(S::mul(n, load_k<S>(a.weight + i, k))), load_k<S>(a.bias + i, k));
    // torch's order: (1 + scale) first, then the product, then + shift.
    if (scale) {
      V prod = S::rounded(S::mul(n, S::add(one, load_k<S>(scale + i, k))));
      n = S::add(prod, load_k<S>(shift + i, k));
    }
    store_k<S>(y + i, n, k);
  }
}

template <class S>
void layer_norm_rows(const LayerNormArgs& a, int64_t begin, int64_t end) {
  for (int64_t r = begin; r < end; ++r) {
    const float* scale = nullptr;
    const float* shift = nullptr;
    if (a.scale) {
      int64_t group = r / a.rows_per_modulation;
      scale = a.scale + group * a.dim;
      shift = a.shift + group * a.dim;
    }
    with_types(a.x, a.x_type, a.y, a.y_type, r * a.dim,
               [&](auto* x, auto* y) { layer_norm_row<S>(a, x, y, scale, shift); });
  }
}

template <class S, class TX, class TY>
void rms_norm_row(const RmsNormArgs& a, const TX* x, TY* y) {
  using V = typename S::V;
  const int64_t d = a.dim;
  float mean_sq = row_sum<S>(x, d, [](V v, int) { return S::mul(v, v); }) / float(d);
  const V r = S::set1(1.0f / __builtin_sqrtf(mean_sq + a.eps));
  for (int64_t i = 0; i < d; i += S::N) {
    int k = lanes_at<S>(i, d);
    V n = S::mul(load_k<S>(x + i, k), r);
    if (a.round_normed) n = S::round_bf16(n);
    store_k<S>(y + i, S::mul(n, load_k<S>(a.weight + i, k)), k);
  }
}

template <class S>
void rms_norm_rows(const RmsNormArgs& a, int64_t begin, int64_t end) {
  for (int64_t r = begin; r < end; ++r)
    with_types(a.x, a.x_type, a.y, a.y_type, r * a.dim,
               [&](auto* x, auto* y) { rms_norm_row<S>(a, x, y); });
}

// Positions [p, p + count), count <= kTile * N: the L2 norm over all channels, then the scaled
// output. The tile of positions stays in cache between the two passes over the channels.
template <class S, int kTile>
inline void channel_norm_tile(const ChannelNormArgs& a, int64_t p, int64_t count) {
  using V = typename S::V;
  V acc[kTile];
  int lanes[kTile];
  for (int j = 0; j < kTile; ++j) {
    acc[j] = S::zero();
    int64_t left = count - int64_t(j) * S::N;
    lanes[j] = left <= 0 ? 0 : left >= S::N ? S::N : int(left);
  }
  const int64_t stride = a.positions;
  for (int64_t c = 0; c < a.channels; ++c) {
    const float* row = a.x + c * stride + p;
    for (int j = 0; j < kTile; ++j) {
      if (lanes[j] == 0) break;
      V v = load_k<S>(row + j * S::N, lanes[j]);
      acc[j] = S::fmadd(v, v, acc[j]);
    }
  }
  // 1 / max(||x||, 1e-12), as F.normalize clamps the norm.
  for (int j = 0; j < kTile; ++j)
    acc[j] = S::div(S::set1(1.0f), S::max(S::set1(1e-12f), S::sqrt(acc[j])));
  for (int64_t c = 0; c < a.channels; ++c) {
    const float* row = a.x + c * stride + p;
    float* out = a.y + c * stride + p;
    V g = S::set1(a.gain[c]);
    for (int j = 0; j < kTile; ++j) {
      if (lanes[j] == 0) break;
      V v = S::mul(S::mul(load_k<S>(row + j * S::N, lanes[j]), acc[j]), g);
      if (a.silu) v = silu<S>(v);
      store_k<S>(out + j * S::N, v, lanes[j]);
    }
  }
}

template <class S>
void channel_norm_positions(const ChannelNormArgs& a, int64_t begin, int64_t end) {
  constexpr int kTile = 4;
  for (int64_t p = begin; p < end; p += kTile * S::N) {
    int64_t count = end - p < kTile * S::N ? end - p : kTile * S::N;
    channel_norm_tile<S, kTile>(a, p, count);
  }
}

template <class S>
constexpr NormKernels norm_table() {
  return {layer_norm_rows<S>, rms_norm_rows<S>, channel_norm_positions<S>};
}

}  // namespace kinema::cpu::simd
