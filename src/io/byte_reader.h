// Bounds-checked little-endian reading of a byte range, for the binary weight formats. Every read
// past the end is an Error naming the file, the field and the offset, never an out-of-bounds read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "core/error.h"

namespace kinema::io {

class ByteReader {
 public:
  // `what` names the source in messages (usually the file path).
  ByteReader(const std::byte* data, size_t size, std::string_view what)
      : data_(data), size_(size), what_(what) {}

  size_t pos() const { return pos_; }
  size_t size() const { return size_; }
  size_t remaining() const { return size_ - pos_; }
  const std::byte* data() const { return data_; }

  void seek(size_t pos, std::string_view field) {
    if (pos > size_)
      fail(what_, ": ", field, " at byte ", pos, " lies past the end (", size_, " bytes)");
    pos_ = pos;
  }
  void skip(uint64_t n, std::string_view field) { take(n, field); }

  // A pointer to the next n bytes, advancing past them.
  const std::byte* take(uint64_t n, std::string_view field) {
    if (n > remaining())
      fail(what_, ": truncated: ", field, " needs ", n, " bytes at byte ", pos_, " but only ",
           remaining(), " remain");
    const std::byte* p = data_ + pos_;
    pos_ += size_t(n);
    return p;
  }

  template <class T>
  T read(std::string_view field) {
    T v;
    std::memcpy(&v, take(sizeof(T), field), sizeof(T));  // the formats are little-endian, as is x86
    return v;
  }
  uint8_t u8(std::string_view field) { return read<uint8_t>(field); }
  uint16_t u16(std::string_view field) { return read<uint16_t>(field); }
  uint32_t u32(std::string_view field) { return read<uint32_t>(field); }
  uint64_t u64(std::string_view field) { return read<uint64_t>(field); }

  std::string_view chars(uint64_t n, std::string_view field) {
    return {reinterpret_cast<const char*>(take(n, field)), size_t(n)};
  }

 private:
  const std::byte* data_;
  size_t size_;
  size_t pos_ = 0;
  std::string_view what_;
};

// a + b and a * b that report overflow instead of wrapping.
inline bool add_overflows(uint64_t a, uint64_t b, uint64_t* out) {
  return __builtin_add_overflow(a, b, out);
}
inline bool mul_overflows(uint64_t a, uint64_t b, uint64_t* out) {
  return __builtin_mul_overflow(a, b, out);
}

}  // namespace kinema::io
