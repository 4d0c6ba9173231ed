// A small GIF89a encoder written from the GIF89a specification: a 256-colour median-cut
// palette per frame (a local colour table; generated video drifts in colour, so one global
// palette wastes entries), no dithering (it flickers between frames and defeats LZW),
// variable-width LZW, the NETSCAPE2.0 extension for endless looping, and per-frame delays in
// centiseconds that add up to the exact duration.
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "core/error.h"
#include "media/gif_palette.h"
#include "media/writers.h"

namespace kinema::media {
namespace {

constexpr int kMinCodeSize = 8;  // 256-entry colour table
constexpr int kMaxCodeBits = 12;

class ByteWriter {
 public:
  void byte(int b) { out_.push_back(static_cast<uint8_t>(b)); }
  void u16(int v) {
    byte(v & 0xff);
    byte((v >> 8) & 0xff);
  }
  void bytes(const char* text) { out_.insert(out_.end(), text, text + std::strlen(text)); }
  std::vector<uint8_t>& data() { return out_; }

 private:
  std::vector<uint8_t> out_;
};

// Packs variable-width codes least-significant bit first into the 255-byte data sub-blocks
// that GIF image data is stored in.
class CodeWriter {
 public:
  explicit CodeWriter(ByteWriter& out) : out_(out) {}
  void put(int code, int width) {
    bits_ |= static_cast<uint32_t>(code) << count_;
    count_ += width;
    while (count_ >= 8) {
      push(bits_ & 0xff);
      bits_ >>= 8;
      count_ -= 8;
    }
  }
  void finish() {
    if (count_ > 0) push(bits_ & 0xff);
    flush_block();
    out_.byte(0);  // block terminator
  }

 private:
  void push(uint32_t b) {
    block_[block_size_++] = static_cast<uint8_t>(b);
    if (block_size_ == 255) flush_block();
  }
  void flush_block() {
    if (block_size_ == 0) return;
    out_.byte(block_size_);
    for (int i = 0; i < block_size_; ++i) out_.byte(block_[i]);
    block_size_ = 0;
  }
  ByteWriter& out_;
  uint32_t bits_ = 0;
  int count_ = 0;
  std::array<uint8_t, 255> block_{};
  int block_size_ = 0;
};

// LZW over 8-bit indices. The dictionary maps (prefix code, next index) to a code through a
// flat 4096x256 table; only the entries used since the last clear are reset.
void lzw_encode(const std::vector<uint8_t>& indices, ByteWriter& out) {
  const int clear_code = 1 << kMinCodeSize, end_code = clear_code + 1;
  std::vector<int16_t> table(static_cast<size_t>(1 << kMaxCodeBits) * 256, -1);
  std::vector<int> used;
  CodeWriter codes(out);
  int width = kMinCodeSize + 1, next_code = end_code + 1;

  // After each code the decoder's table grows by one entry (lagging the encoder by one), and
  // it widens its codes once that table reaches 1 << width; mirror that exactly.
  auto emit = [&](int code) {
    codes.put(code, width);
    if (next_code >= (1 << width) && width < kMaxCodeBits) ++width;
  };

  out.byte(kMinCodeSize);
  codes.put(clear_code, width);
  int prefix = -1;
  for (uint8_t index : indices) {
    if (prefix < 0) {
      prefix = index;
      continue;
    }
    const size_t key = static_cast<size_t>(prefix) * 256 + index;
    if (table[key] >= 0) {
      prefix = table[key];
      continue;
    }
    emit(prefix);
    if (next_code >= (1 << kMaxCodeBits) - 1) {
      // Table full: start over rather than keep coding with a stale dictionary.
      codes.put(clear_code, width);
      for (int k : used) table[k] = -1;
      used.clear();
      width = kMinCodeSize + 1;
      next_code = end_code + 1;
    } else {
      table[key] = static_cast<int16_t>(next_code++);
      used.push_back(static_cast<int>(key));
    }
    prefix = index;
  }
  emit(prefix);
  codes.put(end_code, width);
  codes.finish();
}

void write_palette(const GifPalette& palette, ByteWriter& out) {
  for (uint8_t v : palette.rgb) out.byte(v);
}

// Streams to the file: the header at open, each frame (palette, LZW data) as it comes.
class GifEncoder : public FrameEncoder {
 public:
  GifEncoder(const std::string& path, const StreamFormat& f) : f_(f) {
    if (f.width > 65535 || f.height > 65535)
      fail("GIF frames are limited to 65535x65535, got ", f.width, "x", f.height);
    file_ = std::fopen(path.c_str(), "wb");
    if (!file_) fail(errno_text("cannot open for writing"));
    ByteWriter out;
    out.bytes("GIF89a");
    out.u16(f.width);
    out.u16(f.height);
    out.byte(0x70);                                // no global colour table, 8 bits per channel
    out.byte(0);                                   // background colour index
    out.byte(0);                                   // no aspect ratio
    out.byte(0x21), out.byte(0xff), out.byte(11);  // application extension: loop forever
    out.bytes("NETSCAPE2.0");
    out.byte(3), out.byte(1), out.u16(0), out.byte(0);
    write(out);
  }
  ~GifEncoder() override {
    if (file_) std::fclose(file_);
  }

  void add(const uint8_t* rgb) override {
    ByteWriter out;
    out.byte(0x21), out.byte(0xf9), out.byte(4);  // graphic control extension
    out.byte(0x04);                               // disposal: leave in place, no transparency
    out.u16(centiseconds(added_ + 1) - centiseconds(added_));
    out.byte(0), out.byte(0);
    const size_t pixels = static_cast<size_t>(f_.width) * f_.height;
    const GifPalette palette = median_cut_palette(rgb, pixels);
    out.byte(0x2c);  // image descriptor: the whole canvas, not interlaced
    out.u16(0), out.u16(0), out.u16(f_.width), out.u16(f_.height);
    out.byte(0x87);  // local colour table of 256 entries
    write_palette(palette, out);
    map_to_palette(rgb, pixels, palette, indices_);
    lzw_encode(indices_, out);
    write(out);
    ++added_;
  }

  void finish() override {
    ByteWriter out;
    out.byte(0x3b);  // trailer
    write(out);
    FILE* file = file_;
    file_ = nullptr;
    if (std::fclose(file) != 0) fail(errno_text("write error on close"));
  }

 private:
  int centiseconds(int i) const { return static_cast<int>((100LL * i + f_.fps / 2) / f_.fps); }
  void write(ByteWriter& out) {
    const auto& data = out.data();
    if (std::fwrite(data.data(), 1, data.size(), file_) != data.size())
      fail(errno_text("write error"));
  }

  StreamFormat f_;
  FILE* file_ = nullptr;
  std::vector<uint8_t> indices_;
  int added_ = 0;
};

}  // namespace

std::unique_ptr<FrameEncoder> open_gif(const std::string& path, const StreamFormat& format) {
  return std::make_unique<GifEncoder>(path, format);
}

}  // namespace kinema::media
