// The vectorised converters against the scalar reference in core (itself checked against torch
// in tests/core): every result must be bit-identical, NaN payloads included. CTest runs this
// binary once per instruction-set level, so the AVX-512, AVX2 and generic paths are all checked.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "common/refdata.h"
#include "core/quant.h"
#include "core/tensor.h"
#include "kernels/cpu/convert.h"

namespace kinema {
namespace {

std::vector<uint8_t> random_bytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = uint8_t(rng());
  return v;
}

// Every code of a 1- or 2-byte type, then a few more so that the row has a ragged tail.
std::vector<uint8_t> every_code(int bytes) {
  size_t codes = size_t(1) << (8 * bytes);
  std::vector<uint8_t> v((codes + 13) * size_t(bytes));
  for (size_t i = 0; i < codes + 13; ++i) {
    uint32_t c = uint32_t(i % codes);
    std::memcpy(v.data() + i * size_t(bytes), &c, size_t(bytes));
  }
  return v;
}

// f32 bit patterns that matter for rounding: specials, subnormals, ties, overflow to inf,
// signalling and quiet NaNs of both signs, then random patterns over the whole space.
std::vector<uint8_t> f32_specials_and_random(size_t random_count) {
  std::vector<uint32_t> bits = {
      0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000, 0x7f800001,
      0xff800001, 0x7fbfffff, 0x7fffffff, 0x00000001, 0x80000001, 0x007fffff, 0x00008000,
      0x00018000, 0x00800000, 0x3f808000, 0x3f818000, 0x3f807fff, 0x3f808001, 0xbf808000,
      0x7f7fffff, 0xff7fffff, 0x7f7f8000, 0x7f7f7fff, 0x477fe000, 0x33800000, 0x3f800000};
  std::mt19937 rng(99);
  for (size_t i = 0; i < random_count; ++i) bits.push_back(uint32_t(rng()));
  std::vector<uint8_t> v(bits.size() * 4);
  std::memcpy(v.data(), bits.data(), v.size());
  return v;
}

// Both directions for n values of `dtype` starting at `src`, against core's scalar reference.
void expect_matches_reference(DType dtype, const uint8_t* src, int64_t n) {
  SCOPED_TRACE(testing::Message() << name(dtype) << " n=" << n);
  std::vector<float> want(size_t(n) + 1), got(size_t(n) + 1, 0.0f);
  convert_to_f32(dtype, src, want.data(), n);
  // A sentinel after the row catches writes past its end.
  got[size_t(n)] = want[size_t(n)] = 12345.0f;
  cpu::convert_row_to_f32(dtype, src, got.data(), n);
  for (int64_t i = 0; i <= n; ++i) {
    uint32_t g, w;
    std::memcpy(&g, &got[size_t(i)], 4);
    std::memcpy(&w, &want[size_t(i)], 4);
    ASSERT_EQ(g, w) << "to f32 at " << i << ": got " << got[size_t(i)] << " want "
                    << want[size_t(i)];
  }
  std::vector<uint16_t> got16(size_t(n) + 1, 0x1234);
  cpu::convert_row_to_bf16(dtype, src, got16.data(), n);
  for (int64_t i = 0; i < n; ++i) {
    // bf16 to bf16 is a copy: signalling NaNs stay as they are.
    uint16_t want16 = f32_to_bf16(want[size_t(i)]);
    if (dtype == DType::BF16) std::memcpy(&want16, src + 2 * i, 2);
    ASSERT_EQ(got16[size_t(i)], want16) << "to bf16 at " << i << " from " << want[size_t(i)];
  }
  EXPECT_EQ(got16[size_t(n)], 0x1234) << "wrote past the row";
}

// Every length up to 3 vectors plus one, so that every tail size is seen.
void expect_all_lengths(DType dtype, const std::vector<uint8_t>& data) {
  auto elem = size_t(traits(dtype).block_bytes);
  for (int64_t n = 1; n <= 49; ++n) expect_matches_reference(dtype, data.data(), n);
  expect_matches_reference(dtype, data.data(), int64_t(data.size() / elem));
  // A misaligned start.
  expect_matches_reference(dtype, data.data() + elem, int64_t(data.size() / elem) - 1);
}

TEST(Convert, F16EveryCode) { expect_all_lengths(DType::F16, every_code(2)); }
TEST(Convert, Bf16EveryCode) { expect_all_lengths(DType::BF16, every_code(2)); }
TEST(Convert, F8E4M3EveryCode) { expect_all_lengths(DType::F8_E4M3, every_code(1)); }
TEST(Convert, F8E5M2EveryCode) { expect_all_lengths(DType::F8_E5M2, every_code(1)); }
TEST(Convert, F32RoundsToBf16AsTorch) {
  expect_all_lengths(DType::F32, f32_specials_and_random(100000));
}

// fp8 weights are made by core's encoders: values below half the smallest subnormal must give
// zero (they once came out as inf / NaN).
TEST(Convert, Fp8EncodersFlushTinyValuesToZero) {
  EXPECT_EQ(f8e5m2_to_f32(f32_to_f8e5m2(6.0e-6f)), 0.0f);
  EXPECT_EQ(f8e5m2_to_f32(f32_to_f8e5m2(-6.0e-6f)), -0.0f);
  EXPECT_EQ(f8e4m3_to_f32(f32_to_f8e4m3(7.0e-4f)), 0.0f);
  EXPECT_EQ(f8e4m3_to_f32(f32_to_f8e4m3(1.5e-3f)), 0.001953125f);  // rounds up to 2^-9
}

class ConvertBlocks : public testing::TestWithParam<DType> {};

// Random bytes reach every scale, including inf and NaN scales and every packed code.
TEST_P(ConvertBlocks, RandomBytes) {
  DType dtype = GetParam();
  const DTypeTraits& t = traits(dtype);
  int64_t blocks = 64;
  auto data = random_bytes(size_t(blocks * t.block_bytes), uint64_t(dtype) * 7 + 1);
  expect_matches_reference(dtype, data.data(), blocks * t.block_elems);
  expect_matches_reference(dtype, data.data() + t.block_bytes, t.block_elems);
}

// Blocks as a quantizer writes them, from weights of a realistic scale.
TEST_P(ConvertBlocks, QuantizedWeights) {
  DType dtype = GetParam();
  int64_t n = 4096;
  auto values = test::random_floats(size_t(n), 5, -0.05f, 0.05f);
  std::vector<uint8_t> blocks(*storage_bytes(dtype, uint64_t(n)));
  quantize_row(dtype, values.data(), blocks.data(), n);
  expect_matches_reference(dtype, blocks.data(), n);
}

INSTANTIATE_TEST_SUITE_P(AllBlockTypes, ConvertBlocks,
                         testing::Values(DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q5_K,
                                         DType::Q6_K),
                         [](const testing::TestParamInfo<DType>& param) {
                           return std::string(name(param.param));
                         });

TEST(Convert, TensorsSplitAcrossThreads) {
  auto ctx = ComputeContext::with_threads(2);
  for (DType dtype : {DType::F32, DType::F16, DType::Q4_K}) {
    auto values = test::random_floats(37 * 512, 11);
    Tensor src = Tensor::from_f32({37, 512}, values.data(), dtype);
    for (DType to : {DType::F32, DType::BF16}) {
      Tensor dst = Tensor::empty({37, 512}, to);
      cpu::convert(ctx, src, dst);
      Tensor want = src.to(DType::F32).to(to);  // core's reference path
      ASSERT_EQ(std::memcmp(dst.raw(), want.raw(), want.nbytes()), 0)
          << name(dtype) << " -> " << name(to);
    }
  }
}

TEST(Convert, RejectsWhatItCannotRead) {
  auto ctx = ComputeContext::with_threads(1);
  Tensor ints = Tensor::zeros({4, 4}, DType::I32);
  Tensor out = Tensor::empty({4, 4}, DType::F32);
  EXPECT_THROW(cpu::convert(ctx, ints, out), Error);
  Tensor f = Tensor::zeros({4, 4}, DType::F32);
  Tensor wrong_shape = Tensor::empty({4, 5}, DType::F32);
  EXPECT_THROW(cpu::convert(ctx, f, wrong_shape), Error);
  Tensor wrong_dtype = Tensor::empty({4, 4}, DType::F16);
  EXPECT_THROW(cpu::convert(ctx, f, wrong_dtype), Error);
  float buf[32];
  uint8_t block[34] = {};
  EXPECT_THROW(cpu::convert_row_to_f32(DType::Q8_0, block, buf, 31), Error);
}

}  // namespace
}  // namespace kinema
