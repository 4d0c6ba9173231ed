// write_frames(): validation, the format dispatch, and the write-to-temporary-then-rename that
// keeps a failed or interrupted write from leaving a partial file under the requested name.
#include "media/video_file.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "core/error.h"
#include "media/writers.h"

namespace kinema {
namespace {

namespace fs = std::filesystem;

std::string lower_extension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

void validate(const std::string& path, const RgbFrames& frames, int fps) {
  if (frames.count <= 0) fail(path, ": no frames to write (count is ", frames.count, ")");
  if (frames.width <= 0 || frames.height <= 0)
    fail(path, ": invalid frame size ", frames.width, "x", frames.height);
  if (fps <= 0) fail(path, ": frame rate must be positive, got ", fps);
  const size_t want = static_cast<size_t>(frames.count) * frames.height * frames.width * 3;
  if (frames.rgb.size() != want)
    fail(path, ": RGB buffer holds ", frames.rgb.size(), " bytes, expected ", want, " for ",
         frames.count, " frames of ", frames.width, "x", frames.height, "x3");
}

// A fresh, unused name next to `path` (same directory, so the final rename stays on one file
// system and is atomic). mkstemp/mkdtemp create the entry, which also proves the directory is
// writable before any encoding work.
std::string make_temp(const std::string& path, bool directory) {
  std::string tmpl = path + ".tmp-XXXXXX";
  if (directory) {
    if (!mkdtemp(tmpl.data()))
      fail(path, ": cannot create a temporary folder next to it: ", std::strerror(errno));
  } else {
    const int fd = mkstemp(tmpl.data());
    if (fd < 0) fail(path, ": cannot create a temporary file next to it: ", std::strerror(errno));
    close(fd);
  }
  return tmpl;
}

void write_png_sequence(const std::string& folder, const RgbFrames& frames,
                        const MediaMetadata& metadata) {
  for (int i = 0; i < frames.count; ++i) {
    char name[32];
    std::snprintf(name, sizeof(name), "frame_%05d.png", i);
    media::write_png((fs::path(folder) / name).string(), frames, i, metadata);
  }
}

}  // namespace

OutputFormat output_format(const std::string& path) {
  const std::string ext = lower_extension(path);
  if (ext == ".mp4") return OutputFormat::Mp4;
  if (ext == ".webp") return OutputFormat::Webp;
  if (ext == ".gif") return OutputFormat::Gif;
  if (ext == ".png") return OutputFormat::Png;
  fail(path, ": unsupported output extension '", ext, "'; supported: .mp4, .webp, .gif, .png");
}

void write_frames(const std::string& path, const RgbFrames& frames, int fps,
                  const MediaMetadata& metadata) {
  const OutputFormat format = output_format(path);
  validate(path, frames, fps);
  const bool folder = format == OutputFormat::Png && frames.count > 1;

  std::error_code ec;
  if (folder && fs::exists(path, ec) && !(fs::is_directory(path, ec) && fs::is_empty(path, ec)))
    fail(path, ": output folder exists and is not empty (or is not a folder)");

  const std::string temp = make_temp(path, folder);
  try {
    switch (format) {
      case OutputFormat::Mp4: media::write_mp4(temp, frames, fps, metadata); break;
      case OutputFormat::Webp: media::write_webp(temp, frames, fps, metadata); break;
      case OutputFormat::Gif: media::write_gif(temp, frames, fps); break;
      case OutputFormat::Png:
        if (folder)
          write_png_sequence(temp, frames, metadata);
        else
          media::write_png(temp, frames, 0, metadata);
        break;
    }
    // mkstemp/mkdtemp create 0600/0700; give the result what open/mkdir would have.
    const mode_t mask = umask(0);
    umask(mask);
    fs::permissions(temp, static_cast<fs::perms>((folder ? 0777 : 0666) & ~mask), ec);
    if (folder && fs::is_directory(path, ec)) fs::remove(path, ec);  // the empty folder
    fs::rename(temp, path);
  } catch (const std::exception& e) {
    // Encoders report the problem only; the user-facing name is `path`, not the temporary.
    fs::remove_all(temp, ec);
    fail(path, ": ", e.what());
  }
}

}  // namespace kinema
