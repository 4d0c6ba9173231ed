// N-d tensors in PyTorch axis order. A tensor is a contiguous row-major view of bytes owned by
// something shared: a heap buffer, or a memory-mapped weight file (then it is read-only and
// loading copies nothing).
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "core/shape.h"

namespace kinema {

class Tensor {
 public:
  Tensor() = default;

  // Uninitialised, 64-byte aligned heap storage.
  static Tensor empty(const Shape& shape, DType dtype);
  static Tensor zeros(const Shape& shape, DType dtype);
  // A read-only view of `data`, kept alive by `owner`. Nothing is copied.
  static Tensor view(std::shared_ptr<const void> owner, const void* data, const Shape& shape,
                     DType dtype);
  // Copies f32 values into a new tensor of `dtype` (rounding as torch does).
  static Tensor from_f32(const Shape& shape, const float* values, DType dtype = DType::F32);

  bool defined() const { return data_ != nullptr || shape_.numel() == 0; }
  const Shape& shape() const { return shape_; }
  DType dtype() const { return dtype_; }
  int rank() const { return shape_.rank(); }
  int64_t dim(int axis) const { return shape_[axis]; }
  int64_t numel() const { return shape_.numel(); }
  size_t nbytes() const;
  bool writable() const { return writable_; }

  const void* raw() const { return data_; }
  void* mutable_raw();
  template <class T>
  const T* data() const {
    return static_cast<const T*>(raw());
  }
  template <class T>
  T* mutable_data() {
    return static_cast<T*>(mutable_raw());
  }

  // Same bytes, another shape with the same element count (and, for block types, whole blocks
  // along the last axis).
  Tensor reshape(const Shape& shape) const;
  // Rows [begin, end) along axis 0, as a view.
  Tensor slice_rows(int64_t begin, int64_t end) const;
  // A writable deep copy.
  Tensor clone() const;
  // Converts to another dtype (through f32): block types are dequantized or quantized.
  Tensor to(DType dtype) const;
  std::vector<float> to_f32_vector() const;

 private:
  std::shared_ptr<const void> owner_;
  const std::byte* data_ = nullptr;
  Shape shape_;
  DType dtype_ = DType::F32;
  bool writable_ = false;
};

// Converts `n` values of a dense or block dtype to f32. For block types n is a multiple of the
// block. This is the plain reference; kernels/ has the vectorised converters.
void convert_to_f32(DType src_dtype, const void* src, float* dst, int64_t n);
// Converts `n` f32 values to any dtype (block types are quantized, see quant.h).
void convert_from_f32(const float* src, DType dst_dtype, void* dst, int64_t n);

}  // namespace kinema
