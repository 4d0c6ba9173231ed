#include "kernels/cpu/simd_avx2.h"
#include "kernels/cpu/norm_simd.h"

namespace kinema::cpu::avx2 {
constinit const NormKernels norm_kernels = simd::norm_table<Simd>();
}  // namespace kinema::cpu::avx2
