// Helpers of the CLI tests: running the real kinema binary, the tiny reference models' flags,
// and a fixture with a fresh output folder per test.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

#include "common/refdata.h"

namespace kinema {

namespace fs = std::filesystem;

struct Result {
  int status;
  std::string output;  // stdout and stderr together
};

inline Result run_command(const std::string& command, bool with_stderr = true) {
  std::string cmd = command + (with_stderr ? " 2>&1" : " 2>/dev/null");
  FILE* pipe = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf{};
  while (size_t n = fread(buf.data(), 1, buf.size(), pipe)) out.append(buf.data(), n);
  int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

inline Result run(const std::string& args) {
  return run_command(std::string(KINEMA_BINARY) + " " + args);
}

inline std::string models() {
  const std::string d = test::ref_path("models", "");
  return "--dit " + d + "e2e_dit.safetensors --t5 " + d + "e2e_t5.safetensors --vae " + d +
         "e2e_vae.safetensors --tokenizer " + d + "e2e_spiece.model --allow-custom";
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The process id keeps runs of the same test (other checkouts, ctest -j) apart.
    dir_ = fs::temp_directory_path() /
           ("kinema_cli_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "_" +
            std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  bool folder_empty() const { return fs::is_empty(dir_); }
  fs::path dir_;
};

}  // namespace kinema
