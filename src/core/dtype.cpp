#include "core/dtype.h"

#include <array>
#include <cmath>
#include <limits>

namespace kinema {
namespace {

constexpr std::array<DTypeTraits, 17> kTraits = {{
    {"f32", 1, 4, true, false},
    {"f64", 1, 8, true, false},
    {"f16", 1, 2, true, false},
    {"bf16", 1, 2, true, false},
    {"f8_e4m3", 1, 1, true, false},
    {"f8_e5m2", 1, 1, true, false},
    {"i64", 1, 8, false, false},
    {"i32", 1, 4, false, false},
    {"i16", 1, 2, false, false},
    {"i8", 1, 1, false, false},
    {"u8", 1, 1, false, false},
    {"bool", 1, 1, false, false},
    {"q8_0", 32, 34, false, true},
    {"q4_0", 32, 18, false, true},
    {"q4_k", 256, 144, false, true},
    {"q5_k", 256, 176, false, true},
    {"q6_k", 256, 210, false, true},
}};

}  // namespace

const DTypeTraits& traits(DType dtype) { return kTraits[static_cast<size_t>(dtype)]; }

std::optional<DType> dtype_from_name(std::string_view name) {
  for (size_t i = 0; i < kTraits.size(); ++i)
    if (kTraits[i].name == name) return static_cast<DType>(i);
  return std::nullopt;
}

std::optional<uint64_t> storage_bytes(DType dtype, uint64_t elems) {
  const DTypeTraits& t = traits(dtype);
  if (elems % uint64_t(t.block_elems) != 0) return std::nullopt;
  uint64_t blocks = elems / uint64_t(t.block_elems);
  if (blocks > std::numeric_limits<uint64_t>::max() / uint64_t(t.block_bytes)) return std::nullopt;
  return blocks * uint64_t(t.block_bytes);
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f) return bits_to_f32(sign | 0x7f800000u | (mant << 13));
  if (exp == 0) {
    // Subnormal or zero: value = mant * 2^-24.
    float v = std::ldexp(float(mant), -24);
    return sign ? -v : v;
  }
  return bits_to_f32(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t f32_to_f16(float f) {
  uint32_t bits = f32_to_bits(f);
  uint16_t sign = uint16_t((bits >> 16) & 0x8000u);
  uint32_t abs = bits & 0x7fffffffu;
  if (abs > 0x7f800000u) return uint16_t(sign | 0x7e00u);   // NaN
  if (abs >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // rounds to >= 65520: inf
  if (abs < 0x38800000u) {
    // Result is subnormal (or zero): scale into the subnormal grid, round to nearest even.
    float a = bits_to_f32(abs);
    float scaled = a * 16777216.0f;  // 2^24, exact
    uint32_t q = uint32_t(std::nearbyint(scaled));
    return uint16_t(sign | q);
  }
  uint32_t mant_round = abs + 0xfffu + ((abs >> 13) & 1u);
  return uint16_t(sign | ((mant_round - (112u << 23)) >> 13));
}

namespace {

// Decodes a small float with `exp_bits` exponent bits and `mant_bits` mantissa bits.
float decode_minifloat(uint8_t v, int exp_bits, int mant_bits, int bias) {
  bool neg = v & 0x80;
  int exp = (v >> mant_bits) & ((1 << exp_bits) - 1);
  int mant = v & ((1 << mant_bits) - 1);
  float mag;
  if (exp == 0)
    mag = std::ldexp(float(mant), 1 - bias - mant_bits);
  else
    mag = std::ldexp(float((1 << mant_bits) | mant), exp - bias - mant_bits);
  return neg ? -mag : mag;
}

// Rounds |f| onto the grid of a small float and returns the code without sign, or -1 when the
// rounded magnitude exceeds `max_code`'s value.
int encode_minifloat(float a, int exp_bits, int mant_bits, int bias, int max_code) {
  if (a == 0.0f) return 0;
  int e;
  std::frexp(a, &e);  // a = m * 2^e, m in [0.5, 1)
  int unbiased = e - 1;
  int min_normal = 1 - bias;
  int quantum_exp = (unbiased < min_normal ? min_normal : unbiased) - mant_bits;
  float q = std::nearbyint(std::ldexp(a, -quantum_exp));  // round half to even
  float rounded = std::ldexp(q, quantum_exp);
  if (rounded == 0.0f) return 0;  // below half the smallest subnormal
  float max_val = decode_minifloat(uint8_t(max_code), exp_bits, mant_bits, bias);
  if (rounded > max_val) return -1;
  // Re-encode the exactly representable value.
  int re;
  std::frexp(rounded, &re);
  int ue = re - 1;
  if (ue < min_normal) return int(std::ldexp(rounded, bias - 1 + mant_bits));
  int mant = int(std::ldexp(rounded, mant_bits - ue)) - (1 << mant_bits);
  return ((ue + bias) << mant_bits) | mant;
}

}  // namespace

float f8e4m3_to_f32(uint8_t v) {
  if ((v & 0x7f) == 0x7f) return std::numeric_limits<float>::quiet_NaN();
  return decode_minifloat(v, 4, 3, 7);
}

float f8e5m2_to_f32(uint8_t v) {
  int exp = (v >> 2) & 0x1f;
  if (exp == 0x1f) {
    if (v & 0x3) return std::numeric_limits<float>::quiet_NaN();
    return (v & 0x80) ? -std::numeric_limits<float>::infinity()
                      : std::numeric_limits<float>::infinity();
  }
  return decode_minifloat(v, 5, 2, 15);
}

uint8_t f32_to_f8e4m3(float f) {
  uint8_t sign = std::signbit(f) ? 0x80 : 0;
  if (std::isnan(f)) return uint8_t(sign | 0x7f);
  int code = std::isinf(f) ? -1 : encode_minifloat(std::fabs(f), 4, 3, 7, 0x7e);
  if (code < 0) return uint8_t(sign | 0x7f);
  return uint8_t(sign | code);
}

uint8_t f32_to_f8e5m2(float f) {
  uint8_t sign = std::signbit(f) ? 0x80 : 0;
  if (std::isnan(f)) return uint8_t(sign | 0x7f);
  int code = std::isinf(f) ? -1 : encode_minifloat(std::fabs(f), 5, 2, 15, 0x7b);
  if (code < 0) return uint8_t(sign | 0x7c);
  return uint8_t(sign | code);
}

}  // namespace kinema
