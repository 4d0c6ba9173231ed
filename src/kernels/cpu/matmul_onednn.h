// oneDNN matmul primitives behind matmul.h, created once per problem and reused. Internal to the
// kernels layer: nothing of oneDNN leaks into the public headers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "core/dtype.h"
#include "core/parallel.h"

namespace kinema::cpu::onednn {

// How the B operand of C = A·B is stored.
enum class BLayout {
  Transposed,  // [N, K] row-major, a Linear weight: C = A·Bᵀ
  Plain,       // [K, N] row-major
  Packed,      // oneDNN's preferred blocked layout for this processor, made by pack_b()
};

// C[M, N] = A[M, K] · B[K, N] (+ bias[N]), f32 accumulation, all row-major and dense: oneDNN
// 2.6 runs its AMX and AVX-512 kernels only on a dense C (a strided one falls back to much slower
// kernels, for a packed B to the reference loop).
struct Gemm {
  int64_t m = 0, k = 0, n = 0;
  DType ab = DType::F32;  // A and B: f32 or bf16
  DType c = DType::F32;   // f32, or bf16 (one rounding at the end) when ab is bf16
  BLayout layout = BLayout::Transposed;
  bool bias = false;  // f32 [N], added in f32 before C's rounding
  int64_t ldb = 0;    // Plain layout only: the row stride of B when it is not N (a column panel)
};

// Runs g on ctx.threads threads of the shared OpenMP pool. Pointers are unaligned-safe;
// bias may be null when !g.bias.
//
// The result does not depend on ctx.threads. oneDNN splits the K sum across threads for some
// short-and-wide products (measured on AMX: [20, 4096] x [4096, 10240] differs between 1, 2 and 16
// threads), so products of fewer than kFixedPartitionRows rows are cut into column panels of
// kPanelColumns whatever the thread count, each computed by a single-threaded call; taller ones,
// where oneDNN parallelises over rows and columns only, run as one call.
void run(const ComputeContext& ctx, const Gemm& g, const void* a, const void* b, const float* bias,
         void* c);
inline constexpr int64_t kFixedPartitionRows = 512, kPanelColumns = 256;

// B [K, N] of type ab (f32 or bf16) in the packed layout: its size, and the packing of a
// [N, K] row-major weight of that type into it. The layout is fixed per (K, N, type) for the
// life of the process, whatever M and thread count later use it.
size_t packed_bytes(int64_t k, int64_t n, DType ab);
void pack_b(const ComputeContext& ctx, int64_t k, int64_t n, DType ab, const void* w_nk,
            void* packed);

// The packed layout spelled out, when it has the form pack_weight() (matmul_pack.cpp) writes,
// as it does on every AVX-512 processor with oneDNN 2.6 ("BA16a64b2a" for bf16, "BA16a64b" for
// f32): N in blocks of n_block columns, each block a contiguous run of K blocks; a K block holds
// k_block rows of n_block columns of `pair` consecutive K values. K and N are zero-padded to
// whole blocks. Strides are in elements.
struct PackedLayout {
  int64_t k_padded = 0, n_padded = 0;
  int64_t k_block = 0, n_block = 0, pair = 1;
  int64_t k_block_stride = 0, n_block_stride = 0;
  size_t bytes = 0;
};
std::optional<PackedLayout> packed_layout(int64_t k, int64_t n, DType ab);

// The implementation oneDNN picks for g (e.g. "brg:avx512_core_amx_bf16"), for reports.
std::string implementation(const ComputeContext& ctx, const Gemm& g);

}  // namespace kinema::cpu::onednn
