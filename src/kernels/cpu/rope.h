// Wan's 3-D rotary position embedding (spec 2.5): a head's d/2 interleaved pairs (2p, 2p+1) are
// split into a temporal band of d/2 - 2*floor(d/6) pairs and height and width bands of
// floor(d/6) pairs each (22/21/21 for d = 128). Pair j of a band of real width D_s turns by
// pos * theta_j, theta_j = 1 / 10000^(2j / D_s), where pos is the token's frame, row or column.
// Tables and the rotation are float64, from the f32 input, rounded once to f32, as the
// reference's complex128 rope_apply.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "core/parallel.h"
#include "core/tensor.h"

namespace kinema::cpu {

// The token grid after patching: tokens are ordered (frame, row, column), column fastest.
struct RopeGrid {
  int64_t frames = 0, height = 0, width = 0;
  int64_t tokens() const { return frames * height * width; }
};

// The cos/sin tables for one grid and head dim, built once and shared by every block.
class RopeTable {
 public:
  RopeTable(const RopeGrid& grid, int64_t head_dim);

  const RopeGrid& grid() const { return grid_; }
  int64_t head_dim() const { return head_dim_; }
  // Pairs in the temporal, height and width bands.
  const std::array<int64_t, 3>& band_pairs() const { return band_pairs_; }
  // The head_dim/2 cos and sin values of the token at `token` (< grid().tokens()).
  void angles(int64_t token, double* cos, double* sin) const;

 private:
  RopeGrid grid_;
  int64_t head_dim_;
  std::array<int64_t, 3> band_pairs_;
  // Per band: [positions along that axis][band pairs].
  std::array<std::vector<double>, 3> cos_, sin_;
};

// x: [L, H, D] f32, rotated in place; D = table.head_dim(), L >= the grid's tokens (the tokens
// past the grid, padding, are left as they are).
void rope_wan(const ComputeContext& ctx, Tensor& x, const RopeTable& table);
// The raw form: `len` token rows of `heads` * head_dim f32 values, row_stride elements apart.
void rope_wan(const ComputeContext& ctx, float* x, int64_t len, int64_t heads, int64_t row_stride,
              const RopeTable& table);

namespace rope_detail {
// Rotates one token's heads: x[h*d + 2p], x[h*d + 2p+1] by the angle whose cos and sin are
// c[p], s[p]. One per instruction-set level.
using TokenFn = void (*)(float* x, int64_t heads, int64_t d, const double* c, const double* s);
// The portable rotation of pairs [first_pair, d/2) of every head (the reference, and the vector
// levels' tail).
void rotate_pairs(float* x, int64_t heads, int64_t d, const double* c, const double* s,
                  int64_t first_pair);
namespace avx2 {
void rotate_token(float* x, int64_t heads, int64_t d, const double* c, const double* s);
}
namespace avx512 {
void rotate_token(float* x, int64_t heads, int64_t d, const double* c, const double* s);
}
}  // namespace rope_detail

}  // namespace kinema::cpu
