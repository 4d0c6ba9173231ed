// Wan's 3-D RoPE against a PyTorch transcription of rope_params / rope_apply (ref_rope.py,
// complex128 math).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "common/refdata.h"
#include "core/error.h"
#include "kernels/cpu/rope.h"

namespace kinema {
namespace {

void check_rope(const std::string& name) {
  Tensor x = test::ref("kernels", "rope_" + name + "_x");
  Tensor want = test::ref("kernels", "rope_" + name + "_y");
  Tensor grid_t = test::ref("kernels", "rope_" + name + "_grid");
  std::vector<float> g = grid_t.to_f32_vector();
  cpu::RopeGrid grid{int64_t(g[0]), int64_t(g[1]), int64_t(g[2])};
  cpu::RopeTable table(grid, x.dim(2));
  Tensor y = x.clone();
  cpu::rope_wan(ComputeContext{2}, y, table);
  // Both sides round a float64 rotation once to f32; the cos/sin and product roundings can
  // differ in the last float64 bits, which moves an f32 result by at most one ulp.
  const float* got = y.data<float>();
  const float* w = want.data<float>();
  int64_t off_by_one = 0;
  for (int64_t i = 0; i < y.numel(); ++i) {
    if (got[i] == w[i]) continue;
    ASSERT_TRUE(got[i] == std::nextafter(w[i], INFINITY) ||
                got[i] == std::nextafter(w[i], -INFINITY))
        << name << " element " << i << ": got " << got[i] << ", want " << w[i];
    ++off_by_one;
  }
  EXPECT_LE(off_by_one, y.numel() / 1000) << "more than 0.1% of the elements are one ulp off";
  // Padding tokens (past the grid) pass through untouched.
  int64_t row = x.dim(1) * x.dim(2);
  EXPECT_EQ(
      std::memcmp(y.data<float>() + grid.tokens() * row, x.data<float>() + grid.tokens() * row,
                  size_t((x.dim(0) - grid.tokens()) * row) * 4),
      0);
}

TEST(Rope, Wan128WithPadding) { check_rope("wan128"); }
TEST(Rope, HeadDim64) { check_rope("d64"); }
TEST(Rope, HeadDim38) { check_rope("d38"); }
TEST(Rope, FarTemporalPositions) { check_rope("far_t"); }
TEST(Rope, FarWidthPositions) { check_rope("far_w"); }

TEST(Rope, BandSplit) {
  cpu::RopeTable t128({1, 1, 1}, 128), t64({1, 1, 1}, 64);
  EXPECT_EQ(t128.band_pairs(), (std::array<int64_t, 3>{22, 21, 21}));
  EXPECT_EQ(t64.band_pairs(), (std::array<int64_t, 3>{12, 10, 10}));
  // Position (0, 0, 0) is the identity.
  std::vector<double> c(64), s(64);
  t128.angles(0, c.data(), s.data());
  for (int p = 0; p < 64; ++p) EXPECT_TRUE(c[size_t(p)] == 1.0 && s[size_t(p)] == 0.0);
}

TEST(Rope, RejectsMismatches) {
  cpu::RopeTable table({2, 2, 2}, 128);
  Tensor short_x = Tensor::zeros({7, 1, 128}, DType::F32);  // fewer tokens than the grid
  EXPECT_THROW(cpu::rope_wan(ComputeContext{1}, short_x, table), Error);
  Tensor wrong_d = Tensor::zeros({8, 1, 64}, DType::F32);
  EXPECT_THROW(cpu::rope_wan(ComputeContext{1}, wrong_d, table), Error);
  EXPECT_THROW(cpu::RopeTable({0, 2, 2}, 128), Error);
}

}  // namespace
}  // namespace kinema
