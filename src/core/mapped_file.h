// A whole file mapped read-only into memory. Tensors viewing weight data keep it alive through a
// shared_ptr, so weights are never copied at load.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace kinema {

class MappedFile {
 public:
  // Throws Error naming the path when the file cannot be opened or mapped.
  static std::shared_ptr<const MappedFile> open(const std::string& path);
  // A copy of `size` bytes in heap memory that reads like a mapped file named `path`: lets the
  // weight readers parse a buffer (fuzzing, tests) through the same code as a file on disk.
  static std::shared_ptr<const MappedFile> from_bytes(std::string path, const void* data,
                                                      size_t size);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::byte* data() const { return data_; }
  // Tells the kernel that [begin, begin + size) will not be read again soon, so its pages can
  // leave memory (they are read back from the file if touched). For weights converted to
  // another form at load. A range outside this file is ignored.
  void drop_pages(const void* begin, size_t size) const;
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile() = default;
  std::string path_;
  const std::byte* data_ = nullptr;
  size_t size_ = 0;
  std::unique_ptr<std::byte[]> owned_;  // set by from_bytes(); then data_ is not a mapping
};

}  // namespace kinema
