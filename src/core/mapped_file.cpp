#include "core/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "core/error.h"

namespace kinema {

std::shared_ptr<const MappedFile> MappedFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, ": cannot open: ", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    fail(path, ": cannot stat: ", std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(path, ": not a regular file");
  }
  std::shared_ptr<MappedFile> file(new MappedFile());
  file->path_ = path;
  file->size_ = size_t(st.st_size);
  if (file->size_ > 0) {
    void* p = ::mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      fail(path, ": cannot map ", file->size_, " bytes: ", std::strerror(err));
    }
    file->data_ = static_cast<const std::byte*>(p);
  }
  ::close(fd);
  return file;
}

std::shared_ptr<const MappedFile> MappedFile::from_bytes(std::string path, const void* data,
                                                         size_t size) {
  std::shared_ptr<MappedFile> file(new MappedFile());
  file->path_ = std::move(path);
  file->size_ = size;
  if (size > 0) {
    // Exactly `size` bytes, so that AddressSanitizer flags any read past the end.
    file->owned_.reset(new std::byte[size]);
    std::memcpy(file->owned_.get(), data, size);
    file->data_ = file->owned_.get();
  }
  return file;
}

void MappedFile::drop_pages(const void* begin, size_t size) const {
  const auto* b = static_cast<const std::byte*>(begin);
  if (!data_ || b < data_ || b + size > data_ + size_) return;
  const size_t page = size_t(::sysconf(_SC_PAGESIZE));
  // Only whole pages inside the range: neighbouring tensors may share the edge pages.
  uintptr_t first = (reinterpret_cast<uintptr_t>(b) + page - 1) / page * page;
  uintptr_t last = (reinterpret_cast<uintptr_t>(b) + size) / page * page;
  if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

MappedFile::~MappedFile() {
  if (data_ && !owned_) ::munmap(const_cast<std::byte*>(data_), size_);
}

}  // namespace kinema
