// The kinema command-line tool.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

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

int run_system() {
  const auto& f = kinema::cpu_features();
  std::printf("instruction set: %s (detected %s)\n", std::string(kinema::isa_name(kinema::active_isa())).c_str(),
              std::string(kinema::isa_name(kinema::detected_isa())).c_str());
  std::printf("avx2 %d, fma %d, f16c %d, avx512f %d, avx512bf16 %d, avx512vnni %d, amx_bf16 %d\n",
              f.avx2, f.fma, f.f16c, f.avx512f, f.avx512bf16, f.avx512vnni, f.amx_bf16);
  std::printf("hardware threads: %d\n", kinema::hardware_threads());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc < 2) {
      std::fputs(kUsage, stdout);
      return 0;
    }
    std::string cmd = argv[1];
    if (cmd == "-h" || cmd == "--help" || cmd == "help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (cmd == "--version" || cmd == "version") {
      std::printf("kinema %s\n", KINEMA_VERSION);
      return 0;
    }
    if (cmd == "system") return run_system();
    std::fprintf(stderr, "kinema: unknown command '%s' (see kinema --help)\n", cmd.c_str());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kinema: %s\n", e.what());
    return 2;
  }
}
