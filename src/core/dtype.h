// Element types: dense floats, fp8, integers, and the GGUF block-quantized formats.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace kinema {

enum class DType : uint8_t {
  F32,
  F64,
  F16,
  BF16,
  F8_E4M3,  // float8_e4m3fn: no infinities, 0x7f/0xff are NaN, max 448
  F8_E5M2,
  I64,
  I32,
  I16,
  I8,
  U8,
  Bool,
  // GGUF / ggml block formats. Each block packs `block_elems` values along the innermost axis.
  Q8_0,
  Q4_0,
  Q4_K,
  Q5_K,
  Q6_K,
};

struct DTypeTraits {
  std::string_view name;  // our canonical lower-case name ("bf16", "q4_k", ...)
  int64_t block_elems;    // 1 for dense types
  int64_t block_bytes;    // bytes per block (element size for dense types)
  bool is_float;          // dense floating point
  bool is_quantized;      // block format
};

const DTypeTraits& traits(DType dtype);
inline std::string_view name(DType dtype) { return traits(dtype).name; }

// Parses our canonical names (as printed by name()).
std::optional<DType> dtype_from_name(std::string_view name);

// Bytes needed for `elems` values; for block types `elems` must be a multiple of the block.
// Returns nullopt on overflow or a partial block.
std::optional<uint64_t> storage_bytes(DType dtype, uint64_t elems);

// ---- scalar conversions (reference semantics; kernels hold vectorised versions) ----

inline float bits_to_f32(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
inline uint32_t f32_to_bits(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  return bits;
}

inline float bf16_to_f32(uint16_t h) { return bits_to_f32(uint32_t(h) << 16); }

// Round to nearest even, NaN stays NaN (quiet), as torch does.
inline uint16_t f32_to_bf16(float f) {
  uint32_t bits = f32_to_bits(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return uint16_t((bits >> 16) | 0x40);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return uint16_t(bits >> 16);
}

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);  // round to nearest even, overflow to inf
float f8e4m3_to_f32(uint8_t v);
float f8e5m2_to_f32(uint8_t v);
uint8_t f32_to_f8e4m3(float f);  // round to nearest even; beyond the range gives NaN (as c10)
uint8_t f32_to_f8e5m2(float f);  // round to nearest even, overflow to inf

}  // namespace kinema
