// The row converters written once over a vector-operations type O, which convert_avx2.cpp and
// convert_avx512.cpp define (W = 8 or 16 lanes). Include only from those files: each
// instantiation carries its own instruction set's O, so the copies never collide.
//
// Every block decoder performs the same f32 operations in the same order as core/quant.cpp, so
// the results are bit-identical to the scalar reference (no fused multiply-add here).
#pragma once

#include <cstdint>
#include <cstring>

#include "core/dtype.h"

namespace kinema::cpu::convert_simd {

// Local copies of two core helpers: a non-template inline function compiled here would carry
// this file's instruction set into a symbol the linker may share with baseline code.
template <class O>
float half_at(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return O::half(v);
}

// The 6-bit scale and min of sub-block j of a Q4_K/Q5_K block (core/quant.h k_scale_min).
template <class O>
void scale_min(int j, const uint8_t* scales, float* scale, float* min) {
  if (j < 4) {
    *scale = float(scales[j] & 63);
    *min = float(scales[j + 4] & 63);
  } else {
    *scale = float((scales[j + 4] & 0xF) | ((scales[j - 4] >> 6) << 4));
    *min = float((scales[j + 4] >> 4) | ((scales[j] >> 6) << 4));
  }
}

template <class O>
void q8_0_block(const uint8_t* b, float* y) {
  auto d = O::set1(half_at<O>(b));
  for (int i = 0; i < 32; i += O::W)
    O::store_f32(y + i, O::mul(d, O::to_float(O::load_i8(b + 2 + i))));
}

template <class O>
void q4_0_block(const uint8_t* b, float* y) {
  auto d = O::set1(half_at<O>(b));
  for (int j = 0; j < 16; j += O::W) {
    auto q = O::load_u8(b + 2 + j);
    O::store_f32(y + j, O::mul(d, O::to_float(O::sub_i(O::and_i(q, 0xF), 8))));
    O::store_f32(y + j + 16, O::mul(d, O::to_float(O::sub_i(O::srl(q, 4), 8))));
  }
}

// Q4_K (bits 4) and Q5_K (bits 5): 8 sub-blocks of 32, y = d*scale*q - dmin*min.
template <class O, int bits>
void k_asym_block(const uint8_t* b, float* y) {
  float d = half_at<O>(b), dmin = half_at<O>(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* qh = b + 16;
  const uint8_t* q = b + (bits == 4 ? 16 : 48);
  for (int j = 0; j < 8; j += 2) {
    float sc, m;
    scale_min<O>(j, scales, &sc, &m);
    auto d1 = O::set1(d * sc), m1 = O::set1(dmin * m);
    scale_min<O>(j + 1, scales, &sc, &m);
    auto d2 = O::set1(d * sc), m2 = O::set1(dmin * m);
    for (int l = 0; l < 32; l += O::W) {
      auto packed = O::load_u8(q + l);
      auto lo = O::and_i(packed, 0xF), hi = O::srl(packed, 4);
      if constexpr (bits == 5) {
        // The fifth bit of sub-block j sits in bit j of qh[l].
        auto h = O::load_u8(qh + l);
        lo = O::add(lo, O::shl(O::and_i(O::srl(h, j), 1), 4));
        hi = O::add(hi, O::shl(O::and_i(O::srl(h, j + 1), 1), 4));
      }
      O::store_f32(y + l, O::sub(O::mul(d1, O::to_float(lo)), m1));
      O::store_f32(y + 32 + l, O::sub(O::mul(d2, O::to_float(hi)), m2));
    }
    q += 32;
    y += 64;
  }
}

// Q6_K: 16 sub-blocks of 16, y = (d*scale)*(q - 32), q split into 4 low and 2 high bits.
template <class O>
void q6_k_block(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const auto* sc = reinterpret_cast<const int8_t*>(b + 192);
  float d = half_at<O>(b + 208);
  for (int n = 0; n < 256; n += 128) {
    for (int l = 0; l < 32; l += O::W) {
      int is = l / 16;  // constant across the W <= 16 lanes starting at l
      auto lo0 = O::load_u8(ql + l), lo1 = O::load_u8(ql + l + 32), h = O::load_u8(qh + l);
      auto q1 = O::add(O::and_i(lo0, 0xF), O::shl(O::and_i(h, 3), 4));
      auto q2 = O::add(O::and_i(lo1, 0xF), O::shl(O::and_i(O::srl(h, 2), 3), 4));
      auto q3 = O::add(O::srl(lo0, 4), O::shl(O::and_i(O::srl(h, 4), 3), 4));
      auto q4 = O::add(O::srl(lo1, 4), O::shl(O::and_i(O::srl(h, 6), 3), 4));
      O::store_f32(y + l, O::mul(O::set1(d * float(sc[is])), O::to_float(O::sub_i(q1, 32))));
      O::store_f32(y + l + 32,
                   O::mul(O::set1(d * float(sc[is + 2])), O::to_float(O::sub_i(q2, 32))));
      O::store_f32(y + l + 64,
                   O::mul(O::set1(d * float(sc[is + 4])), O::to_float(O::sub_i(q3, 32))));
      O::store_f32(y + l + 96,
                   O::mul(O::set1(d * float(sc[is + 6])), O::to_float(O::sub_i(q4, 32))));
    }
    y += 128;
    ql += 64;
    qh += 32;
    sc += 8;
  }
}

template <class O>
void block_to_f32(DType dtype, const uint8_t* b, float* y) {
  switch (dtype) {
    case DType::Q8_0: q8_0_block<O>(b, y); return;
    case DType::Q4_0: q4_0_block<O>(b, y); return;
    case DType::Q4_K: k_asym_block<O, 4>(b, y); return;
    case DType::Q5_K: k_asym_block<O, 5>(b, y); return;
    case DType::Q6_K: q6_k_block<O>(b, y); return;
    default: return;
  }
}

// Dense rows W values at a time through load(p) -> W f32 lanes; the tail goes through
// zero-padded W-element buffers.
template <class O, class In, class Out, class Load>
void dense_loop(const In* src, Out* dst, int64_t n, Load load) {
  auto store = [](Out* p, auto v) {
    if constexpr (sizeof(Out) == 4)
      O::store_f32(p, v);
    else
      O::store_bf16(p, v);
  };
  int64_t i = 0;
  for (; i + O::W <= n; i += O::W) store(dst + i, load(src + i));
  if (i < n) {
    alignas(64) In in[O::W] = {};
    alignas(64) Out out[O::W];
    std::memcpy(in, src + i, size_t(n - i) * sizeof(In));
    store(out, load(in));
    std::memcpy(dst + i, out, size_t(n - i) * sizeof(Out));
  }
}

template <class O, class Out>
void dense_row(DType dtype, const void* src, Out* dst, int64_t n) {
  switch (dtype) {
    case DType::F32: return dense_loop<O>(static_cast<const float*>(src), dst, n, O::load_f32);
    case DType::BF16: return dense_loop<O>(static_cast<const uint16_t*>(src), dst, n, O::load_bf16);
    case DType::F16: return dense_loop<O>(static_cast<const uint16_t*>(src), dst, n, O::load_f16);
    case DType::F8_E4M3:
      return dense_loop<O>(static_cast<const uint8_t*>(src), dst, n, O::load_f8e4m3);
    case DType::F8_E5M2:
      return dense_loop<O>(static_cast<const uint8_t*>(src), dst, n, O::load_f8e5m2);
    default: return;
  }
}

template <class O>
void row_to_f32(DType dtype, const void* src, float* dst, int64_t n) {
  const DTypeTraits& t = traits(dtype);
  if (!t.is_quantized) {
    if (dtype == DType::F32)
      std::memcpy(dst, src, size_t(n) * 4);
    else
      dense_row<O>(dtype, src, dst, n);
    return;
  }
  const auto* b = static_cast<const uint8_t*>(src);
  for (int64_t i = 0; i < n; i += t.block_elems, b += t.block_bytes)
    block_to_f32<O>(dtype, b, dst + i);
}

template <class O>
void row_to_bf16(DType dtype, const void* src, uint16_t* dst, int64_t n) {
  const DTypeTraits& t = traits(dtype);
  if (dtype == DType::BF16) {
    std::memcpy(dst, src, size_t(n) * 2);
    return;
  }
  if (!t.is_quantized) {
    dense_row<O>(dtype, src, dst, n);
    return;
  }
  const auto* b = static_cast<const uint8_t*>(src);
  alignas(64) float block[256];
  for (int64_t i = 0; i < n; i += t.block_elems, b += t.block_bytes) {
    block_to_f32<O>(dtype, b, block);
    for (int j = 0; j < t.block_elems; j += O::W)
      O::store_bf16(dst + i + j, O::load_f32(block + j));
  }
}

}  // namespace kinema::cpu::convert_simd
