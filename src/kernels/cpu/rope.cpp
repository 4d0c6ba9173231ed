// RoPE tables, the portable rotation (the reference) and the dispatch.
#include "kernels/cpu/rope.h"

#include <cmath>

#include "core/cpu.h"
#include "core/error.h"

namespace kinema::cpu {

void rope_detail::rotate_pairs(float* x, int64_t heads, int64_t d, const double* c, const double* s,
                               int64_t first_pair) {
  for (int64_t h = 0; h < heads; ++h) {
    float* xh = x + h * d;
    for (int64_t p = first_pair; p < d / 2; ++p) {
      double a = xh[2 * p], b = xh[2 * p + 1];
      // Both products rounded, then one add: the complex128 multiply of the reference.
      double ac = a * c[p], bs = b * s[p], as = a * s[p], bc = b * c[p];
      xh[2 * p] = float(ac - bs);
      xh[2 * p + 1] = float(bc + as);
    }
  }
}

namespace {

void rotate_token_generic(float* x, int64_t heads, int64_t d, const double* c, const double* s) {
  rope_detail::rotate_pairs(x, heads, d, c, s, 0);
}

rope_detail::TokenFn token_impl() {
  switch (active_isa()) {
    case Isa::Generic: return rotate_token_generic;
    case Isa::Avx2: return rope_detail::avx2::rotate_token;
    case Isa::Avx512:
    case Isa::Avx512Bf16: return rope_detail::avx512::rotate_token;
  }
  return rotate_token_generic;
}

}  // namespace

RopeTable::RopeTable(const RopeGrid& grid, int64_t head_dim) : grid_(grid), head_dim_(head_dim) {
  if (head_dim < 6 || head_dim % 2 != 0)
    fail("RopeTable: head_dim must be even and at least 6, got ", head_dim);
  if (grid.frames < 1 || grid.height < 1 || grid.width < 1)
    fail("RopeTable: grid (", grid.frames, ", ", grid.height, ", ", grid.width,
         ") must be positive");
  int64_t side = head_dim / 6;
  band_pairs_ = {head_dim / 2 - 2 * side, side, side};
  const int64_t positions[3] = {grid.frames, grid.height, grid.width};
  for (int axis = 0; axis < 3; ++axis) {
    int64_t pairs = band_pairs_[size_t(axis)];
    double band_dims = double(2 * pairs);
    std::vector<double> theta(static_cast<size_t>(pairs));
    for (int64_t j = 0; j < pairs; ++j)
      theta[size_t(j)] = 1.0 / std::pow(10000.0, double(2 * j) / band_dims);
    auto& cs = cos_[size_t(axis)];
    auto& sn = sin_[size_t(axis)];
    cs.resize(size_t(positions[axis] * pairs));
    sn.resize(cs.size());
    for (int64_t pos = 0; pos < positions[axis]; ++pos)
      for (int64_t j = 0; j < pairs; ++j) {
        double angle = double(pos) * theta[size_t(j)];
        cs[size_t(pos * pairs + j)] = std::cos(angle);
        sn[size_t(pos * pairs + j)] = std::sin(angle);
      }
  }
}

void RopeTable::angles(int64_t token, double* c, double* s) const {
  const int64_t w = token % grid_.width, rest = token / grid_.width;
  const int64_t pos[3] = {rest / grid_.height, rest % grid_.height, w};
  int64_t out = 0;
  for (int axis = 0; axis < 3; ++axis) {
    int64_t pairs = band_pairs_[size_t(axis)];
    const double* cs = cos_[size_t(axis)].data() + pos[axis] * pairs;
    const double* sn = sin_[size_t(axis)].data() + pos[axis] * pairs;
    for (int64_t j = 0; j < pairs; ++j, ++out) {
      c[out] = cs[j];
      s[out] = sn[j];
    }
  }
}

void rope_wan(const ComputeContext& ctx, float* x, int64_t len, int64_t heads, int64_t row_stride,
              const RopeTable& table) {
  const int64_t d = table.head_dim(), tokens = table.grid().tokens();
  if (len < tokens)
    fail("rope_wan: ", len, " tokens, fewer than the grid's ", tokens, " (", table.grid().frames,
         " x ", table.grid().height, " x ", table.grid().width, ")");
  if (heads < 1 || row_stride < heads * d)
    fail("rope_wan: row stride ", row_stride, " is less than heads*head_dim = ", heads * d);
  rope_detail::TokenFn rotate = token_impl();
  parallel_for(ctx, tokens, 64, [&](int64_t begin, int64_t end) {
    std::vector<double> c(size_t(d / 2)), s(size_t(d / 2));
    for (int64_t t = begin; t < end; ++t) {
      table.angles(t, c.data(), s.data());
      rotate(x + t * row_stride, heads, d, c.data(), s.data());
    }
  });
}

void rope_wan(const ComputeContext& ctx, Tensor& x, const RopeTable& table) {
  if (x.rank() != 3 || x.dtype() != DType::F32 || x.dim(2) != table.head_dim())
    fail("rope_wan: x must be [L, heads, ", table.head_dim(), "] f32, got ", x.shape().str(), " ",
         name(x.dtype()));
  rope_wan(ctx, x.mutable_data<float>(), x.dim(0), x.dim(1), x.dim(1) * x.dim(2), table);
}

}  // namespace kinema::cpu
