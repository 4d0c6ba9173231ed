// Writing generated frames to files: MP4 (H.264 through libavformat/libavcodec and libx264,
// yuv420p, BT.709 tags, faststart, metadata), animated WebP (libwebp), GIF, and PNG (one image,
// or a folder of numbered frames). Every file is written under a temporary name and renamed
// when complete, so a failure leaves nothing behind.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace kinema {

enum class OutputFormat { Mp4, Webp, Gif, Png };

// The format named by `path`'s extension (.mp4, .webp, .gif, .png; case-insensitive); throws an
// Error naming the path and the supported extensions otherwise.
OutputFormat output_format(const std::string& path);

// Frames as 8-bit RGB, [count, height, width, 3], row-major.
struct RgbFrames {
  int count = 0, width = 0, height = 0;
  std::vector<uint8_t> rgb;
};

// Free-form tags stored in the container where the format has a place for them (MP4 metadata,
// WebP XMP/EXIF-free "kinema" chunk or comment, PNG tEXt): prompt, negative_prompt, seed, steps,
// sampler, model, kinema_version...
using MediaMetadata = std::map<std::string, std::string>;

// Writes `frames` at `fps` to `path` in the format its extension names. For .png with more than
// one frame, `path` names a folder (created) holding frame_00000.png, frame_00001.png, ...
// Throws an Error naming the path on any failure, after removing what it wrote.
void write_frames(const std::string& path, const RgbFrames& frames, int fps,
                  const MediaMetadata& metadata);

}  // namespace kinema
