// PNG through libpng: 8-bit RGB, metadata as tEXt chunks (keywords are limited to 79 Latin-1
// characters by the format, values are free text).
#include <png.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "core/error.h"
#include "media/writers.h"

namespace kinema::media {
namespace {

// libpng reports errors through a callback that must not return; throwing through its C frames
// is what its C++ users commonly do, but longjmp is the documented way, so the error text is kept
// here and the caller turns the longjmp into an Error.
struct PngErrorState {
  std::string message;
};

void on_png_error(png_structp png, png_const_charp message) {
  auto* state = static_cast<PngErrorState*>(png_get_error_ptr(png));
  state->message = message;
  png_longjmp(png, 1);
}

void on_png_warning(png_structp, png_const_charp) {}

struct FileCloser {
  void operator()(FILE* f) const { std::fclose(f); }
};

}  // namespace

void write_png(const std::string& path, const uint8_t* image, int width, int height,
               const MediaMetadata& metadata) {
  std::unique_ptr<FILE, FileCloser> file(std::fopen(path.c_str(), "wb"));
  if (!file) fail(errno_text("cannot open for writing"));

  PngErrorState state;
  png_structp png =
      png_create_write_struct(PNG_LIBPNG_VER_STRING, &state, on_png_error, on_png_warning);
  if (!png) fail("libpng: out of memory");
  png_infop info = png_create_info_struct(png);

  // Everything libpng touches after setjmp must not need destructors to run on longjmp: the
  // row pointers and text entries are built before it.
  const size_t stride = static_cast<size_t>(width) * 3;
  std::vector<png_bytep> rows(height);
  for (int y = 0; y < height; ++y)
    rows[y] = const_cast<png_bytep>(image + static_cast<size_t>(y) * stride);
  std::vector<std::string> keys;
  std::vector<png_text> texts;
  for (const auto& entry : metadata) keys.push_back(entry.first.substr(0, 79));
  size_t k = 0;
  for (const auto& [key, value] : metadata) {
    png_text text{};
    text.compression = PNG_TEXT_COMPRESSION_NONE;
    text.key = keys[k++].data();
    text.text = const_cast<char*>(value.c_str());
    text.text_length = value.size();
    texts.push_back(text);
  }

  errno = 0;
  volatile bool ok = false;
  if (info && setjmp(png_jmpbuf(png)) == 0) {
    png_init_io(png, file.get());
    png_set_IHDR(png, info, width, height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_sRGB_gAMA_and_cHRM(png, info, PNG_sRGB_INTENT_PERCEPTUAL);
    if (!texts.empty()) png_set_text(png, info, texts.data(), static_cast<int>(texts.size()));
    png_write_info(png, info);
    png_write_image(png, rows.data());
    png_write_end(png, info);
    ok = true;
  }
  png_destroy_write_struct(&png, info ? &info : nullptr);
  // libpng's own text for a failed fwrite is "Write Error": errno says why.
  const std::string cause = errno != 0 ? std::strerror(errno) : "";
  if (!ok)
    fail("libpng: ", state.message.empty() ? "out of memory" : state.message,
         cause.empty() ? "" : " (" + cause + ")");
  const bool flushed = std::fflush(file.get()) == 0 && !std::ferror(file.get());
  const std::string flush_error = flushed ? "" : errno_text("write error");
  FILE* f = file.release();
  if (std::fclose(f) != 0 && flushed) fail(errno_text("write error on close"));
  if (!flushed) fail(flush_error);
}

}  // namespace kinema::media
