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

// Free-form tags (prompt, negative_prompt, seed, steps, sampler, model, kinema_version, ...)
// stored where the format has a place for them: MP4 format-level tags (kept verbatim through
// movflags +use_metadata_tags; ffprobe shows them), WebP an XMP chunk with one kinema:<key>
// property per tag, PNG tEXt chunks (keys cut to 79 characters). GIF has no such place.
using MediaMetadata = std::map<std::string, std::string>;

// Writes `frames` at `fps` (> 0) to `path` in the format its extension names, replacing an
// existing file. For .png with more than one frame, `path` names a folder (created; an existing
// one must be empty) holding frame_00000.png, frame_00001.png, ... MP4 needs even sizes
// (4:2:0 chroma). Throws an Error naming the path on any failure (unknown extension, no frames,
// a buffer that does not hold count*height*width*3 bytes, an unwritable place, an encoder
// error), after removing what it wrote.
void write_frames(const std::string& path, const RgbFrames& frames, int fps,
                  const MediaMetadata& metadata);

}  // namespace kinema
