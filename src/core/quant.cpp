#include "core/quant.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"

namespace kinema {
namespace {

uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
void store_u16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }
float load_f16(const uint8_t* p) { return f16_to_f32(load_u16(p)); }

void dequant_q8_0(const uint8_t* b, float* y) {
  float d = load_f16(b);
  for (int i = 0; i < 32; ++i) y[i] = d * float(int8_t(b[2 + i]));
}

void dequant_q4_0(const uint8_t* b, float* y) {
  float d = load_f16(b);
  const uint8_t* q = b + 2;
  for (int j = 0; j < 16; ++j) {
    y[j] = d * float((q[j] & 0xF) - 8);
    y[j + 16] = d * float((q[j] >> 4) - 8);
  }
}

void dequant_q4_k(const uint8_t* b, float* y) {
  float d = load_f16(b), dmin = load_f16(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* q = b + 16;
  for (int j = 0; j < 8; j += 2) {
    uint8_t sc, m;
    k_scale_min(j, scales, &sc, &m);
    float d1 = d * sc, m1 = dmin * m;
    k_scale_min(j + 1, scales, &sc, &m);
    float d2 = d * sc, m2 = dmin * m;
    for (int l = 0; l < 32; ++l) y[l] = d1 * float(q[l] & 0xF) - m1;
    for (int l = 0; l < 32; ++l) y[32 + l] = d2 * float(q[l] >> 4) - m2;
    q += 32;
    y += 64;
  }
}

void dequant_q5_k(const uint8_t* b, float* y) {
  float d = load_f16(b), dmin = load_f16(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* qh = b + 16;
  const uint8_t* ql = b + 48;
  uint8_t u1 = 1, u2 = 2;
  for (int j = 0; j < 8; j += 2) {
    uint8_t sc, m;
    k_scale_min(j, scales, &sc, &m);
    float d1 = d * sc, m1 = dmin * m;
    k_scale_min(j + 1, scales, &sc, &m);
    float d2 = d * sc, m2 = dmin * m;
    for (int l = 0; l < 32; ++l) y[l] = d1 * float((ql[l] & 0xF) + ((qh[l] & u1) ? 16 : 0)) - m1;
    for (int l = 0; l < 32; ++l)
      y[32 + l] = d2 * float((ql[l] >> 4) + ((qh[l] & u2) ? 16 : 0)) - m2;
    ql += 32;
    y += 64;
    u1 = uint8_t(u1 << 2);
    u2 = uint8_t(u2 << 2);
  }
}

void dequant_q6_k(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const auto* sc = reinterpret_cast<const int8_t*>(b + 192);
  float d = load_f16(b + 208);
  for (int n = 0; n < 256; n += 128) {
    for (int l = 0; l < 32; ++l) {
      int is = l / 16;
      int q1 = int((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
      int q2 = int((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
      int q3 = int((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      int q4 = int((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      y[l] = d * float(sc[is]) * float(q1);
      y[l + 32] = d * float(sc[is + 2]) * float(q2);
      y[l + 64] = d * float(sc[is + 4]) * float(q3);
      y[l + 96] = d * float(sc[is + 6]) * float(q4);
    }
    y += 128;
    ql += 64;
    qh += 32;
    sc += 8;
  }
}

void quant_q8_0(const float* x, uint8_t* b) {
  float amax = 0;
  for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[i]));
  float d = amax / 127.0f;
  float id = d ? 1.0f / d : 0.0f;
  store_u16(b, f32_to_f16(d));
  for (int i = 0; i < 32; ++i) b[2 + i] = uint8_t(int8_t(std::lround(x[i] * id)));
}

void quant_q4_0(const float* x, uint8_t* b) {
  // ggml: the value of largest magnitude maps to -8.
  float amax = 0, maxv = 0;
  for (int i = 0; i < 32; ++i)
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      maxv = x[i];
    }
  float d = maxv / -8.0f;
  float id = d ? 1.0f / d : 0.0f;
  store_u16(b, f32_to_f16(d));
  for (int j = 0; j < 16; ++j) {
    int lo = std::min(15, int(x[j] * id + 8.5f));
    int hi = std::min(15, int(x[j + 16] * id + 8.5f));
    b[2 + j] = uint8_t(lo | (hi << 4));
  }
}

// Fits x ~ scale*q - min with q in [0, qmax] for one sub-block; returns (scale, min >= 0).
void fit_scale_min(const float* x, int n, int qmax, float* scale, float* min) {
  float lo = x[0], hi = x[0];
  for (int i = 1; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  lo = std::min(lo, 0.0f);  // the format's min is subtracted and non-negative
  *min = -lo;
  *scale = hi > lo ? (hi - lo) / float(qmax) : 0.0f;
}

// Packs 6-bit sub-block scales and mins as k_scale_min() reads them.
void pack_scale_min(const uint8_t* sc, const uint8_t* mn, uint8_t* scales) {
  std::memset(scales, 0, 12);
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      scales[j] = uint8_t(sc[j] & 63);
      scales[j + 4] = uint8_t(mn[j] & 63);
    } else {
      scales[j + 4] = uint8_t((sc[j] & 0xF) | ((mn[j] & 0xF) << 4));
      scales[j - 4] = uint8_t(scales[j - 4] | ((sc[j] >> 4) << 6));
      scales[j] = uint8_t(scales[j] | ((mn[j] >> 4) << 6));
    }
  }
}

// Shared Q4_K/Q5_K quantizer: 8 sub-blocks of 32 with 6-bit scales/mins, `bits` 4 or 5.
void quant_k_asym(const float* x, uint8_t* b, int bits) {
  int qmax = (1 << bits) - 1;
  float scale[8], min[8];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 8; ++j) {
    fit_scale_min(x + 32 * j, 32, qmax, &scale[j], &min[j]);
    max_scale = std::max(max_scale, scale[j]);
    max_min = std::max(max_min, min[j]);
  }
  float d = max_scale / 63.0f, dmin = max_min / 63.0f;
  uint16_t dh = f32_to_f16(d), dminh = f32_to_f16(dmin);
  d = f16_to_f32(dh);
  dmin = f16_to_f32(dminh);
  uint8_t sc[8], mn[8];
  for (int j = 0; j < 8; ++j) {
    sc[j] = uint8_t(d > 0 ? std::min(63L, std::lround(scale[j] / d)) : 0);
    mn[j] = uint8_t(dmin > 0 ? std::min(63L, std::lround(min[j] / dmin)) : 0);
  }
  store_u16(b, dh);
  store_u16(b + 2, dminh);
  pack_scale_min(sc, mn, b + 4);
  uint8_t q[256];
  for (int j = 0; j < 8; ++j) {
    float ds = d * sc[j], ms = dmin * mn[j];
    for (int l = 0; l < 32; ++l) {
      int v = ds > 0 ? int(std::lround((x[32 * j + l] + ms) / ds)) : 0;
      q[32 * j + l] = uint8_t(std::clamp(v, 0, qmax));
    }
  }
  uint8_t* qs = b + (bits == 4 ? 16 : 48);
  uint8_t* qh = b + 16;
  if (bits == 5) std::memset(qh, 0, 32);
  for (int j = 0; j < 8; j += 2) {
    for (int l = 0; l < 32; ++l) {
      uint8_t a = q[32 * j + l], c = q[32 * (j + 1) + l];
      qs[16 * j + l] = uint8_t((a & 0xF) | ((c & 0xF) << 4));
      if (bits == 5) {
        if (a & 16) qh[l] = uint8_t(qh[l] | (1u << j));
        if (c & 16) qh[l] = uint8_t(qh[l] | (1u << (j + 1)));
      }
    }
  }
}

void quant_q6_k(const float* x, uint8_t* b) {
  float scale[16];
  float max_abs_scale = 0;
  for (int j = 0; j < 16; ++j) {
    float amax = 0;
    for (int l = 0; l < 16; ++l) amax = std::max(amax, std::fabs(x[16 * j + l]));
    scale[j] = amax / 31.0f;
    max_abs_scale = std::max(max_abs_scale, scale[j]);
  }
  float d = max_abs_scale / 127.0f;
  uint16_t dh = f32_to_f16(d);
  d = f16_to_f32(dh);
  auto* sc = reinterpret_cast<int8_t*>(b + 192);
  uint8_t q[256];
  for (int j = 0; j < 16; ++j) {
    sc[j] = int8_t(d > 0 ? std::min(127L, std::lround(scale[j] / d)) : 0);
    float ds = d * sc[j];
    for (int l = 0; l < 16; ++l) {
      int v = ds > 0 ? int(std::lround(x[16 * j + l] / ds)) : 0;
      q[16 * j + l] = uint8_t(std::clamp(v, -32, 31) + 32);
    }
  }
  uint8_t* ql = b;
  uint8_t* qh = b + 128;
  for (int n = 0; n < 2; ++n) {
    const uint8_t* qq = q + 128 * n;
    for (int l = 0; l < 32; ++l) {
      ql[l] = uint8_t((qq[l] & 0xF) | ((qq[l + 64] & 0xF) << 4));
      ql[l + 32] = uint8_t((qq[l + 32] & 0xF) | ((qq[l + 96] & 0xF) << 4));
      qh[l] = uint8_t((qq[l] >> 4) | ((qq[l + 32] >> 4) << 2) | ((qq[l + 64] >> 4) << 4) |
                      ((qq[l + 96] >> 4) << 6));
    }
    ql += 64;
    qh += 32;
  }
  store_u16(b + 208, dh);
}

}  // namespace

void dequantize_row(DType dtype, const void* src, float* dst, int64_t n) {
  const DTypeTraits& t = traits(dtype);
  if (!t.is_quantized || n % t.block_elems != 0)
    fail("dequantize_row: ", n, " values of ", t.name, " is not whole blocks");
  const auto* b = static_cast<const uint8_t*>(src);
  for (int64_t i = 0; i < n / t.block_elems; ++i, b += t.block_bytes, dst += t.block_elems) {
    switch (dtype) {
      case DType::Q8_0: dequant_q8_0(b, dst); break;
      case DType::Q4_0: dequant_q4_0(b, dst); break;
      case DType::Q4_K: dequant_q4_k(b, dst); break;
      case DType::Q5_K: dequant_q5_k(b, dst); break;
      case DType::Q6_K: dequant_q6_k(b, dst); break;
      default: fail("not a block type");
    }
  }
}

void quantize_row(DType dtype, const float* src, void* dst, int64_t n) {
  const DTypeTraits& t = traits(dtype);
  if (!t.is_quantized || n % t.block_elems != 0)
    fail("quantize_row: ", n, " values of ", t.name, " is not whole blocks");
  auto* b = static_cast<uint8_t*>(dst);
  for (int64_t i = 0; i < n / t.block_elems; ++i, b += t.block_bytes, src += t.block_elems) {
    switch (dtype) {
      case DType::Q8_0: quant_q8_0(src, b); break;
      case DType::Q4_0: quant_q4_0(src, b); break;
      case DType::Q4_K: quant_k_asym(src, b, 4); break;
      case DType::Q5_K: quant_k_asym(src, b, 5); break;
      case DType::Q6_K: quant_q6_k(src, b); break;
      default: fail("not a block type");
    }
  }
}

}  // namespace kinema
