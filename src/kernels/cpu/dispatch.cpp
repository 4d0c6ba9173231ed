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

const float* f32_vector(const Tensor& t, int64_t n, std::string_view op, std::string_view operand) {
  if (!t.defined()) fail(op, ": ", operand, " is not defined");
  if (t.dtype() != DType::F32) fail(op, ": ", operand, " must be f32, found ", name(t.dtype()));
  if (t.numel() != n) fail(op, ": ", operand, " has ", t.numel(), " values, expected ", n);
  return t.data<float>();
}

int64_t rows_per_vector(const Tensor& x, const Tensor& v, std::string_view op,
                        std::string_view operand) {
  const int64_t d = x.dim(-1);
  const int64_t rows = d == 0 ? 0 : x.numel() / d;
  const int64_t batch = x.rank() >= 2 ? x.dim(0) : 1;
  if (v.numel() == d) return rows == 0 ? 1 : rows;
  if (v.numel() == batch * d && batch > 0) return rows / batch;
  fail(op, ": ", operand, " has shape ", v.shape().str(), ", expected [", d, "] or [", batch,
       ", 1, ", d, "] for x of shape ", x.shape().str());
}

}  // namespace kinema::cpu
