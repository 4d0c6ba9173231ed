// Per-format encoders behind VideoWriter. Each writes one complete file (or, for PNG sequences,
// one folder) at `path`, which is already the temporary name, frame by frame as the frames come;
// validation, the temporary name, fsync and the final rename live in video_file.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "media/video_file.h"

namespace kinema::media {

// What every encoder is opened with: the frame size, the rate and how many frames will come
// (GIF and WebP need the count for exact frame durations).
struct StreamFormat {
  int width = 0, height = 0, fps = 0, frames = 0;
};

class FrameEncoder {
 public:
  virtual ~FrameEncoder() = default;
  // One [height, width, 3] u8 frame.
  virtual void add(const uint8_t* rgb) = 0;
  // After the last frame: flushes and closes the file, checking every write and the close, so
  // that the file is complete on disk (up to the fsync the caller does) when it returns.
  virtual void finish() = 0;
};

std::unique_ptr<FrameEncoder> open_mp4(const std::string& path, const StreamFormat& format,
                                       const MediaMetadata& metadata);
std::unique_ptr<FrameEncoder> open_webp(const std::string& path, const StreamFormat& format,
                                        const MediaMetadata& metadata);
// GIF has no standard place for key/value metadata; none is written.
std::unique_ptr<FrameEncoder> open_gif(const std::string& path, const StreamFormat& format);
// One PNG image with the metadata as tEXt chunks, written and closed (not fsynced).
void write_png(const std::string& path, const uint8_t* rgb, int width, int height,
               const MediaMetadata& metadata);

// Flushes a written file (or folder entry) to the device: open, fsync, close; throws with errno's
// text when any of them fails.
void fsync_path(const std::string& path);

// "what: <strerror(errno)>" for an error of the C library.
std::string errno_text(const char* what);

}  // namespace kinema::media
