// Median cut: start with one box holding every colour of the image, repeatedly split the box
// that carries the most error (pixel count times its widest channel range) at the weighted
// median of that channel, and give each final box the mean colour of its pixels. Colours are
// first binned to 5 bits per channel so the sort and search stay small (32768 bins).
#include "media/gif_palette.h"

#include <algorithm>

namespace kinema::media {
namespace {

constexpr int kBins = 1 << 15;

int bin_of(const uint8_t* p) { return (p[0] >> 3) << 10 | (p[1] >> 3) << 5 | (p[2] >> 3); }
int channel_of(int bin, int c) { return (bin >> (10 - 5 * c)) & 31; }

struct Box {
  size_t begin, end;  // range of `bins` entries
  uint64_t count;
  int widest_channel, range;
};

struct BinStats {
  uint32_t count = 0;
  uint64_t sum[3] = {0, 0, 0};
};

}  // namespace

GifPalette median_cut_palette(const uint8_t* rgb, size_t pixels) {
  std::vector<BinStats> stats(kBins);
  for (size_t i = 0; i < pixels; ++i) {
    const uint8_t* p = rgb + 3 * i;
    BinStats& s = stats[bin_of(p)];
    ++s.count;
    for (int c = 0; c < 3; ++c) s.sum[c] += p[c];
  }
  std::vector<int> bins;
  for (int b = 0; b < kBins; ++b)
    if (stats[b].count) bins.push_back(b);

  auto measure = [&](size_t begin, size_t end) {
    Box box{begin, end, 0, 0, 0};
    int lo[3] = {31, 31, 31}, hi[3] = {0, 0, 0};
    for (size_t i = begin; i < end; ++i) {
      box.count += stats[bins[i]].count;
      for (int c = 0; c < 3; ++c) {
        lo[c] = std::min(lo[c], channel_of(bins[i], c));
        hi[c] = std::max(hi[c], channel_of(bins[i], c));
      }
    }
    for (int c = 0; c < 3; ++c)
      if (hi[c] - lo[c] > box.range) box.range = hi[c] - lo[c], box.widest_channel = c;
    return box;
  };

  std::vector<Box> boxes;
  if (!bins.empty()) boxes.push_back(measure(0, bins.size()));
  while (boxes.size() < 256) {
    auto worst = std::max_element(boxes.begin(), boxes.end(), [](const Box& a, const Box& b) {
      return a.count * a.range < b.count * b.range;
    });
    if (worst->range == 0) break;  // every box is a single bin
    const Box box = *worst;
    const int c = box.widest_channel;
    std::sort(bins.begin() + box.begin, bins.begin() + box.end,
              [&](int a, int b) { return channel_of(a, c) < channel_of(b, c); });
    // Weighted median, kept strictly inside the box so both halves are non-empty.
    size_t split = box.begin + 1;
    uint64_t below = stats[bins[box.begin]].count;
    while (split < box.end - 1 && below * 2 < box.count) below += stats[bins[split++]].count;
    *worst = measure(box.begin, split);
    boxes.push_back(measure(split, box.end));
  }

  GifPalette palette;
  palette.size = static_cast<int>(boxes.size());
  for (size_t k = 0; k < boxes.size(); ++k) {
    uint64_t sum[3] = {0, 0, 0};
    for (size_t i = boxes[k].begin; i < boxes[k].end; ++i)
      for (int c = 0; c < 3; ++c) sum[c] += stats[bins[i]].sum[c];
    for (int c = 0; c < 3; ++c)
      palette.rgb[3 * k + c] = static_cast<uint8_t>((sum[c] + boxes[k].count / 2) / boxes[k].count);
  }
  return palette;
}

void map_to_palette(const uint8_t* rgb, size_t pixels, const GifPalette& palette,
                    std::vector<uint8_t>& indices) {
  // The nearest entry is computed once per 5-bit bin, for the bin's centre.
  std::vector<int16_t> nearest(kBins, -1);
  indices.resize(pixels);
  for (size_t i = 0; i < pixels; ++i) {
    const int bin = bin_of(rgb + 3 * i);
    if (nearest[bin] < 0) {
      int best = 0, best_distance = 1 << 30;
      for (int k = 0; k < palette.size; ++k) {
        int distance = 0;
        for (int c = 0; c < 3; ++c) {
          const int d = channel_of(bin, c) * 8 + 4 - palette.rgb[3 * k + c];
          distance += d * d;
        }
        if (distance < best_distance) best_distance = distance, best = k;
      }
      nearest[bin] = static_cast<int16_t>(best);
    }
    indices[i] = static_cast<uint8_t>(nearest[bin]);
  }
}

}  // namespace kinema::media
