#include "kernels/cpu/activation_simd.h"
#include "kernels/cpu/simd_avx2.h"

namespace kinema::cpu::avx2 {
constinit const ActivationKernels activation_kernels = simd::activation_table<Simd>();
}  // namespace kinema::cpu::avx2
