// Helpers for the generic-code kernel entry points: operand checks and choosing the table of
// the active instruction set. Never include from *_avx2.cpp / *_avx512.cpp.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/cpu.h"
#include "core/dtype.h"
#include "core/tensor.h"
#include "kernels/cpu/kernel_types.h"

namespace kinema::cpu {

// The table for the active level: Avx512Bf16 uses the AVX-512 table unless a kernel family has
// bf16-instruction code of its own.
template <class Table>
const Table& for_active_isa(const Table& generic, const Table& avx2, const Table& avx512) {
  switch (active_isa()) {
    case Isa::Generic: return generic;
    case Isa::Avx2: return avx2;
    case Isa::Avx512:
    case Isa::Avx512Bf16: return avx512;
  }
  return generic;
}

// The Elem of an f32 or bf16 tensor; any other dtype fails naming `op` and `operand`.
Elem float_elem(const Tensor& t, std::string_view op, std::string_view operand);
// Fails unless `t` is defined, writable and has `shape`.
void check_output(const Tensor& t, const Shape& shape, std::string_view op);
// Fails unless a and b have the same shape.
void check_same_shape(const Tensor& a, const Tensor& b, std::string_view op,
                      std::string_view a_name, std::string_view b_name);

// Fails unless `t` is f32 with exactly n values; returns its data.
const float* f32_vector(const Tensor& t, int64_t n, std::string_view op, std::string_view operand);

// Rows of x ([B, ..., D], rows of D values) that share one broadcast vector `v`: v of D values
// serves all rows, v of B * D values ([B, 1, D] or [B, D]) one batch item each. Anything else
// fails naming `op` and `operand`.
int64_t rows_per_vector(const Tensor& x, const Tensor& v, std::string_view op,
                        std::string_view operand);

// Scalar element access for the generic (reference) kernels.
inline float load_elem(const void* p, Elem type, int64_t i) {
  return type == Elem::F32 ? static_cast<const float*>(p)[i]
                           : bf16_to_f32(static_cast<const uint16_t*>(p)[i]);
}
inline void store_elem(void* p, Elem type, int64_t i, float v) {
  if (type == Elem::F32)
    static_cast<float*>(p)[i] = v;
  else
    static_cast<uint16_t*>(p)[i] = f32_to_bf16(v);
}
inline float round_to_bf16(float v) { return bf16_to_f32(f32_to_bf16(v)); }

}  // namespace kinema::cpu
