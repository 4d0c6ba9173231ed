// Scaled dot-product attention that never materialises the Lq x Lk score matrix: query tiles
// against key tiles with an online (running max / running sum) softmax.
//
// Semantics (Wan's flash-attention call, spec 2.6.2): q, k, v are bf16; Q.K^T is accumulated in
// f32, scaled, soft-maxed in f32; the probabilities are rounded to bf16 before the P.V product,
// which is accumulated in f32; the output is rounded once. With f32 inputs (the VAE's
// single-head attention, spec 5.2) every step is f32 and nothing is rounded to bf16.
// The umT5 attention (spec 4.3: no scaling, an additive [H, Lq, Lk] position bias, logits and
// logits+bias rounded to bf16 before an f32 softmax) goes through the same kernel via options;
// the one difference from the reference is that P is rounded to bf16 before the division by
// the row sum, as in flash attention, rather than after.
//
// A query whose scores are all -inf (every key masked by the bias) gets a zero output row.
// Every path gives bitwise the same result for any number of threads.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "core/dtype.h"
#include "core/parallel.h"
#include "core/tensor.h"

namespace kinema::cpu {

// Which implementation runs. Auto picks the fastest one this processor (and KINEMA_ISA) allows;
// the others exist so that tests and benchmarks can compare every path on one machine.
enum class AttentionPath {
  Auto,
  Generic,     // portable C++, f32 math: the reference the vector paths are tested against
  Avx2,        // f32 FMA, 8 lanes (bf16 inputs are widened when packed)
  Avx512,      // f32 FMA, 16 lanes
  Avx512Bf16,  // vdpbf16ps for both products (bf16 inputs only)
  Amx,         // AMX tiles (tdpbf16ps) for both products (bf16 inputs only)
};

std::string_view attention_path_name(AttentionPath path);
// The paths this process can run for `dtype` inputs, slowest first (Generic is always there).
std::vector<AttentionPath> attention_paths(DType dtype);

// An additive score bias, read as bias[h * head_stride + i * row_stride + j] for query i, key j.
// head_stride 0 shares one [Lq, Lk] bias between heads.
struct AttentionBias {
  const void* data = nullptr;
  DType dtype = DType::F32;  // f32 or bf16
  int64_t head_stride = 0;
  int64_t row_stride = 0;
};

struct AttentionOptions {
  float scale = 0.0f;   // multiplies Q.K^T; 0 means 1/sqrt(head_dim). umT5 uses 1.
  int64_t kv_len = -1;  // only keys [0, kv_len) take part; -1 means all. Must be >= 1.
  AttentionBias bias;   // added after scaling, before the softmax
  // umT5 semantics: round scale*Q.K^T to bf16, then round (that + bias) to bf16.
  bool round_logits_bf16 = false;
  AttentionPath path = AttentionPath::Auto;
};

// The raw form: token rows may be strided (e.g. q, k, v slices of one fused QKV projection);
// within a token row the heads are head_dim elements apart.
struct AttentionProblem {
  DType dtype = DType::BF16;      // of q, k and v: bf16 or f32
  DType out_dtype = DType::BF16;  // bf16 or f32 (f32 inputs need f32 output)
  const void* q = nullptr;        // [q_len, heads, head_dim] with row stride q_stride
  const void* k = nullptr;        // [k_len, heads, head_dim] with row stride k_stride
  const void* v = nullptr;        // [k_len, heads, head_dim] with row stride v_stride
  void* out = nullptr;            // [q_len, heads, head_dim] with row stride out_stride
  int64_t q_len = 0, k_len = 0, heads = 0, head_dim = 0;
  int64_t q_stride = 0, k_stride = 0, v_stride = 0, out_stride = 0;  // elements per token row
};

// q: [Lq, H, D], k: [Lk, H, D], v: [Lk, H, D] -> out: [Lq, H, D] (written, must exist).
// q, k, v share one dtype (bf16 or f32); out is bf16 or f32.
void attention(const ComputeContext& ctx, const Tensor& q, const Tensor& k, const Tensor& v,
               Tensor& out, const AttentionOptions& options = {});
void attention(const ComputeContext& ctx, const AttentionProblem& problem,
               const AttentionOptions& options = {});

}  // namespace kinema::cpu
