#include "core/cpu.h"

#include <cstdlib>
#include <string>

#include "core/error.h"

namespace kinema {
namespace {

CpuFeatures detect() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  f.avx2 = __builtin_cpu_supports("avx2");
  f.fma = __builtin_cpu_supports("fma");
  f.f16c = true;  // every AVX2 processor we target has F16C; checked again via cpuid below
  f.avx512f = __builtin_cpu_supports("avx512f");
  f.avx512bw = __builtin_cpu_supports("avx512bw");
  f.avx512vl = __builtin_cpu_supports("avx512vl");
  f.avx512dq = __builtin_cpu_supports("avx512dq");
  f.avx512vnni = __builtin_cpu_supports("avx512vnni");
  unsigned eax, ebx, ecx, edx;
  __asm__("cpuid" : "=a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx) : "a"(1), "c"(0));
  f.f16c = (ecx >> 29) & 1;
  __asm__("cpuid" : "=a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx) : "a"(7), "c"(1));
  f.avx512bf16 = (eax >> 5) & 1;
  __asm__("cpuid" : "=a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx) : "a"(7), "c"(0));
  f.amx_bf16 = (edx >> 22) & 1;
#endif
  return f;
}

Isa detect_isa(const CpuFeatures& f) {
  bool avx2 = f.avx2 && f.fma && f.f16c;
  bool avx512 = avx2 && f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq;
  if (avx512 && f.avx512bf16 && f.avx512vnni) return Isa::Avx512Bf16;
  if (avx512) return Isa::Avx512;
  if (avx2) return Isa::Avx2;
  return Isa::Generic;
}

Isa isa_from_env(Isa detected) {
  const char* env = std::getenv("KINEMA_ISA");
  if (!env || !*env) return detected;
  std::string v(env);
  Isa wanted;
  if (v == "generic")
    wanted = Isa::Generic;
  else if (v == "avx2")
    wanted = Isa::Avx2;
  else if (v == "avx512")
    wanted = Isa::Avx512;
  else if (v == "avx512bf16")
    wanted = Isa::Avx512Bf16;
  else
    fail("KINEMA_ISA='", v, "' is not one of generic, avx2, avx512, avx512bf16");
  return int(wanted) < int(detected) ? wanted : detected;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect();
  return features;
}

Isa detected_isa() {
  static const Isa isa = detect_isa(cpu_features());
  return isa;
}

Isa active_isa() {
  static const Isa isa = isa_from_env(detected_isa());
  return isa;
}

std::string_view isa_name(Isa isa) {
  switch (isa) {
    case Isa::Generic: return "generic";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
    case Isa::Avx512Bf16: return "avx512bf16";
  }
  return "?";
}

}  // namespace kinema
