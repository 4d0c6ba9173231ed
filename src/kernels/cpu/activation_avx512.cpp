#include "kernels/cpu/activation_simd.h"
#include "kernels/cpu/simd_avx512.h"

namespace kinema::cpu::avx512 {
constinit const ActivationKernels activation_kernels = simd::activation_table<Simd>();
}  // namespace kinema::cpu::avx512
