// The ggml/GGUF block formats: layouts, reference dequantization and quantization.
//
// Layouts (little-endian, packed, as ggml writes them):
//   Q8_0  32 values, 34 bytes:  f16 d; i8 q[32]                      x = d*q
//   Q4_0  32 values, 18 bytes:  f16 d; u8 q[16]                      x[j] = d*((q[j]&15)-8),
//                                                                    x[j+16] = d*((q[j]>>4)-8)
//   Q4_K 256 values, 144 bytes: f16 d, dmin; u8 scales[12]; u8 q[128]
//   Q5_K 256 values, 176 bytes: f16 d, dmin; u8 scales[12]; u8 qh[32]; u8 q[128]
//   Q6_K 256 values, 210 bytes: u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d
// K-quants split a block into sub-blocks (8 of 32 for Q4_K/Q5_K, 16 of 16 for Q6_K) with their
// own 6-bit (Q4_K/Q5_K: scale and min, packed in 12 bytes) or 8-bit (Q6_K) scales.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace kinema {

// Decodes the 6-bit scale and min of sub-block j (0..7) from a Q4_K/Q5_K `scales[12]`.
inline void k_scale_min(int j, const uint8_t* scales, uint8_t* scale, uint8_t* min) {
  if (j < 4) {
    *scale = scales[j] & 63;
    *min = scales[j + 4] & 63;
  } else {
    *scale = uint8_t((scales[j + 4] & 0xF) | ((scales[j - 4] >> 6) << 4));
    *min = uint8_t((scales[j + 4] >> 4) | ((scales[j] >> 6) << 4));
  }
}

// n values (a multiple of the block) of block type `dtype` to f32.
void dequantize_row(DType dtype, const void* src, float* dst, int64_t n);

// n f32 values to block type `dtype`. Q8_0 and Q4_0 follow ggml's reference rounding; the
// K-quants use a simple min/max fit per sub-block (valid files, not ggml's searched optimum).
void quantize_row(DType dtype, const float* src, void* dst, int64_t n);

}  // namespace kinema
