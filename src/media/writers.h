// Per-format encoders behind write_frames(). Each writes one complete file (or, for PNG
// sequences, one folder) at `path`, which is already the temporary name; validation, the
// temporary name and the final rename live in video_file.cpp.
#pragma once

#include <string>

#include "media/video_file.h"

namespace kinema::media {

// frames: [count, height, width, 3] u8, count >= 1, sizes checked by the caller.
void write_mp4(const std::string& path, const RgbFrames& frames, int fps,
               const MediaMetadata& metadata);
void write_webp(const std::string& path, const RgbFrames& frames, int fps,
                const MediaMetadata& metadata);
// GIF has no standard place for key/value metadata; none is written.
void write_gif(const std::string& path, const RgbFrames& frames, int fps);
// One PNG image (frame `index`) with the metadata as tEXt chunks.
void write_png(const std::string& path, const RgbFrames& frames, int index,
               const MediaMetadata& metadata);

}  // namespace kinema::media
