// This machine's compute peaks, measured in the same run as the kernels they judge: register-
// only loops of the widest multiply-add each unit has. Benchmarks report their GFLOP/s as a
// fraction of these.
#pragma once

namespace kinema::bench {

enum class PeakUnit {
  F32Fma,   // vfmadd231ps zmm: 16 lanes x 2 flop
  Bf16Dot,  // vdpbf16ps zmm (AVX512-BF16): 16 lanes x 2 products x 2 flop
  AmxBf16,  // tdpbf16ps (AMX): a 16x32 by 32x16 bf16 tile product, 16384 flop
};

const char* peak_unit_name(PeakUnit unit);
// Whether this processor (and, for AMX, the kernel) lets us run the unit.
bool peak_unit_available(PeakUnit unit);
// GFLOP/s of `unit` on `threads` threads, measured for about `seconds`.
double measure_peak_gflops(PeakUnit unit, int threads, double seconds);
// The same, measured once per (unit, threads) and remembered for the run; 0 if unavailable.
double peak_gflops(PeakUnit unit, int threads);

}  // namespace kinema::bench
