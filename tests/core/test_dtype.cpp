#include <gtest/gtest.h>

#include <cmath>

#include "common/refdata.h"
#include "core/dtype.h"
#include "core/tensor.h"

namespace kinema {
namespace {

TEST(DType, Bf16MatchesTorchRounding) {
  Tensor x = test::ref("core", "convert_input");
  Tensor want = test::ref("core", "to_bf16");
  const float* xs = x.data<float>();
  const uint16_t* ws = want.data<uint16_t>();
  for (int64_t i = 0; i < x.numel(); ++i) {
    ASSERT_EQ(f32_to_bf16(xs[i]), ws[i]) << "at " << i << " x=" << xs[i];
    if (!std::isnan(xs[i])) {
      EXPECT_EQ(f32_to_bf16(bf16_to_f32(ws[i])), ws[i]);
    }
  }
}

TEST(DType, F16MatchesTorchRounding) {
  Tensor x = test::ref("core", "convert_input");
  Tensor want = test::ref("core", "to_f16");
  const float* xs = x.data<float>();
  const uint16_t* ws = want.data<uint16_t>();
  for (int64_t i = 0; i < x.numel(); ++i) {
    ASSERT_EQ(f32_to_f16(xs[i]), ws[i]) << "at " << i << " x=" << xs[i];
    float back = f16_to_f32(ws[i]);
    if (!std::isnan(back)) {
      EXPECT_EQ(f32_to_f16(back), ws[i]);
    }
  }
}

void check_fp8(const char* table, float (*decode)(uint8_t), uint8_t (*encode)(float)) {
  Tensor want = test::ref("core", table);
  for (int code = 0; code < 256; ++code) {
    float w = want.data<float>()[code];
    float got = decode(uint8_t(code));
    if (std::isnan(w)) {
      EXPECT_TRUE(std::isnan(got)) << table << " code " << code;
      continue;
    }
    EXPECT_EQ(got, w) << table << " code " << code;
    if (!std::isinf(w) && !(w == 0.0f && code == 0x80)) {
      EXPECT_EQ(encode(w), code) << table << " code " << code;
    }
  }
}

TEST(DType, Fp8E4M3DecodesAndRoundTrips) {
  check_fp8("f8e4m3_table", f8e4m3_to_f32, f32_to_f8e4m3);
}
TEST(DType, Fp8E5M2DecodesAndRoundTrips) {
  check_fp8("f8e5m2_table", f8e5m2_to_f32, f32_to_f8e5m2);
}

TEST(DType, Fp8RoundsToNearestEven) {
  // 1.0625 is halfway between 1.0 and 1.125 in e4m3: ties go to the even code (1.0).
  EXPECT_EQ(f8e4m3_to_f32(f32_to_f8e4m3(1.0625f)), 1.0f);
  EXPECT_EQ(f8e4m3_to_f32(f32_to_f8e4m3(1.1875f)), 1.25f);
  EXPECT_EQ(f8e4m3_to_f32(f32_to_f8e4m3(460.0f)), 448.0f);
  EXPECT_TRUE(std::isnan(f8e4m3_to_f32(f32_to_f8e4m3(1000.0f))));
  EXPECT_TRUE(std::isinf(f8e5m2_to_f32(f32_to_f8e5m2(1e6f))));
}

TEST(DType, StorageBytes) {
  EXPECT_EQ(*storage_bytes(DType::BF16, 10), 20u);
  EXPECT_EQ(*storage_bytes(DType::Q4_K, 512), 288u);
  EXPECT_FALSE(storage_bytes(DType::Q8_0, 33).has_value());
  EXPECT_FALSE(storage_bytes(DType::F32, uint64_t(1) << 63).has_value());
  EXPECT_EQ(dtype_from_name("q6_k"), DType::Q6_K);
  EXPECT_FALSE(dtype_from_name("q3_k").has_value());
}

TEST(Tensor, ViewsReshapeAndSlice) {
  auto values = test::random_floats(24, 7);
  Tensor t = Tensor::from_f32({2, 3, 4}, values.data());
  Tensor r = t.reshape({6, 4});
  EXPECT_EQ(r.raw(), t.raw());
  Tensor s = r.slice_rows(2, 5);
  EXPECT_EQ(s.shape(), Shape({3, 4}));
  EXPECT_EQ(s.data<float>()[0], values[8]);
  EXPECT_THROW(t.reshape({5, 5}), Error);
  EXPECT_THROW(r.slice_rows(4, 7), Error);
  auto owner = std::make_shared<int>(0);
  Tensor v = Tensor::view(owner, values.data(), {24}, DType::F32);
  EXPECT_FALSE(v.writable());
  EXPECT_THROW(v.mutable_raw(), Error);
  EXPECT_TRUE(v.clone().writable());
}

TEST(Tensor, ConvertsThroughBf16) {
  auto values = test::random_floats(64, 3);
  Tensor t = Tensor::from_f32({64}, values.data()).to(DType::BF16);
  auto back = t.to_f32_vector();
  for (size_t i = 0; i < values.size(); ++i)
    EXPECT_EQ(back[i], bf16_to_f32(f32_to_bf16(values[i])));
}

}  // namespace
}  // namespace kinema
