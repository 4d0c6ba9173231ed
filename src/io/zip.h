// A read-only view of a ZIP archive's stored (uncompressed) entries, as torch.save writes them:
// the central directory is read (ZIP64 aware) and entry bytes are returned as zero-copy spans of
// the mapped file.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/mapped_file.h"

namespace kinema::io {

struct ZipEntry {
  std::string name;
  uint16_t flags = 0;
  uint16_t method = 0;  // 0 stored, 8 deflate, ...
  uint64_t compressed_size = 0;
  uint64_t size = 0;
  uint64_t local_header_offset = 0;
};

class ZipArchive {
 public:
  // Reads the end-of-central-directory record (and its ZIP64 form) and every entry; fails naming
  // the file on anything inconsistent.
  explicit ZipArchive(std::shared_ptr<const MappedFile> file);
  ZipArchive(const ZipArchive&) = delete;  // by_name_ views the entries' names
  ZipArchive& operator=(const ZipArchive&) = delete;

  const std::vector<ZipEntry>& entries() const { return entries_; }
  const ZipEntry* find(std::string_view name) const;
  // The entry's bytes inside the mapping; fails for compressed or encrypted entries.
  std::span<const std::byte> data(const ZipEntry& entry) const;
  const MappedFile& file() const { return *file_; }

 private:
  void read_central_directory(uint64_t offset, uint64_t size, uint64_t count);

  std::shared_ptr<const MappedFile> file_;
  std::vector<ZipEntry> entries_;
  std::unordered_map<std::string_view, size_t> by_name_;
};

}  // namespace kinema::io
