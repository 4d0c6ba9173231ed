#include "kernels/cpu/norm_simd.h"
#include "kernels/cpu/simd_avx512.h"

namespace kinema::cpu::avx512 {
constinit const NormKernels norm_kernels = simd::norm_table<Simd>();
}  // namespace kinema::cpu::avx512
