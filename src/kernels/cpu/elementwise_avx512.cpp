#include "kernels/cpu/elementwise_simd.h"
#include "kernels/cpu/simd_avx512.h"

namespace kinema::cpu::avx512 {
constinit const ElementwiseKernels elementwise_kernels = simd::elementwise_table<Simd>();
}  // namespace kinema::cpu::avx512
