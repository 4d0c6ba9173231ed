// Helpers for the generic-code kernel entry points: operand checks and choosing the table of
// the active instruction set. Never include from *_avx2.cpp / *_avx512.cpp.
#pragma once

#include <string_view>

#include "core/cpu.h"
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

}  // namespace kinema::cpu
