// What a user must be able to trust from the real binary: non-finite values are errors (never a
// black video), signals leave nothing behind, output problems are found before the work, the
// same seed gives the same bytes, and the command line's rough edges.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <thread>

#include "app/cli_util.h"
#include "core/cpu.h"

namespace kinema {
namespace {

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string ref(const std::string& name) { return test::ref_path("models", name); }

// The e2e models with one component replaced.
std::string models_with(const std::string& role, const std::string& file) {
  std::string m = models();
  const std::string flag = "--" + role + " ";
  const size_t at = m.find(flag) + flag.size();
  return m.replace(at, m.find(' ', at) - at, ref(file));
}

const std::string kSmall = " --size 48x32 --frames 5 --steps 2 ";

// Exit 2, one line naming the cause, no new file, and an existing output left as it was.
TEST_F(CliTest, NonFiniteValuesAreErrorsNotBlackVideos) {
  const fs::path out = dir_ / "out.mp4";
  struct Case {
    std::string args, expect;
  };
  const Case cases[] = {
      {"--guidance nan", "--guidance nan: must be a finite number"},
      {"--guidance inf", "--guidance inf: must be a finite number"},
      {"--guidance -inf", "--guidance -inf: must be a finite number"},
      {"--guidance 1e30", "from 0 to 100"},
      {"--shift inf", "--shift inf: must be a finite number above 0"},
      {"--shift 0", "--shift 0: must be a finite number above 0"},
      {"--shift nan", "--shift nan"},
      {"--noise " + ref("e2e_noise_nan.safetensors"),
       "noise tensor 'noise' holds a non-finite value (nan) at element"},
      {models_with("dit", "e2e_dit_nan.safetensors"),
       "denoise step 1 of 2: the DiT produced a non-finite value"},
      {models_with("dit", "e2e_dit_nan.safetensors"),
       "holds nan in tensor 'blocks.1.ffn.0.weight' at element 647"},
      {models_with("t5", "e2e_t5_inf.safetensors"), "the text encoder produced a non-finite value"},
      {models_with("t5", "e2e_t5_inf.safetensors"), "in tensor 'blocks.0.ffn.fc1.weight'"},
      {models_with("vae", "e2e_vae_nan.safetensors"),
       "the VAE decoder produced a non-finite value"},
      {models_with("vae", "e2e_vae_nan.safetensors"), "in tensor 'decoder.head.2.bias'"},
  };
  for (const Case& c : cases) {
    const bool has_models = c.args.find("--dit") != std::string::npos;
    const bool has_noise = c.args.find("--noise") != std::string::npos;
    std::ofstream(out) << "an earlier video";
    Result r = run("generate \"a red circle\"" + kSmall + (has_noise ? "" : "--seed 3 ") +
                   "-q -o " + out.string() + " " + (has_models ? c.args : c.args + " " + models()));
    EXPECT_EQ(r.status, 2) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.expect), std::string::npos) << c.args << "\n" << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
    EXPECT_EQ(read_file(out), "an earlier video") << c.args;
    EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1)
        << c.args << ": something was left beside the output";
  }
}

// Runs kinema with `args` in the background, waits until `ready` holds (or it ends), sends
// `sig`, and returns the exit status (-1 if it did not exit normally).
int interrupt(const std::string& args, int sig, const std::function<bool()>& ready) {
  const pid_t pid = fork();
  if (pid == 0) {
    setenv("KINEMA_TEST_WRITE_DELAY_MS", "400", 1);
    const std::string cmd = std::string(KINEMA_BINARY) + " " + args + " >/dev/null 2>&1";
    execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  for (int i = 0; i < 3000; ++i) {                         // up to 60 s
    if (waitpid(pid, &status, WNOHANG) == pid) return -2;  // ended before the signal
    if (ready()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid, sig);
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool has_temporary(const fs::path& dir) {
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(".tmp-") != std::string::npos) return true;
  return false;
}

// A signal while the frames are being written (held there by the test hook's delay): the
// temporary file is removed and the exit status is 128 + the signal.
TEST_F(CliTest, ASignalDuringTheWriteLeavesNothing) {
  for (const auto& [sig, code] : {std::pair{SIGTERM, 143}, {SIGINT, 130}, {SIGHUP, 129}}) {
    for (const char* name : {"out.mp4", "frames.png"}) {
      const fs::path out = dir_ / name;
      const int status = interrupt(
          "generate \"a red circle\" --size 48x32 --frames 9 --steps 1 "
          "--seed 3 -q -o " +
              out.string() + " " + models(),
          sig, [&] { return has_temporary(dir_); });
      EXPECT_EQ(status, code) << "signal " << sig << ", " << name;
      EXPECT_TRUE(folder_empty()) << "signal " << sig << ", " << name;
    }
  }
}

TEST_F(CliTest, ASignalBeforeTheWriteLeavesNothing) {
  const fs::path out = dir_ / "out.mp4";
  const auto start = std::chrono::steady_clock::now();
  const int status = interrupt(
      "generate \"a red circle\" --size 48x32 --frames 5 --steps 1000 --seed 3 -q -o " +
          out.string() + " " + models(),
      SIGTERM, [&] { return std::chrono::steady_clock::now() - start > std::chrono::seconds(1); });
  EXPECT_EQ(status, 143);
  EXPECT_TRUE(folder_empty());
}

// The output's problems are reported before any model is loaded or step run.
TEST_F(CliTest, OutputProblemsAreFoundBeforeTheWork) {
  const std::string m = " --steps 1000 --frames 5 --size 48x32 " + models();
  fs::create_directories(dir_ / "a_folder.mp4");
  fs::create_directories(dir_ / "frames.png");
  std::ofstream(dir_ / "frames.png" / "frame_00000.png") << "x";
  struct Case {
    std::string output, expect;
  };
  const Case cases[] = {
      {(dir_ / "a_folder.mp4").string(), "is a folder"},
      {(dir_ / "frames.png").string(), "folder is not empty"},
      {"/proc/kinema_out.mp4", "cannot write in folder '/proc'"},
      {(dir_ / "missing" / "out.mp4").string(), "does not exist"},
  };
  for (const Case& c : cases) {
    const auto t0 = std::chrono::steady_clock::now();
    Result r = run("generate \"a cat\" -q -o " + c.output + m);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(r.status, 2) << c.output << "\n" << r.output;
    EXPECT_NE(r.output.find(c.expect), std::string::npos) << c.output << "\n" << r.output;
    EXPECT_EQ(r.output.find("tmp-"), std::string::npos) << r.output;
    // 1000 steps would take minutes: the refusal came first.
    EXPECT_LT(seconds, 30.0) << c.output;
  }
  // Replacing a file is said plainly.
  std::ofstream(dir_ / "old.mp4") << "old";
  Result r = run("generate \"a cat\" --steps 1 --frames 5 --size 48x32 --seed 1 -o " +
                 (dir_ / "old.mp4").string() + " " + models());
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("(replaces the existing file)"), std::string::npos) << r.output;
}

// Byte-identical output for any thread count and with --pack-weights, at every instruction-set
// level this machine has.
TEST_F(CliTest, TheSameSeedGivesTheSameBytes) {
  std::vector<std::string> levels = {"generic", "avx2", "avx512", "avx512bf16"};
  levels.resize(size_t(int(detected_isa())) + 1);
  const std::string demo = std::string(KINEMA_SOURCE_DIR) + "/models/demo";
  for (const std::string& level : levels) {
    // The demo model at twice its size exercises the blocked kernel paths; the tiny e2e models
    // exercise f32 weights.
    for (const std::string& model :
         {" --model " + demo + " --size 192x128 --frames 9 --steps 2", kSmall + models()}) {
      std::string first;
      for (const char* variant : {"--threads 1", "--threads 2", "--threads 2 --pack-weights"}) {
        const fs::path out = dir_ / "out.mp4";
        Result r = run_command("KINEMA_ISA=" + level + " " + KINEMA_BINARY +
                               " generate \"a red circle moves up\" --seed 11 -q " + variant +
                               model + " -o " + out.string());
        ASSERT_EQ(r.status, 0) << r.output;
        const std::string bytes = read_file(out);
        if (first.empty())
          first = bytes;
        else
          EXPECT_TRUE(bytes == first) << level << ", " << variant << ", " << model;
      }
    }
  }
}

// Across levels the summation orders differ (and bf16 GEMMs are emulated below avx512bf16), so
// the frames differ slightly; the README states the measured agreement, which this bounds.
TEST_F(CliTest, AcrossInstructionSetLevelsTheFramesAgreeClosely) {
  std::vector<std::string> levels = {"generic", "avx2", "avx512", "avx512bf16"};
  levels.resize(size_t(int(detected_isa())) + 1);
  auto frames_at = [&](const std::string& level) {
    const fs::path out = dir_ / (level + ".png");
    Result r = run_command("KINEMA_ISA=" + level + " " + KINEMA_BINARY +
                           " generate \"a red circle moves to the right on a black background\""
                           " --seed 7 -q -o " + out.string());
    EXPECT_EQ(r.status, 0) << r.output;
    return run_command("ffmpeg -v error -i " + (out / "frame_%05d.png").string() +
                           " -f rawvideo -pix_fmt rgb24 -", false)
        .output;
  };
  const std::string best = frames_at(levels.back());
  ASSERT_EQ(best.size(), size_t(17 * 128 * 128 * 3));
  for (size_t i = 0; i + 1 < levels.size(); ++i) {
    const std::string other = frames_at(levels[i]);
    ASSERT_EQ(other.size(), best.size());
    double sum = 0;
    for (size_t k = 0; k < best.size(); ++k) {
      const double d = double(uint8_t(best[k])) - double(uint8_t(other[k]));
      sum += d * d;
    }
    const double psnr = sum == 0 ? 99 : 10 * std::log10(255.0 * 255.0 / (sum / best.size()));
    EXPECT_GE(psnr, 40.0) << levels[i] << " against " << levels.back();
  }
}

TEST_F(CliTest, TheCommandLineExplainsItself) {
  Result help = run("help");
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.output.find("Usage: kinema "), std::string::npos) << help.output;
  Result g = run("help generate");
  EXPECT_EQ(g.status, 0);
  EXPECT_NE(g.output.find("--threads"), std::string::npos) << g.output;
  EXPECT_NE(g.output.find("Usage: kinema generate"), std::string::npos) << g.output;
  Result g2 = run("generate --help");
  EXPECT_NE(g2.output.find("--threads"), std::string::npos);
  EXPECT_EQ(g2.output.find(KINEMA_BINARY), std::string::npos) << "the build path in usage lines";
  EXPECT_EQ(run("help nothing").status, 2);

  // A prompt that starts with '-' gets a hint, and works after '--'.
  Result dash = run("generate -q -o " + (dir_ / "x.mp4").string() + " \"-a red circle\"");
  EXPECT_EQ(dash.status, 2);
  EXPECT_NE(dash.output.find("goes after '--'"), std::string::npos) << dash.output;
  Result after = run("generate -q --seed 1" + kSmall + models() + " -o " +
                     (dir_ / "x.mp4").string() + " -- \"-a red circle\"");
  EXPECT_EQ(after.status, 0) << after.output;

  // Errors are JSON events too with --progress json.
  Result json = run("generate \"a cat\" --progress json --guidance nan -o " +
                    (dir_ / "y.mp4").string() + " " + models());
  EXPECT_EQ(json.status, 2);
  const size_t at = json.output.find("{\"event\":\"error\"");
  ASSERT_NE(at, std::string::npos) << json.output;
  const auto event = nlohmann::json::parse(json.output.substr(at, json.output.find('\n', at) - at));
  EXPECT_NE(event["message"].get<std::string>().find("--guidance nan"), std::string::npos);

  Result tok = run("info " + ref("e2e_spiece.model"));
  EXPECT_EQ(tok.status, 0) << tok.output;
  EXPECT_NE(tok.output.find("sentencepiece tokenizer"), std::string::npos) << tok.output;

  // A prompt longer than the encoder's 512 tokens is encoded, and the cut is said.
  std::string words;
  for (int i = 0; i < 600; ++i) words += "red circle ";
  Result long_prompt = run("generate \"" + words + "\" --seed 1" + kSmall + models() + " -o " +
                           (dir_ / "long.mp4").string());
  EXPECT_EQ(long_prompt.status, 0) << long_prompt.output;
  EXPECT_NE(long_prompt.output.find("tokens; the encoder reads 512, so the last"),
            std::string::npos)
      << long_prompt.output;

  // A whitespace-only prompt is refused like an empty one.
  Result blank = run("generate \" \t \" -q " + models());
  EXPECT_EQ(blank.status, 2);
  EXPECT_NE(blank.output.find("the prompt holds only white space"), std::string::npos);

  // Raw bytes from files are never echoed: a control character in a manifest's key.
  const fs::path model = dir_ / "model";
  fs::create_directories(model);
  for (const char* f : {"dit.safetensors", "t5.safetensors", "vae.safetensors", "spiece.model"})
    std::ofstream(model / f) << "";
  std::ofstream(model / "kinema.json") << R"({"bad\u0001\u001b[31mkey": 1})";
  Result raw = run("generate \"a cat\" -q --model " + model.string());
  EXPECT_EQ(raw.status, 2);
  EXPECT_NE(raw.output.find("bad\\x01\\x1b[31mkey"), std::string::npos) << raw.output;
  EXPECT_EQ(raw.output.find('\x1b'), std::string::npos);
  // A broken tokenizer is described in our words, not sentencepiece's source locations.
  Result sp = run("generate \"a cat\" -q --dit " + ref("e2e_dit.safetensors") + " --t5 " +
                  ref("e2e_t5.safetensors") + " --vae " + ref("e2e_vae.safetensors") +
                  " --tokenizer " + ref("e2e_dit.safetensors") + " --allow-custom");
  EXPECT_EQ(sp.status, 2);
  EXPECT_NE(sp.output.find("not a sentencepiece tokenizer model"), std::string::npos);
  EXPECT_EQ(sp.output.find(".cc("), std::string::npos) << sp.output;
}

// With --noise the seed is neither printed nor stored; the file and its sha256 are.
TEST_F(CliTest, InjectedNoiseIsRecordedInsteadOfASeed) {
  const fs::path out = dir_ / "noise.mp4";
  Result r = run("generate \"a red circle\"" + kSmall + "--noise " + ref("e2e_noise.safetensors") +
                 " -o " + out.string() + " " + models());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output.find("seed:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("sha256"), std::string::npos) << r.output;
  Result probe = run_command("ffprobe -v error -show_format -of json " + out.string(), false);
  const auto tags = nlohmann::json::parse(probe.output)["format"]["tags"];
  EXPECT_FALSE(tags.contains("seed"));
  EXPECT_EQ(tags["noise"], ref("e2e_noise.safetensors"));
  EXPECT_EQ(tags["noise_sha256"].get<std::string>().size(), 64u);
  Result both = run("generate \"a red circle\" --seed 4 --noise " + ref("e2e_noise.safetensors") +
                    " -q " + models());
  EXPECT_EQ(both.status, 2);
  EXPECT_NE(both.output.find("not both"), std::string::npos) << both.output;
}

// LoRAs from the command line: applied (merged or unmerged), named in the progress and the
// metadata with their sha256; a bad file is one line with status 2; a LoRA's defaults from the
// kinema.json beside the DiT apply when it is given.
TEST_F(CliTest, LorasAreAppliedRecordedAndCheckedFromTheCommandLine) {
  const std::string lora = test::ref_path("models", "lora/comfyui_bf16.safetensors");
  for (const char* mode : {"merge", "unmerged"}) {
    const fs::path out = dir_ / (std::string(mode) + ".mp4");
    Result r = run("generate \"a red circle\"" + kSmall + "--seed 3 --lora " + lora +
                   ":0.5 --lora-mode " + mode + " -o " + out.string() + " " + models());
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find(mode == std::string("merge") ? "merged" : "unmerged"),
              std::string::npos)
        << r.output;
    Result probe = run_command("ffprobe -v error -show_format -of json " + out.string(), false);
    const auto tags = nlohmann::json::parse(probe.output)["format"]["tags"];
    const auto loras = nlohmann::json::parse(tags["loras"].get<std::string>());
    ASSERT_EQ(loras.size(), 1u);
    EXPECT_EQ(loras[0]["file"], lora);
    EXPECT_EQ(loras[0]["scale"], 0.5);
    EXPECT_EQ(loras[0]["sha256"].get<std::string>().size(), 64u);
    EXPECT_EQ(tags["cache"], "off");
  }
  for (const std::string& bad :
       {std::string("lora/bad_rank.safetensors"), std::string("lora/block_lora.safetensors"),
        std::string("lora/missing.safetensors")}) {
    Result r = run("generate \"a red circle\" -q --lora " + test::ref_path("models", bad) + " " +
                   models());
    EXPECT_EQ(r.status, 2) << bad;
    EXPECT_NE(r.output.find(bad), std::string::npos) << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  }
  Result scale = run("generate \"a red circle\" -q --lora x.safetensors:abc:nan " + models());
  EXPECT_EQ(scale.status, 2) << scale.output;

  // A folder whose kinema.json gives defaults for its LoRA: given --lora, the run takes them.
  const fs::path folder = dir_ / "model";
  fs::create_directories(folder);
  for (const char* name :
       {"e2e_dit.safetensors", "e2e_t5.safetensors", "e2e_vae.safetensors", "e2e_spiece.model"})
    fs::create_symlink(ref(name), folder / name);
  fs::create_symlink(lora, folder / "fast.safetensors");
  std::ofstream(folder / "kinema.json")
      << R"({"custom_sizes": true, "lora_defaults": {"fast.safetensors":
            {"sampler": "lcm", "steps": 3, "guidance": 1}}})";
  const std::string files = " --dit " + (folder / "e2e_dit.safetensors").string() + " --t5 " +
                            ref("e2e_t5.safetensors") + " --vae " + ref("e2e_vae.safetensors") +
                            " --tokenizer " + ref("e2e_spiece.model");
  Result with = run(
      "generate \"a red circle\" --size 48x32 --frames 5 --seed 2 --cache easycache"
      " --progress json -o " +
      (dir_ / "fast.mp4").string() + " --lora " + (folder / "fast.safetensors").string() + files);
  ASSERT_EQ(with.status, 0) << with.output;
  EXPECT_NE(with.output.find("lcm, 3 steps"), std::string::npos) << with.output;
  EXPECT_NE(with.output.find("one DiT pass per step"), std::string::npos) << with.output;
  EXPECT_NE(with.output.find("off for a distilled run"), std::string::npos) << with.output;
  Result without = run("generate \"a red circle\" --size 48x32 --frames 5 --seed 2 --steps 2 -o " +
                       (dir_ / "plain.mp4").string() + files);
  ASSERT_EQ(without.status, 0) << without.output;
  EXPECT_EQ(without.output.find("lcm"), std::string::npos) << without.output;
}

// --cache easycache on an undistilled run: the cache is named and says what it skipped.
TEST_F(CliTest, TheStepCacheReportsWhatItSkipped) {
  Result r =
      run("generate \"a red circle\" --size 48x32 --frames 5 --steps 12 --seed 5 "
          "--cache easycache:0.5 --progress json -o " +
          (dir_ / "c.mp4").string() + " " + models());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("easycache:0.5 skipped"), std::string::npos) << r.output;
  Result bad = run("generate \"a red circle\" -q --cache teacache " + models());
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.output.find("--cache teacache"), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace kinema
