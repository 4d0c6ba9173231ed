// Per-frame colour palettes for the GIF encoder: median cut over a 5-bit-per-channel
// histogram (Heckbert's algorithm), and the mapping of pixels to their nearest palette entry.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace kinema::media {

struct GifPalette {
  std::array<uint8_t, 256 * 3> rgb{};  // unused entries stay black
  int size = 0;
};

// rgb: [pixels, 3] u8 -> at most 256 colours that minimise the error on this image.
GifPalette median_cut_palette(const uint8_t* rgb, size_t pixels);

// rgb: [pixels, 3] u8 -> indices: [pixels] into `palette`, nearest colour (no dithering).
void map_to_palette(const uint8_t* rgb, size_t pixels, const GifPalette& palette,
                    std::vector<uint8_t>& indices);

}  // namespace kinema::media
