#include "kernels/cpu/convert.h"

#include <algorithm>
#include <cstring>

#include "core/cpu.h"
#include "core/error.h"
#include "kernels/cpu/convert_isa.h"

namespace kinema::cpu {
namespace {

// The portable versions are the core reference itself.
void generic_row_to_f32(DType src_dtype, const void* src, float* dst, int64_t n) {
  convert_to_f32(src_dtype, src, dst, n);
}

void generic_row_to_bf16(DType src_dtype, const void* src, uint16_t* dst, int64_t n) {
  if (src_dtype == DType::BF16) {
    std::memcpy(dst, src, size_t(n) * 2);
    return;
  }
  // Through a stack buffer of whole blocks (256 values is a whole number of every block type).
  const DTypeTraits& t = traits(src_dtype);
  const auto* s = static_cast<const uint8_t*>(src);
  float buf[256];
  for (int64_t i = 0; i < n; i += 256) {
    int64_t len = std::min<int64_t>(256, n - i);
    convert_to_f32(src_dtype, s + i / t.block_elems * t.block_bytes, buf, len);
    for (int64_t j = 0; j < len; ++j) dst[i + j] = f32_to_bf16(buf[j]);
  }
}

using ToF32 = void (*)(DType, const void*, float*, int64_t);
using ToBf16 = void (*)(DType, const void*, uint16_t*, int64_t);

ToF32 pick_to_f32() {
  switch (active_isa()) {
    case Isa::Avx512:
    case Isa::Avx512Bf16: return avx512::convert_row_to_f32;
    case Isa::Avx2: return avx2::convert_row_to_f32;
    case Isa::Generic: break;
  }
  return generic_row_to_f32;
}

ToBf16 pick_to_bf16() {
  switch (active_isa()) {
    case Isa::Avx512:
    case Isa::Avx512Bf16: return avx512::convert_row_to_bf16;
    case Isa::Avx2: return avx2::convert_row_to_bf16;
    case Isa::Generic: break;
  }
  return generic_row_to_bf16;
}

void check_row(DType src_dtype, int64_t n, const char* to) {
  if (!is_convertible(src_dtype))
    fail("convert_row_to_", to, ": cannot convert from ", name(src_dtype),
         " (expected f32, bf16, f16, fp8 or a block type)");
  if (n % traits(src_dtype).block_elems != 0)
    fail("convert_row_to_", to, ": ", n, " values of ", name(src_dtype), " is not whole blocks of ",
         traits(src_dtype).block_elems);
}

}  // namespace

bool is_convertible(DType dtype) {
  switch (dtype) {
    case DType::F32:
    case DType::BF16:
    case DType::F16:
    case DType::F8_E4M3:
    case DType::F8_E5M2:
    case DType::Q8_0:
    case DType::Q4_0:
    case DType::Q4_K:
    case DType::Q5_K:
    case DType::Q6_K: return true;
    default: return false;
  }
}

void convert_row_to_f32(DType src_dtype, const void* src, float* dst, int64_t n) {
  static const ToF32 impl = pick_to_f32();
  check_row(src_dtype, n, "f32");
  impl(src_dtype, src, dst, n);
}

void convert_row_to_bf16(DType src_dtype, const void* src, uint16_t* dst, int64_t n) {
  static const ToBf16 impl = pick_to_bf16();
  check_row(src_dtype, n, "bf16");
  impl(src_dtype, src, dst, n);
}

void convert_rows(const ComputeContext& ctx, DType src_dtype, const void* src, DType dst_dtype,
                  void* dst, int64_t rows, int64_t cols) {
  if (dst_dtype != DType::F32 && dst_dtype != DType::BF16)
    fail("convert: destination must be f32 or bf16, got ", name(dst_dtype));
  if (rows <= 0 || cols <= 0) return;
  bool to_f32 = dst_dtype == DType::F32;
  check_row(src_dtype, cols, to_f32 ? "f32" : "bf16");
  size_t src_row = *storage_bytes(src_dtype, uint64_t(cols));
  size_t dst_row = size_t(cols) * (to_f32 ? 4 : 2);
  const auto* s = static_cast<const uint8_t*>(src);
  auto* d = static_cast<uint8_t*>(dst);
  // About 64 KiB of output per task keeps the split worthwhile.
  int64_t grain = std::max<int64_t>(1, (int64_t(1) << 16) / int64_t(dst_row));
  parallel_for(ctx, rows, grain, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      if (to_f32)
        convert_row_to_f32(src_dtype, s + size_t(r) * src_row,
                           reinterpret_cast<float*>(d + size_t(r) * dst_row), cols);
      else
        convert_row_to_bf16(src_dtype, s + size_t(r) * src_row,
                            reinterpret_cast<uint16_t*>(d + size_t(r) * dst_row), cols);
    }
  });
}

// src: [..., C] -> dst: [..., C] f32 or bf16
void convert(const ComputeContext& ctx, const Tensor& src, Tensor& dst) {
  if (src.shape() != dst.shape())
    fail("convert: destination shape ", dst.shape().str(), " differs from source shape ",
         src.shape().str());
  if (src.numel() == 0) return;
  int64_t cols = src.rank() == 0 ? 1 : src.dim(-1);
  convert_rows(ctx, src.dtype(), src.raw(), dst.dtype(), dst.mutable_raw(), src.numel() / cols,
               cols);
}

}  // namespace kinema::cpu
