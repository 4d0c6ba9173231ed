// The kinema command-line tool.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "core/cpu.h"
#include "core/error.h"
#include "core/parallel.h"

namespace {

constexpr const char* kUsage = R"(kinema: text-to-video with open-weight diffusion models, on the hardware you have

Usage:
  kinema <command> [options]

Commands:
  help                 show this text
  version              print the version
  system               show what this machine offers Kinema (instruction sets, threads)

Options:
  -h, --help           show this text
  --version            print the version
  --threads N          worker threads (default: all hardware threads)

Model commands (generate, info) arrive with the Wan2.1 and CLI milestones.
)";

int run_system(const kinema::ComputeContext& ctx) {
  const auto& f = kinema::cpu_features();
  std::printf("instruction set: %s (detected %s)\n", std::string(kinema::isa_name(kinema::active_isa())).c_str(),
              std::string(kinema::isa_name(kinema::detected_isa())).c_str());
  std::printf("avx2 %d, fma %d, f16c %d, avx512f %d, avx512bf16 %d, avx512vnni %d, amx_bf16 %d\n",
              f.avx2, f.fma, f.f16c, f.avx512f, f.avx512bf16, f.avx512vnni, f.amx_bf16);
  std::printf("hardware threads: %d, using %d\n", kinema::hardware_threads(), ctx.threads);
  return 0;
}

// Removes `--threads N` / `--threads=N` from the arguments; returns N (0: all hardware threads).
int take_threads(std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    std::string value;
    size_t used = 0;
    if (args[i] == "--threads" && i + 1 < args.size()) {
      value = args[i + 1];
      used = 2;
    } else if (args[i].rfind("--threads=", 0) == 0) {
      value = args[i].substr(10);
      used = 1;
    } else if (args[i] == "--threads") {
      kinema::fail("--threads needs a number");
    }
    if (used) {
      size_t end = 0;
      int n = -1;
      try {
        n = std::stoi(value, &end);
      } catch (const std::exception&) {
      }
      if (end != value.size() || n < 1 || n > 1024)
        kinema::fail("--threads: expected a number of threads from 1 to 1024, got '", value, "'");
      args.erase(args.begin() + long(i), args.begin() + long(i + used));
      return n;
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::vector<std::string> args(argv + 1, argv + argc);
    const kinema::ComputeContext ctx = kinema::ComputeContext::with_threads(take_threads(args));
    if (args.empty()) {
      std::fputs(kUsage, stdout);
      return 0;
    }
    std::string cmd = args[0];
    if (cmd == "-h" || cmd == "--help" || cmd == "help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (cmd == "--version" || cmd == "version") {
      std::printf("kinema %s\n", KINEMA_VERSION);
      return 0;
    }
    if (cmd == "system") return run_system(ctx);
    std::fprintf(stderr, "kinema: unknown command '%s' (see kinema --help)\n", cmd.c_str());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kinema: %s\n", e.what());
    return 2;
  }
}
