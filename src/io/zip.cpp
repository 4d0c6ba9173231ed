// ZIP structures read here (APPNOTE 6.3): end of central directory (EOCD, 22 bytes + comment),
// ZIP64 EOCD locator (20 bytes, just before the EOCD) and ZIP64 EOCD record, central directory
// headers (46 bytes + name + extra + comment, ZIP64 sizes in extra field 0x0001), and local
// headers (30 bytes + name + extra) in front of each entry's bytes.
#include "io/zip.h"

#include <algorithm>

#include "io/byte_reader.h"

namespace kinema::io {
namespace {

constexpr uint32_t kEocdSig = 0x06054b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;
constexpr uint32_t kZip64EocdSig = 0x06064b50;
constexpr uint32_t kCentralSig = 0x02014b50;
constexpr uint32_t kLocalSig = 0x04034b50;
constexpr uint64_t kEocdBytes = 22;
constexpr uint64_t kZip64LocatorBytes = 20;
constexpr uint64_t kCentralBytes = 46;

uint32_t load_u32(const std::byte* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

std::string_view method_name(uint16_t method) {
  switch (method) {
    case 8: return "deflate";
    case 9: return "deflate64";
    case 12: return "bzip2";
    case 14: return "lzma";
    case 93: return "zstd";
    case 95: return "xz";
    default: return "unknown";
  }
}

}  // namespace

ZipArchive::ZipArchive(std::shared_ptr<const MappedFile> file) : file_(std::move(file)) {
  const std::string& path = file_->path();
  const std::byte* d = file_->data();
  uint64_t size = file_->size();
  if (size < kEocdBytes) fail(path, ": not a ZIP archive (", size, " bytes, truncated?)");

  // The EOCD is the last record; it may be followed by a comment of up to 65535 bytes.
  uint64_t eocd = UINT64_MAX;
  uint64_t lowest = size - kEocdBytes > 65535 ? size - kEocdBytes - 65535 : 0;
  for (uint64_t pos = size - kEocdBytes + 1; pos-- > lowest;) {
    if (load_u32(d + pos) != kEocdSig) continue;
    uint16_t comment_len;
    std::memcpy(&comment_len, d + pos + 20, 2);
    if (pos + kEocdBytes + comment_len == size) {
      eocd = pos;
      break;
    }
  }
  if (eocd == UINT64_MAX)
    fail(path, ": no ZIP end-of-central-directory record (the file is truncated or not a ZIP)");

  ByteReader r(d, size, path);
  r.seek(eocd + 4, "the end-of-central-directory record");
  uint16_t disk = r.u16("the EOCD"), cd_disk = r.u16("the EOCD");
  uint64_t count_here = r.u16("the EOCD"), count = r.u16("the EOCD");
  uint64_t cd_size = r.u32("the EOCD"), cd_offset = r.u32("the EOCD");

  // ZIP64: the locator sits right before the EOCD and points at the 64-bit record.
  if (eocd >= kZip64LocatorBytes && load_u32(d + eocd - kZip64LocatorBytes) == kZip64LocatorSig) {
    r.seek(eocd - kZip64LocatorBytes + 8, "the ZIP64 locator");
    uint64_t record = r.u64("the ZIP64 locator");
    if (record > eocd - kZip64LocatorBytes)
      fail(path, ": the ZIP64 end-of-central-directory record offset ", record, " is out of range");
    r.seek(record, "the ZIP64 end-of-central-directory record");
    if (r.u32("the ZIP64 EOCD record") != kZip64EocdSig)
      fail(path, ": no ZIP64 end-of-central-directory record at byte ", record);
    r.skip(8 + 2 + 2, "the ZIP64 EOCD record");
    disk = uint16_t(std::min<uint32_t>(r.u32("the ZIP64 EOCD record"), 0xffff));
    cd_disk = uint16_t(std::min<uint32_t>(r.u32("the ZIP64 EOCD record"), 0xffff));
    count_here = r.u64("the ZIP64 EOCD record");
    count = r.u64("the ZIP64 EOCD record");
    cd_size = r.u64("the ZIP64 EOCD record");
    cd_offset = r.u64("the ZIP64 EOCD record");
  }
  if (disk != 0 || cd_disk != 0 || count_here != count)
    fail(path, ": multi-part ZIP archives are not supported");
  uint64_t cd_end = 0;
  if (add_overflows(cd_offset, cd_size, &cd_end) || cd_end > eocd)
    fail(path, ": the ZIP central directory (", cd_size, " bytes at byte ", cd_offset,
         ") lies outside the file (truncated?)");
  if (count > cd_size / kCentralBytes)
    fail(path, ": the ZIP central directory claims ", count, " entries in ", cd_size, " bytes");
  read_central_directory(cd_offset, cd_size, count);
}

void ZipArchive::read_central_directory(uint64_t offset, uint64_t size, uint64_t count) {
  const std::string& path = file_->path();
  ByteReader r(file_->data() + offset, size_t(size), path);
  entries_.reserve(size_t(count));
  for (uint64_t i = 0; i < count; ++i) {
    const char* what = "a ZIP central directory entry";
    if (r.u32(what) != kCentralSig)
      fail(path, ": ZIP central directory entry #", i, " has a bad signature");
    ZipEntry e;
    r.skip(4, what);  // versions
    e.flags = r.u16(what);
    e.method = r.u16(what);
    r.skip(8, what);  // time, date, crc
    e.compressed_size = r.u32(what);
    e.size = r.u32(what);
    uint16_t name_len = r.u16(what), extra_len = r.u16(what), comment_len = r.u16(what);
    uint16_t disk = r.u16(what);
    r.skip(6, what);  // attributes
    e.local_header_offset = r.u32(what);
    e.name = std::string(r.chars(name_len, what));
    ByteReader extra(r.take(extra_len, what), extra_len, path);
    r.skip(comment_len, what);
    // ZIP64 extra field: the 64-bit values of exactly those fields saturated to 0xffffffff.
    while (extra.remaining() >= 4) {
      uint16_t id = extra.u16(what), len = extra.u16(what);
      ByteReader field(extra.take(len, what), len, path);
      if (id != 0x0001) continue;
      std::string what64 = str_cat("the ZIP64 extra field of '", e.name, "'");
      if (e.size == 0xffffffffu) e.size = field.u64(what64);
      if (e.compressed_size == 0xffffffffu) e.compressed_size = field.u64(what64);
      if (e.local_header_offset == 0xffffffffu) e.local_header_offset = field.u64(what64);
      if (disk == 0xffff) disk = uint16_t(std::min<uint32_t>(field.u32(what64), 0xffff));
    }
    if (disk != 0)
      fail(path, ": ZIP entry '", e.name, "' lies on another disk of a multi-part archive");
    entries_.push_back(std::move(e));
  }
  for (size_t i = 0; i < entries_.size(); ++i)
    if (!by_name_.emplace(entries_[i].name, i).second)
      fail(path, ": ZIP entry '", entries_[i].name, "' appears twice");
}

const ZipEntry* ZipArchive::find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &entries_[it->second];
}

std::span<const std::byte> ZipArchive::data(const ZipEntry& e) const {
  const std::string& path = file_->path();
  if (e.flags & 1) fail(path, ": ZIP entry '", e.name, "' is encrypted");
  if (e.method != 0)
    fail(path, ": ZIP entry '", e.name, "' is compressed (method ", e.method, ", ",
         method_name(e.method),
         "); PyTorch checkpoints store entries uncompressed: re-save the file with torch.save "
         "rather than re-zipping it");
  if (e.compressed_size != e.size)
    fail(path, ": ZIP entry '", e.name, "' is stored but its sizes differ (", e.compressed_size,
         " vs ", e.size, ")");
  ByteReader r(file_->data(), file_->size(), path);
  std::string what = str_cat("the local header of ZIP entry '", e.name, "'");
  r.seek(e.local_header_offset, what);
  if (r.u32(what) != kLocalSig)
    fail(path, ": ZIP entry '", e.name, "': no local header at byte ", e.local_header_offset);
  r.skip(22, what);
  uint16_t name_len = r.u16(what), extra_len = r.u16(what);
  r.skip(uint64_t(name_len) + extra_len, what);
  if (e.size > r.remaining())
    fail(path, ": ZIP entry '", e.name, "': ", e.size, " bytes at byte ", r.pos(),
         " reach past the end of the file (", file_->size(), " bytes; truncated?)");
  return {r.data() + r.pos(), size_t(e.size)};
}

}  // namespace kinema::io
