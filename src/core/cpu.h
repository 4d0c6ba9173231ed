// What this processor can do, read once, and the instruction-set level kernels dispatch on.
#pragma once

#include <string_view>

namespace kinema {

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;
  bool avx512bf16 = false, avx512vnni = false;
  bool amx_bf16 = false;
};

const CpuFeatures& cpu_features();

// Kernel levels, each a superset of the one before.
enum class Isa : int {
  Generic = 0,     // portable C++, any processor
  Avx2 = 1,        // AVX2 + FMA + F16C
  Avx512 = 2,      // AVX-512 F/BW/VL/DQ
  Avx512Bf16 = 3,  // plus AVX512-BF16 and VNNI
};

std::string_view isa_name(Isa isa);
// The best level this processor supports, capped by the KINEMA_ISA environment variable
// (generic, avx2, avx512, avx512bf16) so that tests and benchmarks can exercise every path.
Isa active_isa();
// The best level this processor supports, ignoring KINEMA_ISA.
Isa detected_isa();

}  // namespace kinema
