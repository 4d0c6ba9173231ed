// Internal to the attention kernel family: the block kernels each instruction-set level provides
// to the one tiling driver in attention.cpp.
//
// The driver packs K and V once per head into blocks of `k_block` keys, then runs one task per
// (head, block of `q_block` queries). A task packs its queries, and for each key block computes
// the scores S = Q.K^T (f32), updates the running max m and sum l and turns S into
// probabilities P (softmax), and folds P.V into the f32 accumulator O, rescaled by
// alpha = exp(m_old - m_new) (accumulate). finish() writes O / l.
//
// Packed layouts are private to each level; the driver only sizes them: Q is q_block rows of
// d_pad elements, a K or V block is k_block rows of d_pad elements, P is q_block rows of
// k_block elements, all of `elem_bytes` each. Padding (rows, columns, keys) is zero.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace kinema::cpu::attention_detail {

// Everything multiple of this many keys: the unit of the packed K chunks and of the AMX tiles.
constexpr int kKeyChunk = 32;
// The largest q_block of any level (per-row scratch on the stack).
constexpr int kMaxQBlock = 128;

struct SoftmaxBlock {
  float* s;      // [q_block, ld] scores; rows >= `rows` and columns >= `cols` are ignored
  int64_t ld;    // row stride of s and p (= k_block)
  int rows;      // valid query rows
  int cols;      // valid keys in this block
  int k_used;    // columns of p to write: cols rounded up to kKeyChunk (the tail gets 0)
  float scale;   // multiplies s (1 when the driver already applied scale and bias)
  float* m;      // running max of the scaled scores, per row (-inf before the first block)
  float* l;      // running sum of exp(score - m), per row
  float* alpha;  // out: exp(m_old - m_new), the factor the accumulator must be rescaled by
  void* p;       // out: probabilities exp(score - m_new) in the level's element type
  bool round_p;  // f32 levels on bf16 inputs: round P to bf16 values as the bf16 levels do
};

struct BlockKernels {
  int q_block;     // queries per task
  int k_block;     // keys per block, a multiple of kKeyChunk
  int d_align;     // head_dim is padded to a multiple of this
  int elem_bytes;  // bytes per packed Q, K, V and P element (2: bf16, 4: f32)

  // Packs `rows` token rows (stride in elements) of `d` values of `dtype` into `n_rows` rows of
  // `d_pad` columns. K and V pack a whole block (n_rows = k_block).
  void (*pack_q)(const void* src, DType dtype, int64_t stride, int rows, int d, int n_rows,
                 int d_pad, void* dst);
  void (*pack_k)(const void* src, DType dtype, int64_t stride, int rows, int d, int n_rows,
                 int d_pad, void* dst);
  void (*pack_v)(const void* src, DType dtype, int64_t stride, int rows, int d, int n_rows,
                 int d_pad, void* dst);
  // s[i][j] = q_i . k_j for all q_block rows and the first k_used keys; s has row stride ld.
  void (*scores)(const void* q, const void* k, int d_pad, int k_used, int64_t ld, float* s);
  void (*softmax)(const SoftmaxBlock& block);
  // o[i] = o[i] * alpha[i] + sum_{j < k_used} p[i][j] v_j for all q_block rows; p has row
  // stride ld, o is [q_block, d_pad].
  void (*accumulate)(const void* p, const void* v, const float* alpha, int d_pad, int k_used,
                     int64_t ld, float* o);
  // out row i = o[i] / l[i] (0 where l is 0), the first d columns, for `rows` rows.
  void (*finish)(const float* o, const float* l, int rows, int d, int d_pad, void* out,
                 DType out_dtype, int64_t out_stride);
  // The umT5 logit transform of a block of raw scores, in place: s = s * scale, rounded to bf16
  // if round_bf16, plus bias[i * bias_row_stride + j] (bf16 or f32; none if null), rounded
  // again. For rows < `rows`, columns < `cols`. May be null: the driver's scalar version runs.
  void (*transform)(float* s, int64_t ld, int rows, int cols, float scale, const void* bias,
                    DType bias_dtype, int64_t bias_row_stride, bool round_bf16) = nullptr;
  // Per-task setup and teardown (AMX tile configuration); may be null.
  void (*begin_task)() = nullptr;
  void (*end_task)() = nullptr;
};

// One table per level, each defined in its own file (attention_<level>.cpp).
namespace generic {
const BlockKernels& block_kernels();
}
namespace avx2 {
const BlockKernels& block_kernels();
}
namespace avx512 {
const BlockKernels& block_kernels();
}
namespace avx512bf16 {
const BlockKernels& block_kernels();
// The AMX level reuses the vdpbf16ps level's packing, softmax and finish.
void pack_rows_bf16(const void* src, DType dtype, int64_t stride, int rows, int d, int n_rows,
                    int d_pad, void* dst);
void pack_k_pairs(const void* src, DType dtype, int64_t stride, int rows, int d, int n_rows,
                  int d_pad, void* dst);
void pack_v_pairs(const void* src, DType dtype, int64_t stride, int rows, int d, int n_rows,
                  int d_pad, void* dst);
void softmax_block(const SoftmaxBlock& block);
void finish_rows(const float* o, const float* l, int rows, int d, int d_pad, void* out,
                 DType out_dtype, int64_t out_stride);
void transform_logits(float* s, int64_t ld, int rows, int cols, float scale, const void* bias,
                      DType bias_dtype, int64_t bias_row_stride, bool round_bf16);
}  // namespace avx512bf16
namespace amx {
// Null when the processor or the kernel does not allow AMX (asks the kernel once).
const BlockKernels* block_kernels();
}  // namespace amx

}  // namespace kinema::cpu::attention_detail
