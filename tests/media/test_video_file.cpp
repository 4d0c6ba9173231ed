// write_frames() for every format: each file is read back by an independent decoder (ffprobe and
// ffmpeg for MP4 and GIF, libwebpdemux for WebP, libpng for PNG) and compared with the input.
// Tolerances (mean absolute error in 8-bit levels; measured values in brackets): MP4 at crf 18
// with 4:2:0 chroma around sharp coloured squares < 3 [2.4]; lossy WebP at quality 90, also
// 4:2:0, < 4 [3.0]; GIF through a 256-colour median-cut palette < 4 [2.3], and < 7 [4.9] on
// noisy frames; PNG exact.
#include <gtest/gtest.h>
#include <iterator>
#include <cstring>
#include <cstdlib>
#include <png.h>
#include <stdlib.h>
#include <unistd.h>
#include <webp/demux.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "media/video_file.h"

namespace kinema {
namespace {

namespace fs = std::filesystem;

// Smooth gradients with a phase from `seed`, plus coloured squares that move from frame to frame.
RgbFrames make_frames(int count, int width, int height, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> phase(0.0f, 6.28f);
  const float pr = phase(rng), pg = phase(rng), pb = phase(rng);
  RgbFrames frames{count, width, height, {}};
  frames.rgb.resize(static_cast<size_t>(count) * width * height * 3);
  for (int f = 0; f < count; ++f) {
    // The 16x16 square moves across the frame, wrapping; frames may be as small as 16x16.
    const int sx = (f * 5) % std::max(1, width - 16), sy = (f * 3) % std::max(1, height - 16);
    for (int y = 0; y < height; ++y) {
      for (int x = 0; x < width; ++x) {
        uint8_t* p = frames.rgb.data() + ((static_cast<size_t>(f) * height + y) * width + x) * 3;
        const float u = static_cast<float>(x) / width, v = static_cast<float>(y) / height;
        p[0] = static_cast<uint8_t>(127.5f + 100.0f * std::sin(3.0f * u + pr + 0.2f * f));
        p[1] = static_cast<uint8_t>(127.5f + 100.0f * std::sin(2.0f * v + pg));
        p[2] = static_cast<uint8_t>(127.5f + 100.0f * std::sin(2.0f * (u + v) + pb));
        if (x >= sx && x < sx + 16 && y >= sy && y < sy + 16) {
          p[0] = 230, p[1] = 40, p[2] = 60;
        }
      }
    }
  }
  return frames;
}

double mean_abs_error(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  EXPECT_EQ(a.size(), b.size());
  if (a.size() != b.size() || a.empty()) return 1e9;
  double sum = 0;
  for (size_t i = 0; i < a.size(); ++i) sum += std::abs(int(a[i]) - int(b[i]));
  return sum / a.size();
}

// Runs a shell command and returns its standard output (binary safe).
std::string run(const std::string& command) {
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) throw std::runtime_error("popen failed: " + command);
  std::string out;
  char buffer[65536];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) out.append(buffer, n);
  const int status = pclose(pipe);
  EXPECT_EQ(status, 0) << command;
  return out;
}

std::vector<uint8_t> ffmpeg_decode_rgb(const std::string& path) {
  const std::string raw =
      run("ffmpeg -v error -i '" + path + "' -fps_mode passthrough -f rawvideo -pix_fmt rgb24 -");
  return {raw.begin(), raw.end()};
}

nlohmann::json ffprobe(const std::string& path, const std::string& extra = "") {
  return nlohmann::json::parse(
      run("ffprobe -v error " + extra + " -show_streams -show_format -of json '" + path + "'"));
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Reads an 8-bit RGB PNG with libpng's simplified API.
std::vector<uint8_t> read_png(const fs::path& path, int& width, int& height) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  EXPECT_TRUE(png_image_begin_read_from_file(&image, path.c_str())) << path;
  image.format = PNG_FORMAT_RGB;
  std::vector<uint8_t> rgb(PNG_IMAGE_SIZE(image));
  EXPECT_TRUE(png_image_finish_read(&image, nullptr, rgb.data(), 0, nullptr)) << path;
  width = image.width, height = image.height;
  return rgb;
}

std::vector<uint8_t> frame_slice(const RgbFrames& frames, int index) {
  const size_t n = static_cast<size_t>(frames.width) * frames.height * 3;
  return {frames.rgb.begin() + index * n, frames.rgb.begin() + (index + 1) * n};
}

const MediaMetadata kMetadata = {{"prompt", "a red square drifting over a gradient"},
                                 {"negative_prompt", "blurry"},
                                 {"seed", "12345"},
                                 {"steps", "30"},
                                 {"sampler", "unipc"},
                                 {"model", "wan2.1-t2v-1.3b"},
                                 {"kinema_version", "0.1.0"}};

class MediaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "kinema-media-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  }
  // Expects write_frames to throw an Error naming `path` and containing `detail`.
  void expect_error(const std::string& path, const RgbFrames& frames, int fps,
                    const std::string& detail) {
    try {
      write_frames(path, frames, fps, kMetadata);
      ADD_FAILURE() << "no error for " << path;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(detail), std::string::npos) << e.what();
    }
  }

  fs::path dir_;
};

TEST_F(MediaTest, Mp4StreamTagsAndPixels) {
  const RgbFrames frames = make_frames(12, 96, 64, 1);
  const std::string path = (dir_ / "clip.mp4").string();
  write_frames(path, frames, 16, kMetadata);
  EXPECT_EQ(entries(), std::vector<std::string>{"clip.mp4"});

  const nlohmann::json probe = ffprobe(path);
  ASSERT_EQ(probe["streams"].size(), 1u);
  const auto& s = probe["streams"][0];
  EXPECT_EQ(s["codec_name"], "h264");
  EXPECT_EQ(s["pix_fmt"], "yuv420p");
  EXPECT_EQ(s["width"], 96);
  EXPECT_EQ(s["height"], 64);
  EXPECT_EQ(s["nb_frames"], "12");
  EXPECT_EQ(s["r_frame_rate"], "16/1");
  EXPECT_EQ(s["color_range"], "tv");
  EXPECT_EQ(s["color_space"], "bt709");
  EXPECT_EQ(s["color_primaries"], "bt709");
  EXPECT_EQ(s["color_transfer"], "bt709");
  const auto& tags = probe["format"]["tags"];
  for (const auto& [key, value] : kMetadata) EXPECT_EQ(tags.value(key, ""), value) << key;

  // The moov atom comes before mdat (faststart).
  const std::string bytes = read_file(path);
  EXPECT_LT(bytes.find("moov"), bytes.find("mdat"));

  const std::vector<uint8_t> decoded = ffmpeg_decode_rgb(path);
  EXPECT_LT(mean_abs_error(decoded, frames.rgb), 3.0);
}

// The same frames give the same bytes whatever the heap held before, for every format (x264's
// adaptive B-frame placement read memory it never wrote: different bytes from a dirty heap).
TEST_F(MediaTest, TheSameFramesGiveTheSameBytesWhateverTheHeapHeld) {
  const RgbFrames frames = make_frames(9, 192, 128, 7);
  for (const char* name : {"a.mp4", "a.webp", "a.gif"}) {
    std::string first;
    for (int fill : {0, 200, 77, 255}) {
      std::vector<void*> blocks;
      for (int i = 0; i < 500; ++i) {
        const size_t size = 64 + size_t(i) * 7919 % 200000;
        void* p = std::malloc(size);
        std::memset(p, (fill + i) & 255, size);
        blocks.push_back(p);
      }
      for (void* p : blocks) std::free(p);
      const fs::path path = dir_ / name;
      write_frames(path.string(), frames, 8, kMetadata);
      std::ifstream in(path, std::ios::binary);
      const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (first.empty())
        first = bytes;
      else
        EXPECT_TRUE(bytes == first) << name << " after a heap filled with " << fill;
    }
  }
}

TEST_F(MediaTest, WebpAnimationRoundTrip) {
  const RgbFrames frames = make_frames(6, 80, 48, 2);
  const std::string path = (dir_ / "clip.webp").string();
  write_frames(path, frames, 8, kMetadata);
  EXPECT_EQ(entries(), std::vector<std::string>{"clip.webp"});

  const std::string bytes = read_file(path);
  WebPData data{reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()};
  WebPAnimDecoderOptions options;
  ASSERT_TRUE(WebPAnimDecoderOptionsInit(&options));
  options.color_mode = MODE_RGBA;
  WebPAnimDecoder* decoder = WebPAnimDecoderNew(&data, &options);
  ASSERT_NE(decoder, nullptr);
  WebPAnimInfo info;
  ASSERT_TRUE(WebPAnimDecoderGetInfo(decoder, &info));
  EXPECT_EQ(info.canvas_width, 80u);
  EXPECT_EQ(info.canvas_height, 48u);
  EXPECT_EQ(info.frame_count, 6u);
  EXPECT_EQ(info.loop_count, 0u);
  std::vector<uint8_t> decoded;
  std::vector<int> timestamps;
  while (WebPAnimDecoderHasMoreFrames(decoder)) {
    uint8_t* rgba;
    int timestamp;
    ASSERT_TRUE(WebPAnimDecoderGetNext(decoder, &rgba, &timestamp));
    timestamps.push_back(timestamp);
    for (size_t i = 0; i < 80u * 48u; ++i)
      decoded.insert(decoded.end(), rgba + 4 * i, rgba + 4 * i + 3);
  }
  // Each frame lasts 1000 / 8 = 125 ms; the timestamp is the frame's end time.
  EXPECT_EQ(timestamps, (std::vector<int>{125, 250, 375, 500, 625, 750}));
  EXPECT_LT(mean_abs_error(decoded, frames.rgb), 4.0);

  // The metadata travels as an XMP chunk.
  WebPDemuxer* demux = WebPDemux(&data);
  ASSERT_NE(demux, nullptr);
  WebPChunkIterator chunk;
  ASSERT_TRUE(WebPDemuxGetChunk(demux, "XMP ", 1, &chunk));
  const std::string xmp(reinterpret_cast<const char*>(chunk.chunk.bytes), chunk.chunk.size);
  EXPECT_NE(xmp.find("<kinema:prompt>a red square drifting over a gradient</kinema:prompt>"),
            std::string::npos);
  EXPECT_NE(xmp.find("<kinema:seed>12345</kinema:seed>"), std::string::npos);
  WebPDemuxReleaseChunkIterator(&chunk);
  WebPDemuxDelete(demux);
  WebPAnimDecoderDelete(decoder);
}

TEST_F(MediaTest, GifFramesSizeAndPixels) {
  const RgbFrames frames = make_frames(10, 72, 40, 3);
  const std::string path = (dir_ / "clip.gif").string();
  write_frames(path, frames, 10, kMetadata);
  EXPECT_EQ(entries(), std::vector<std::string>{"clip.gif"});

  const nlohmann::json probe = ffprobe(path, "-count_frames");
  const auto& s = probe["streams"][0];
  EXPECT_EQ(s["codec_name"], "gif");
  EXPECT_EQ(s["width"], 72);
  EXPECT_EQ(s["height"], 40);
  EXPECT_EQ(s["nb_read_frames"], "10");
  EXPECT_NEAR(std::stod(probe["format"]["duration"].get<std::string>()), 1.0, 0.02);

  const std::vector<uint8_t> decoded = ffmpeg_decode_rgb(path);
  EXPECT_LT(mean_abs_error(decoded, frames.rgb), 4.0);
}

// LZW past the 4096-entry table (clear codes, 12-bit codes) on a larger, noisy frame.
TEST_F(MediaTest, GifLongLzwStreams) {
  RgbFrames frames = make_frames(2, 256, 160, 4);
  std::mt19937 rng(4);
  for (auto& v : frames.rgb)
    v = static_cast<uint8_t>(std::clamp(int(v) + int(rng() % 31) - 15, 0, 255));
  const std::string path = (dir_ / "noisy.gif").string();
  write_frames(path, frames, 16, {});
  const std::vector<uint8_t> decoded = ffmpeg_decode_rgb(path);
  EXPECT_LT(mean_abs_error(decoded, frames.rgb), 7.0);
}

TEST_F(MediaTest, PngSingleImageWithText) {
  const RgbFrames frames = make_frames(1, 33, 17, 5);  // odd sizes are fine for PNG
  const std::string path = (dir_ / "still.png").string();
  write_frames(path, frames, 16, kMetadata);
  EXPECT_EQ(entries(), std::vector<std::string>{"still.png"});
  int w = 0, h = 0;
  EXPECT_EQ(read_png(path, w, h), frames.rgb);
  EXPECT_EQ(w, 33);
  EXPECT_EQ(h, 17);
  const std::string bytes = read_file(path);
  EXPECT_NE(bytes.find(std::string("tEXtseed\0"
                                   "12345",
                                   14)),
            std::string::npos);
  EXPECT_NE(bytes.find(std::string("tEXtmodel\0wan2.1-t2v-1.3b", 25)), std::string::npos);
}

TEST_F(MediaTest, PngFolderOfFrames) {
  const RgbFrames frames = make_frames(3, 32, 24, 6);
  const fs::path path = dir_ / "frames.png";
  fs::create_directory(path);  // an existing empty folder is fine
  write_frames(path.string(), frames, 16, kMetadata);
  EXPECT_EQ(entries(), std::vector<std::string>{"frames.png"});
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(path)) names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names,
            (std::vector<std::string>{"frame_00000.png", "frame_00001.png", "frame_00002.png"}));
  for (int i = 0; i < 3; ++i) {
    int w = 0, h = 0;
    EXPECT_EQ(read_png(path / names[i], w, h), frame_slice(frames, i)) << names[i];
  }
}

TEST_F(MediaTest, OverwritesAnExistingFile) {
  const std::string path = (dir_ / "again.gif").string();
  write_frames(path, make_frames(2, 32, 32, 7), 8, {});
  write_frames(path, make_frames(3, 32, 32, 8), 8, {});
  EXPECT_EQ(entries(), std::vector<std::string>{"again.gif"});
  EXPECT_EQ(ffprobe(path, "-count_frames")["streams"][0]["nb_read_frames"], "3");
}

TEST_F(MediaTest, ErrorsNamePathAndLeaveNothing) {
  const RgbFrames frames = make_frames(2, 32, 32, 9);
  expect_error((dir_ / "clip.avi").string(), frames, 16, ".mp4, .webp, .gif, .png");
  expect_error((dir_ / "noext").string(), frames, 16, "unsupported");

  RgbFrames empty{0, 32, 32, {}};
  expect_error((dir_ / "empty.mp4").string(), empty, 16, "no frames");
  RgbFrames short_buffer = frames;
  short_buffer.rgb.pop_back();
  expect_error((dir_ / "short.webp").string(), short_buffer, 16, "expected");
  expect_error((dir_ / "fps.gif").string(), frames, 0, "frame rate");

  // Fails inside the encoder, after the temporary file exists: it must be removed.
  expect_error((dir_ / "odd.mp4").string(), make_frames(2, 33, 32, 10), 16, "even");

  std::ofstream(dir_ / "plain_file") << "x";
  expect_error((dir_ / "plain_file" / "clip.mp4").string(), frames, 16, "cannot create");
  EXPECT_EQ(entries(), std::vector<std::string>{"plain_file"});

  fs::create_directory(dir_ / "busy.png");
  std::ofstream(dir_ / "busy.png" / "keep.txt") << "mine";
  expect_error((dir_ / "busy.png").string(), frames, 16, "not empty");
  EXPECT_EQ(entries(), (std::vector<std::string>{"busy.png", "plain_file"}));
  EXPECT_EQ(read_file(dir_ / "busy.png" / "keep.txt"), "mine");
}

TEST_F(MediaTest, UnwritableDirectory) {
  expect_error("/proc/kinema-test.mp4", make_frames(1, 16, 16, 11), 16, "cannot create");
  if (geteuid() != 0) {  // root writes anywhere
    fs::permissions(dir_, fs::perms::owner_read | fs::perms::owner_exec);
    expect_error((dir_ / "clip.webp").string(), make_frames(1, 16, 16, 12), 16, "cannot create");
    fs::permissions(dir_, fs::perms::owner_all);
    EXPECT_TRUE(entries().empty());
  }
}

TEST(OutputFormat, FromExtension) {
  EXPECT_EQ(output_format("a/b.MP4"), OutputFormat::Mp4);
  EXPECT_EQ(output_format("x.webp"), OutputFormat::Webp);
  EXPECT_EQ(output_format("x.Gif"), OutputFormat::Gif);
  EXPECT_EQ(output_format("frames.png"), OutputFormat::Png);
  EXPECT_THROW(output_format("x.mkv"), Error);
}

}  // namespace
}  // namespace kinema
