// VideoWriter: validation, the format dispatch, the write-to-temporary-then-rename that keeps a
// failed or interrupted write from leaving a partial file under the requested name, and the
// fsyncs that make a finished file durable.
#include "media/video_file.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "core/error.h"
#include "media/writers.h"

namespace kinema {

namespace media {

std::string errno_text(const char* what) { return str_cat(what, ": ", std::strerror(errno)); }

void fsync_path(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(errno_text("cannot open to flush to disk"));
  if (::fsync(fd) != 0) {
    const std::string text = errno_text("flushing to disk failed");
    ::close(fd);
    fail(text);
  }
  if (::close(fd) != 0) fail(errno_text("closing after the flush failed"));
}

}  // namespace media

namespace {

namespace fs = std::filesystem;

std::string lower_extension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

std::string parent_of(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? "." : parent.string();
}

// A fresh, unused name next to `path` (same directory, so the final rename stays on one file
// system and is atomic). mkstemp/mkdtemp create the entry.
std::string make_temp(const std::string& path, bool directory) {
  std::string tmpl = path + ".tmp-XXXXXX";
  if (directory) {
    if (!mkdtemp(tmpl.data()))
      fail(path, ": cannot create a temporary folder next to it: ", std::strerror(errno));
  } else {
    const int fd = mkstemp(tmpl.data());
    if (fd < 0) fail(path, ": cannot create a temporary file next to it: ", std::strerror(errno));
    ::close(fd);
  }
  return tmpl;
}

}  // namespace

OutputFormat output_format(const std::string& path) {
  const std::string ext = lower_extension(path);
  if (ext == ".mp4") return OutputFormat::Mp4;
  if (ext == ".webp") return OutputFormat::Webp;
  if (ext == ".gif") return OutputFormat::Gif;
  if (ext == ".png") return OutputFormat::Png;
  fail(printable(path), ": unsupported output extension '", printable(ext),
       "'; supported: .mp4, .webp, .gif, .png");
}

OutputTarget check_output_path(const std::string& path, int frames) {
  const OutputFormat format = output_format(path);
  const std::string shown = printable(path);
  const std::string parent = parent_of(path);
  std::error_code ec;
  if (!fs::exists(parent, ec))
    fail(shown, ": cannot write here: folder '", printable(parent), "' does not exist");
  if (!fs::is_directory(parent, ec))
    fail(shown, ": cannot write here: '", printable(parent), "' is not a folder");
  const bool folder = format == OutputFormat::Png && frames > 1;
  const bool exists = fs::exists(fs::symlink_status(path, ec));
  if (folder && exists && !(fs::is_directory(path, ec) && fs::is_empty(path, ec)))
    fail(shown, ": a PNG sequence is written as a folder of frames, and this ",
         fs::is_directory(path, ec) ? "folder is not empty" : "path is a file");
  if (!folder && fs::is_directory(path, ec))
    fail(shown, ": is a folder; give a file name (for example ", shown, "/video",
         lower_extension(path).empty() ? ".mp4" : lower_extension(path), ")");
  // The only reliable test of writability (permissions, read-only mounts, quotas, root) is to
  // create a file.
  std::string probe = path + ".tmp-XXXXXX";
  const int fd = mkstemp(probe.data());
  if (fd < 0)
    fail(shown, ": cannot write in folder '", printable(parent), "': ", std::strerror(errno));
  ::close(fd);
  ::unlink(probe.c_str());
  return exists ? OutputTarget::Replaces : OutputTarget::New;
}

// The format's encoder; a PNG sequence writes (and flushes) one file per frame.
struct VideoWriter::Encoder {
  std::unique_ptr<media::FrameEncoder> stream;
};

VideoWriter::VideoWriter(const std::string& path, int width, int height, int fps, int frames,
                         const MediaMetadata& metadata)
    : path_(path),
      format_(output_format(path)),
      width_(width),
      height_(height),
      fps_(fps),
      frames_(frames),
      metadata_(metadata) {
  const std::string shown = printable(path);
  if (frames <= 0) fail(shown, ": no frames to write (count is ", frames, ")");
  if (width <= 0 || height <= 0 || width > 65535 || height > 65535)
    fail(shown, ": invalid frame size ", width, "x", height);
  if (fps <= 0) fail(shown, ": frame rate must be positive, got ", fps);
  folder_ = format_ == OutputFormat::Png && frames > 1;
  std::error_code ec;
  if (folder_ && fs::exists(path, ec) && !(fs::is_directory(path, ec) && fs::is_empty(path, ec)))
    fail(shown, ": output folder exists and is not empty (or is not a folder)");
  temp_ = make_temp(path, folder_);
  encoder_ = std::make_unique<Encoder>();
  const media::StreamFormat f{width, height, fps, frames};
  try {
    switch (format_) {
      case OutputFormat::Mp4: encoder_->stream = media::open_mp4(temp_, f, metadata); break;
      case OutputFormat::Webp: encoder_->stream = media::open_webp(temp_, f, metadata); break;
      case OutputFormat::Gif: encoder_->stream = media::open_gif(temp_, f); break;
      case OutputFormat::Png: break;
    }
  } catch (const std::exception& e) {
    fail_with_path(e);
  }
}

VideoWriter::~VideoWriter() {
  if (!done_) abort();
}

void VideoWriter::abort() noexcept {
  encoder_.reset();  // closes what the encoder holds open
  std::error_code ec;
  if (!temp_.empty()) fs::remove_all(temp_, ec);
  temp_.clear();
  done_ = true;
}

void VideoWriter::fail_with_path(const std::exception& e) {
  // Encoders report the problem only; the user-facing name is `path`, not the temporary.
  const std::string message = e.what();
  abort();
  fail(printable(path_), ": ", message);
}

void VideoWriter::add(const uint8_t* rgb, int count) {
  if (done_) fail(printable(path_), ": the writer is closed");
  if (count < 0 || added_ + count > frames_)
    fail(printable(path_), ": ", added_ + count, " frames added, but ", frames_, " were announced");
  const size_t frame_bytes = size_t(width_) * size_t(height_) * 3;
  try {
    for (int i = 0; i < count; ++i, ++added_) {
      const uint8_t* frame = rgb + size_t(i) * frame_bytes;
      if (format_ != OutputFormat::Png) {
        encoder_->stream->add(frame);
      } else {
        char name[32];
        std::snprintf(name, sizeof(name), "frame_%05d.png", added_);
        const std::string file = folder_ ? (fs::path(temp_) / name).string() : temp_;
        media::write_png(file, frame, width_, height_, metadata_);
        media::fsync_path(file);
      }
    }
  } catch (const std::exception& e) {
    fail_with_path(e);
  }
}

void VideoWriter::finish() {
  if (done_) fail(printable(path_), ": the writer is closed");
  if (added_ != frames_)
    fail(printable(path_), ": ", added_, " of the ", frames_, " announced frames were added");
  try {
    if (encoder_->stream) encoder_->stream->finish();
    encoder_.reset();
    // mkstemp/mkdtemp create 0600/0700; give the result what open/mkdir would have.
    const mode_t mask = umask(0);
    umask(mask);
    std::error_code ec;
    fs::permissions(temp_, static_cast<fs::perms>((folder_ ? 0777 : 0666) & ~mask), ec);
    // The data reaches the device before the name does, so a power cut cannot leave a named
    // but empty file; then the folder entry itself is flushed.
    media::fsync_path(temp_);
    if (folder_ && fs::is_directory(path_, ec)) fs::remove(path_, ec);  // the empty folder
    if (std::rename(temp_.c_str(), path_.c_str()) != 0)
      fail(media::errno_text("renaming the finished file into place failed"));
    temp_.clear();
    media::fsync_path(parent_of(path_));
  } catch (const std::exception& e) {
    fail_with_path(e);
  }
  done_ = true;
}

void write_frames(const std::string& path, const RgbFrames& frames, int fps,
                  const MediaMetadata& metadata) {
  output_format(path);
  if (frames.count <= 0)
    fail(printable(path), ": no frames to write (count is ", frames.count, ")");
  if (frames.width <= 0 || frames.height <= 0)
    fail(printable(path), ": invalid frame size ", frames.width, "x", frames.height);
  if (fps <= 0) fail(printable(path), ": frame rate must be positive, got ", fps);
  const size_t want = size_t(frames.count) * size_t(frames.height) * size_t(frames.width) * 3;
  if (frames.rgb.size() != want)
    fail(printable(path), ": RGB buffer holds ", frames.rgb.size(), " bytes, expected ", want,
         " for ", frames.count, " frames of ", frames.width, "x", frames.height, "x3");
  VideoWriter writer(path, frames.width, frames.height, fps, frames.count, metadata);
  writer.add(frames.rgb.data(), frames.count);
  writer.finish();
}

std::vector<uint8_t> video_to_rgb8(const Tensor& video) {
  if (video.rank() != 4 || video.dim(0) != 3 || video.dtype() != DType::F32)
    fail("video_to_rgb8: expected an f32 [3, F, H, W] video, got ", video.shape().str());
  const int64_t f = video.dim(1), plane = video.dim(2) * video.dim(3);
  std::vector<uint8_t> rgb(size_t(3 * f * plane));
  const float* x = video.data<float>();
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t i = 0; i < f * plane; ++i) {
      const float raw = x[c * f * plane + i];
      if (!std::isfinite(raw))
        fail("the decoded video holds a non-finite value (", raw, ") at frame ", i / plane,
             ", channel ", c);
      const float v = std::fmin(std::fmax(raw, -1.0f), 1.0f);
      rgb[size_t(i * 3 + c)] = uint8_t((v + 1.0f) / 2.0f * 255.0f);
    }
  return rgb;
}

}  // namespace kinema
