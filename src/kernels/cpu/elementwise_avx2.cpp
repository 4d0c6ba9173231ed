#include "kernels/cpu/elementwise_simd.h"
#include "kernels/cpu/simd_avx2.h"

namespace kinema::cpu::avx2 {
constinit const ElementwiseKernels elementwise_kernels = simd::elementwise_table<Simd>();
}  // namespace kinema::cpu::avx2
