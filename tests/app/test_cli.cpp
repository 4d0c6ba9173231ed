// Runs the real kinema binary: the error cases (one clear line, exit status 2, nothing left
// behind) and end-to-end generation into every output format with the tiny reference models.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "app/cli_util.h"
#include "common/refdata.h"

namespace kinema {
namespace {

namespace fs = std::filesystem;

TEST_F(CliTest, ErrorsAreOneLineWithStatusTwoAndLeaveNothing) {
  const std::string out = (dir_ / "out.mp4").string();
  const std::string m = models();
  struct Case {
    std::string args, expect;
  };
  const Case cases[] = {
      {"generate \"a cat\" --frames 20 -o " + out + " " + m, "nearest valid: 17 or 21"},
      {"generate \"a cat\" --frames 0 -o " + out + " " + m, "--frames 0: expected 1 to"},
      {"generate \"a cat\" --size 100x64 -o " + out + " " + m, "multiples of 16"},
      {"generate \"a cat\" --size big -o " + out + " " + m, "expected WIDTHxHEIGHT"},
      {"generate \"a cat\" --sampler ddim -o " + out + " " + m,
       "--sampler ddim: expected unipc, dpm++, euler or lcm"},
      {"generate \"a cat\" -o " + (dir_ / "out.avi").string() + " " + m, ".avi"},
      {"generate \"a cat\" -o /nonexistent/folder/out.mp4 " + m, "does not exist"},
      {"generate \"a cat\" --model /nonexistent -o " + out, "/nonexistent: not a folder"},
      {"generate \"a cat\" --model " + dir_.string() + " -o " + out, "not a Wan model folder"},
      {"generate \"a cat\" --dit /nonexistent.safetensors --t5 x --vae y --tokenizer z -o " + out,
       "/nonexistent.safetensors"},
      {"generate \"a cat\" --dit " + test::ref_path("models", "e2e_vae.safetensors") +
           " --t5 x --vae y --tokenizer z --allow-custom -o " + out,
       "not a Wan DiT"},
      {"generate \"a cat\" --steps 0 -o " + out + " " + m, "--steps 0"},
      {"generate", "prompt is required"},
      {"--threads 0 system", "--threads"},
      {"generate \"a cat\" --threads 0 -o " + out + " " + m, "--threads"},
      {"frobnicate", "frobnicate"},
  };
  for (const Case& c : cases) {
    Result r = run(c.args);
    EXPECT_EQ(r.status, 2) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.expect), std::string::npos) << c.args << "\n" << r.output;
    // One error line, the last one (a progress line for the load phase may come before it).
    size_t at = r.output.find("kinema: ");
    EXPECT_NE(at, std::string::npos) << c.args << "\n" << r.output;
    if (at != std::string::npos) {
      EXPECT_EQ(r.output.find('\n', at), r.output.size() - 1) << c.args << "\n" << r.output;
    }
    EXPECT_TRUE(folder_empty()) << c.args;
  }
}

TEST_F(CliTest, HelpAndVersion) {
  Result h = run("--help");
  EXPECT_EQ(h.status, 0);
  EXPECT_NE(h.output.find("generate"), std::string::npos);
  Result g = run("generate --help");
  EXPECT_EQ(g.status, 0);
  for (const char* flag : {"--negative", "--size", "--frames", "--fps", "--steps", "--guidance",
                           "--shift", "--sampler", "--seed", "--model", "--dit", "--t5", "--vae",
                           "--tokenizer", "--quiet", "--progress"})
    EXPECT_NE(g.output.find(flag), std::string::npos) << flag;
  Result v = run("--version");
  EXPECT_EQ(v.status, 0);
  EXPECT_NE(v.output.find("kinema "), std::string::npos);
}

TEST_F(CliTest, InfoDescribesAModel) {
  Result r = run("info " + test::ref_path("models", "e2e_dit.safetensors"));
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("Wan DiT"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("safetensors"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("estimate"), std::string::npos) << r.output;
  // A small model's counts in units that show them (not "0.000 B parameters, 0.00 GiB").
  EXPECT_NE(r.output.find(" M parameters, "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(" MiB"), std::string::npos) << r.output;
}

nlohmann::json ffprobe(const fs::path& file) {
  Result r = run_command(
      "ffprobe -v error -count_frames -show_streams -show_format -of json '" + file.string() + "'",
      false);
  EXPECT_EQ(r.status, 0) << r.output;
  return nlohmann::json::parse(r.output);
}

// All frames of a video decoded to RGB24 by ffmpeg.
std::vector<uint8_t> decode_rgb(const fs::path& file) {
  Result r = run_command("ffmpeg -v error -i '" + file.string() +
                             "' -fps_mode passthrough -f rawvideo -pix_fmt rgb24 -",
                         false);
  EXPECT_EQ(r.status, 0);
  return {r.output.begin(), r.output.end()};
}

// The PNG frames of a folder, concatenated, through ffmpeg too (an exact decoder for PNG).
std::vector<uint8_t> png_frames(const fs::path& folder) {
  return decode_rgb(folder / "frame_%05d.png");
}

double mean_abs_diff(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  EXPECT_EQ(a.size(), b.size());
  double sum = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) sum += std::abs(int(a[i]) - int(b[i]));
  return a.empty() ? 1e9 : sum / double(a.size());
}

TEST_F(CliTest, GeneratesEveryFormat) {
  const std::string common =
      "generate \"a blue square moves up\" --size 64x48 --frames 9 "
      "--steps 3 --fps 12 --seed 7 -q " +
      models();
  Result png = run(common + " -o " + (dir_ / "frames.png").string());
  ASSERT_EQ(png.status, 0) << png.output;
  ASSERT_TRUE(fs::is_directory(dir_ / "frames.png"));
  std::vector<uint8_t> reference = png_frames(dir_ / "frames.png");
  ASSERT_EQ(reference.size(), size_t(9 * 64 * 48 * 3));

  Result mp4 = run(common + " -o " + (dir_ / "out.mp4").string());
  ASSERT_EQ(mp4.status, 0) << mp4.output;
  nlohmann::json probe = ffprobe(dir_ / "out.mp4");
  const auto& v = probe["streams"][0];
  EXPECT_EQ(v["codec_name"], "h264");
  EXPECT_EQ(v["pix_fmt"], "yuv420p");
  EXPECT_EQ(v["nb_read_frames"], "9");
  EXPECT_EQ(v["r_frame_rate"], "12/1");
  EXPECT_EQ(v["color_space"], "bt709");
  const auto& tags = probe["format"]["tags"];
  EXPECT_EQ(tags["prompt"], "a blue square moves up");
  EXPECT_EQ(tags["seed"], "7");
  EXPECT_EQ(tags["steps"], "3");
  EXPECT_EQ(tags["sampler"], "unipc");
  EXPECT_TRUE(tags.contains("model"));
  EXPECT_TRUE(tags.contains("kinema_version"));
  // Random-weight models make noise-like frames, the hardest content for H.264 at this size;
  // the media tests check the codec's accuracy on natural content (mean error < 3).
  EXPECT_LT(mean_abs_diff(decode_rgb(dir_ / "out.mp4"), reference), 16.0);

  Result gif_run = run(common + " -o " + (dir_ / "out.gif").string());
  ASSERT_EQ(gif_run.status, 0) << gif_run.output;
  nlohmann::json gif = ffprobe(dir_ / "out.gif");
  EXPECT_EQ(gif["streams"][0]["width"], 64);
  EXPECT_EQ(gif["streams"][0]["height"], 48);
  EXPECT_EQ(gif["streams"][0]["nb_read_frames"], "9");

  // ffmpeg 5.1 cannot decode animated WebP: check the container (the media tests decode it with
  // libwebp's demuxer, frame by frame).
  Result webp_run = run(common + " -o " + (dir_ / "out.webp").string());
  ASSERT_EQ(webp_run.status, 0) << webp_run.output;
  std::ifstream webp(dir_ / "out.webp", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(webp)), std::istreambuf_iterator<char>());
  ASSERT_GT(bytes.size(), 30u);
  EXPECT_EQ(bytes.substr(0, 4), "RIFF");
  EXPECT_EQ(bytes.substr(8, 4), "WEBP");
  EXPECT_NE(bytes.find("ANIM"), std::string::npos);
  // VP8X chunk: canvas width - 1 and height - 1 as 24-bit little-endian numbers.
  ASSERT_EQ(bytes.substr(12, 4), "VP8X");
  auto u24 = [&](size_t at) {
    return int(uint8_t(bytes[at])) | int(uint8_t(bytes[at + 1])) << 8 |
           int(uint8_t(bytes[at + 2])) << 16;
  };
  EXPECT_EQ(u24(24) + 1, 64);
  EXPECT_EQ(u24(27) + 1, 48);
  size_t frames = 0;
  for (size_t at = bytes.find("ANMF"); at != std::string::npos; at = bytes.find("ANMF", at + 4))
    ++frames;
  EXPECT_EQ(frames, 9u);

  Result one = run("generate \"a red circle\" --size 64x48 --frames 1 --steps 2 --seed 3 -q " +
                   models() + " -o " + (dir_ / "still.png").string());
  ASSERT_EQ(one.status, 0) << one.output;
  nlohmann::json still = ffprobe(dir_ / "still.png");
  EXPECT_EQ(still["streams"][0]["width"], 64);
  for (const auto& entry : fs::directory_iterator(dir_))
    EXPECT_EQ(entry.path().string().find(".tmp"), std::string::npos) << entry.path();
}

// With no --model, generate uses the bundled demo model (models/demo) and its kinema.json
// defaults: 128x128, 17 frames, 8 fps, 20 steps, shift 3, no negative prompt. Flags still win.
TEST_F(CliTest, DefaultsToTheBundledDemoModel) {
  if (!fs::exists(fs::path(KINEMA_SOURCE_DIR) / "models" / "demo" / "dit.safetensors"))
    GTEST_SKIP() << "the demo model's weights are not in models/demo yet";
  Result r = run("generate \"a blue square moves up\" --seed 5 -o " + (dir_ / "demo.mp4").string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("kinema-demo-shapes"), std::string::npos) << r.output;
  // Off a terminal (here a pipe) the progress is whole lines: no carriage returns, a line at each
  // tenth of the steps and one at the end.
  EXPECT_EQ(r.output.find('\r'), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("denoise      [##############################] 20/20"), std::string::npos)
      << r.output;
  size_t denoise_lines = 0;
  for (size_t at = r.output.find("\ndenoise "); at != std::string::npos;
       at = r.output.find("\ndenoise ", at + 1))
    ++denoise_lines;
  EXPECT_GE(denoise_lines, 10u) << r.output;
  EXPECT_LE(denoise_lines, 11u) << r.output;
  nlohmann::json probe = ffprobe(dir_ / "demo.mp4");
  const auto& v = probe["streams"][0];
  EXPECT_EQ(v["width"], 128);
  EXPECT_EQ(v["height"], 128);
  EXPECT_EQ(v["nb_read_frames"], "17");
  EXPECT_EQ(v["r_frame_rate"], "8/1");
  const auto& tags = probe["format"]["tags"];
  EXPECT_EQ(tags["model"], "kinema-demo-shapes");
  EXPECT_EQ(tags["steps"], "20");
  EXPECT_EQ(tags["negative_prompt"], "");
  EXPECT_EQ(std::stod(tags["shift"].get<std::string>()), 3.0);

  Result small =
      run("generate \"a red circle moves left\" --size 64x32 --frames 5 --steps 2 "
          "--fps 4 --seed 5 -q -o " +
          (dir_ / "small.mp4").string());
  ASSERT_EQ(small.status, 0) << small.output;
  nlohmann::json p2 = ffprobe(dir_ / "small.mp4");
  EXPECT_EQ(p2["streams"][0]["width"], 64);
  EXPECT_EQ(p2["streams"][0]["height"], 32);
  EXPECT_EQ(p2["streams"][0]["nb_read_frames"], "5");
  EXPECT_EQ(p2["streams"][0]["r_frame_rate"], "4/1");
  EXPECT_EQ(p2["format"]["tags"]["steps"], "2");
}

// Without weights in models/demo the error says so and points to --model.
TEST_F(CliTest, AMissingBundledModelIsReported) {
  if (fs::exists(fs::path(KINEMA_SOURCE_DIR) / "models" / "demo" / "kinema.json"))
    GTEST_SKIP() << "the demo model is bundled";
  Result r = run("generate \"a cat\" -o " + (dir_ / "out.mp4").string());
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("bundled demo model is missing"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--model"), std::string::npos) << r.output;
  EXPECT_TRUE(folder_empty());
}

// A model folder's kinema.json is checked before anything is loaded; its errors name the file.
TEST_F(CliTest, ABadManifestIsReportedWithItsField) {
  const fs::path model = dir_ / "model";
  fs::create_directories(model);
  for (const char* f : {"dit.safetensors", "t5.safetensors", "vae.safetensors", "spiece.model"})
    std::ofstream(model / f) << "";
  std::ofstream(model / "kinema.json") << R"({"defaults": {"frames": 18}})";
  Result r =
      run("generate \"a cat\" --model " + model.string() + " -o " + (dir_ / "out.mp4").string());
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("kinema.json: defaults.frames"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir_ / "out.mp4"));
}

}  // namespace
}  // namespace kinema
