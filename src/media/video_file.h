// Writing generated frames to files: MP4 (H.264 through libavformat/libavcodec and libx264,
// yuv420p, BT.709 tags, faststart, metadata), animated WebP (libwebp), GIF, and PNG (one image,
// or a folder of numbered frames).
//
// Frames are written as they come (VideoWriter::add), under a temporary name next to the output.
// finish() flushes the file to the device (fsync), renames it to its name and flushes the folder,
// so that a finished video survives a power cut and an unfinished one never appears under its
// name. The same frames give the same bytes on every machine and thread count.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace kinema {

enum class OutputFormat { Mp4, Webp, Gif, Png };

// The format named by `path`'s extension (.mp4, .webp, .gif, .png; case-insensitive); throws an
// Error naming the path and the supported extensions otherwise.
OutputFormat output_format(const std::string& path);

// Free-form tags (prompt, negative_prompt, seed, steps, sampler, model, kinema_version, ...)
// stored where the format has a place for them: MP4 format-level tags (kept verbatim through
// movflags +use_metadata_tags; ffprobe shows them), WebP an XMP chunk with one kinema:<key>
// property per tag, PNG tEXt chunks (keys cut to 79 characters). GIF has no such place.
using MediaMetadata = std::map<std::string, std::string>;

// Whether writing `path` will create a file or replace one.
enum class OutputTarget { New, Replaces };

// Checks, before any work, that a video of `frames` frames can be written to `path`: a known
// extension, an existing writable folder (probed by creating and removing a file in it), and not
// a folder in the way (for a PNG sequence, .png with frames > 1, the path names a folder, which
// must not exist or be empty). Throws an Error naming the path.
OutputTarget check_output_path(const std::string& path, int frames);

class VideoWriter {
 public:
  // Opens the format's encoder on a fresh temporary name next to `path` (same folder, so the
  // final rename is atomic). fps > 0; MP4 needs even sizes (4:2:0 chroma).
  VideoWriter(const std::string& path, int width, int height, int fps, int frames,
              const MediaMetadata& metadata);
  // Removes the temporary file or folder unless finish() completed.
  ~VideoWriter();
  VideoWriter(const VideoWriter&) = delete;
  VideoWriter& operator=(const VideoWriter&) = delete;

  // `count` frames, [count, height, width, 3] u8; at most the announced total over all calls.
  void add(const uint8_t* rgb, int count);
  // After all frames: completes the file, fsyncs it, renames it to `path` (replacing a file, or
  // an empty folder for a PNG sequence) and fsyncs the folder. Errors name `path`.
  void finish();
  // Removes what was written; the writer can do nothing more.
  void abort() noexcept;

  const std::string& path() const { return path_; }
  // The temporary name (a signal handler may need to remove it).
  const std::string& temporary_path() const { return temp_; }
  int frames_added() const { return added_; }

 private:
  [[noreturn]] void fail_with_path(const std::exception& e);

  std::string path_, temp_;
  OutputFormat format_;
  bool folder_ = false;  // a PNG sequence
  int width_, height_, fps_, frames_;
  MediaMetadata metadata_;
  struct Encoder;
  std::unique_ptr<Encoder> encoder_;
  int added_ = 0;
  bool done_ = false;
};

// Frames as 8-bit RGB, [count, height, width, 3], row-major.
struct RgbFrames {
  int count = 0, width = 0, height = 0;
  std::vector<uint8_t> rgb;
};

// Writes a whole clip through a VideoWriter, checking the buffer's size first.
void write_frames(const std::string& path, const RgbFrames& frames, int fps,
                  const MediaMetadata& metadata);

// A decoded video [3, F, H, W] f32 in [-1, 1] -> [F, H, W, 3] uint8 as the Wan reference writes
// videos: clamp, (x+1)/2, times 255, truncated. A non-finite value is an error (a NaN would
// otherwise become a silent black pixel).
std::vector<uint8_t> video_to_rgb8(const Tensor& video);

}  // namespace kinema
