#include "core/tensor.h"

#include <cstdlib>
#include <cstring>

#include "core/quant.h"

namespace kinema {
namespace {

std::shared_ptr<void> aligned_buffer(size_t bytes) {
  size_t rounded = (bytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
  if (!p) fail("out of memory allocating ", bytes, " bytes");
  return std::shared_ptr<void>(p, [](void* q) { std::free(q); });
}

size_t bytes_for(const Shape& shape, DType dtype) {
  if (traits(dtype).is_quantized && shape.rank() > 0 && shape[-1] % traits(dtype).block_elems != 0)
    fail("a ", name(dtype), " tensor needs its last axis to be a multiple of ",
         traits(dtype).block_elems, ", got shape ", shape.str());
  auto bytes = storage_bytes(dtype, uint64_t(shape.numel()));
  if (!bytes) fail("shape ", shape.str(), " is too large or not whole blocks of ", name(dtype));
  return size_t(*bytes);
}

}  // namespace

Tensor Tensor::empty(const Shape& shape, DType dtype) {
  Tensor t;
  size_t bytes = bytes_for(shape, dtype);
  auto buffer = aligned_buffer(bytes);
  t.data_ = static_cast<const std::byte*>(buffer.get());
  t.owner_ = std::move(buffer);
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.writable_ = true;
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype) {
  Tensor t = empty(shape, dtype);
  std::memset(t.mutable_raw(), 0, t.nbytes());
  return t;
}

Tensor Tensor::view(std::shared_ptr<const void> owner, const void* data, const Shape& shape,
                    DType dtype) {
  Tensor t;
  bytes_for(shape, dtype);
  t.owner_ = std::move(owner);
  t.data_ = static_cast<const std::byte*>(data);
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.writable_ = false;
  return t;
}

Tensor Tensor::from_f32(const Shape& shape, const float* values, DType dtype) {
  Tensor t = empty(shape, dtype);
  convert_from_f32(values, dtype, t.mutable_raw(), shape.numel());
  return t;
}

size_t Tensor::nbytes() const { return bytes_for(shape_, dtype_); }

void* Tensor::mutable_raw() {
  if (!writable_) fail("tensor of shape ", shape_.str(), " is a read-only view");
  return const_cast<std::byte*>(data_);
}

Tensor Tensor::reshape(const Shape& shape) const {
  if (shape.numel() != shape_.numel())
    fail("cannot reshape ", shape_.str(), " to ", shape.str(), ": element counts differ");
  Tensor t = *this;
  bytes_for(shape, dtype_);
  t.shape_ = shape;
  return t;
}

Tensor Tensor::slice_rows(int64_t begin, int64_t end) const {
  if (rank() == 0 || begin < 0 || end < begin || end > shape_[0])
    fail("row slice [", begin, ", ", end, ") out of range for shape ", shape_.str());
  Tensor t = *this;
  t.shape_[0] = 1;
  size_t row_bytes = shape_[0] == 0 ? 0 : bytes_for(t.shape_, dtype_);
  t.shape_[0] = end - begin;
  t.data_ = data_ + size_t(begin) * row_bytes;
  return t;
}

Tensor Tensor::clone() const {
  Tensor t = empty(shape_, dtype_);
  if (nbytes()) std::memcpy(t.mutable_raw(), data_, nbytes());
  return t;
}

Tensor Tensor::to(DType dtype) const {
  if (dtype == dtype_) return clone();
  std::vector<float> values = to_f32_vector();
  return from_f32(shape_, values.data(), dtype);
}

std::vector<float> Tensor::to_f32_vector() const {
  std::vector<float> out(static_cast<size_t>(numel()));
  convert_to_f32(dtype_, data_, out.data(), numel());
  return out;
}

void convert_to_f32(DType src_dtype, const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const uint8_t*>(src);
  switch (src_dtype) {
    case DType::F32:
      if (n > 0) std::memcpy(dst, src, size_t(n) * 4);
      return;
    case DType::F64:
      for (int64_t i = 0; i < n; ++i) {
        double v;
        std::memcpy(&v, b + 8 * i, 8);
        dst[i] = float(v);
      }
      return;
    case DType::F16:
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, b + 2 * i, 2);
        dst[i] = src_dtype == DType::F16 ? f16_to_f32(h) : bf16_to_f32(h);
      }
      return;
    case DType::F8_E4M3:
      for (int64_t i = 0; i < n; ++i) dst[i] = f8e4m3_to_f32(b[i]);
      return;
    case DType::F8_E5M2:
      for (int64_t i = 0; i < n; ++i) dst[i] = f8e5m2_to_f32(b[i]);
      return;
    case DType::I64:
      for (int64_t i = 0; i < n; ++i) {
        int64_t v;
        std::memcpy(&v, b + 8 * i, 8);
        dst[i] = float(v);
      }
      return;
    case DType::I32:
      for (int64_t i = 0; i < n; ++i) {
        int32_t v;
        std::memcpy(&v, b + 4 * i, 4);
        dst[i] = float(v);
      }
      return;
    case DType::I16:
      for (int64_t i = 0; i < n; ++i) {
        int16_t v;
        std::memcpy(&v, b + 2 * i, 2);
        dst[i] = float(v);
      }
      return;
    case DType::I8:
      for (int64_t i = 0; i < n; ++i) dst[i] = float(int8_t(b[i]));
      return;
    case DType::U8:
    case DType::Bool:
      for (int64_t i = 0; i < n; ++i) dst[i] = float(b[i]);
      return;
    case DType::Q8_0:
    case DType::Q4_0:
    case DType::Q4_K:
    case DType::Q5_K:
    case DType::Q6_K: dequantize_row(src_dtype, src, dst, n); return;
  }
  fail("unknown dtype");
}

void convert_from_f32(const float* src, DType dst_dtype, void* dst, int64_t n) {
  auto* b = static_cast<uint8_t*>(dst);
  switch (dst_dtype) {
    case DType::F32:
      if (n > 0) std::memcpy(dst, src, size_t(n) * 4);
      return;
    case DType::F64:
      for (int64_t i = 0; i < n; ++i) {
        double v = src[i];
        std::memcpy(b + 8 * i, &v, 8);
      }
      return;
    case DType::F16:
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h = dst_dtype == DType::F16 ? f32_to_f16(src[i]) : f32_to_bf16(src[i]);
        std::memcpy(b + 2 * i, &h, 2);
      }
      return;
    case DType::F8_E4M3:
      for (int64_t i = 0; i < n; ++i) b[i] = f32_to_f8e4m3(src[i]);
      return;
    case DType::F8_E5M2:
      for (int64_t i = 0; i < n; ++i) b[i] = f32_to_f8e5m2(src[i]);
      return;
    case DType::I64:
      for (int64_t i = 0; i < n; ++i) {
        auto v = int64_t(src[i]);
        std::memcpy(b + 8 * i, &v, 8);
      }
      return;
    case DType::I32:
      for (int64_t i = 0; i < n; ++i) {
        auto v = int32_t(src[i]);
        std::memcpy(b + 4 * i, &v, 4);
      }
      return;
    case DType::I16:
      for (int64_t i = 0; i < n; ++i) {
        auto v = int16_t(src[i]);
        std::memcpy(b + 2 * i, &v, 2);
      }
      return;
    case DType::I8:
      for (int64_t i = 0; i < n; ++i) b[i] = uint8_t(int8_t(src[i]));
      return;
    case DType::U8:
      for (int64_t i = 0; i < n; ++i) b[i] = uint8_t(src[i]);
      return;
    case DType::Bool:
      for (int64_t i = 0; i < n; ++i) b[i] = src[i] != 0.0f;
      return;
    case DType::Q8_0:
    case DType::Q4_0:
    case DType::Q4_K:
    case DType::Q5_K:
    case DType::Q6_K: quantize_row(dst_dtype, src, dst, n); return;
  }
  fail("unknown dtype");
}

}  // namespace kinema
