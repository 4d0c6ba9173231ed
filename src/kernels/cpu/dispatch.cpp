#include "kernels/cpu/dispatch.h"

#include "core/error.h"

namespace kinema::cpu {

Elem float_elem(const Tensor& t, std::string_view op, std::string_view operand) {
  if (!t.defined()) fail(op, ": ", operand, " is not defined");
  switch (t.dtype()) {
    case DType::F32: return Elem::F32;
    case DType::BF16: return Elem::BF16;
    default: fail(op, ": ", operand, " must be f32 or bf16, found ", name(t.dtype()));
  }
}

void check_output(const Tensor& t, const Shape& shape, std::string_view op) {
  if (!t.writable()) fail(op, ": the output tensor is not writable (a view or undefined)");
  if (t.shape() != shape)
    fail(op, ": the output has shape ", t.shape().str(), ", expected ", shape.str());
}

void check_same_shape(const Tensor& a, const Tensor& b, std::string_view op,
                      std::string_view a_name, std::string_view b_name) {
  if (a.shape() != b.shape())
    fail(op, ": ", a_name, " has shape ", a.shape().str(), " but ", b_name, " has shape ",
         b.shape().str());
}

}  // namespace kinema::cpu
