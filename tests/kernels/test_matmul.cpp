// linear() and matmul() against PyTorch 1.13 (ref_matmul.py) for f32 and bf16 weights, and
// against the f64 reference (dequantize, then multiply) for the weight types torch lacks.
//
// Tolerances follow from the arithmetic:
//   f32 sums of K products of values bounded by |x|, |w|: rounding errors grow about like
//   sqrt(K) ulps of the terms, so abs 1e-5·sqrt(K)·max|x|·max|w| (far below the 2^-9 relative
//   error that rounding the inputs to bf16 would cause, so an F32 path that did would fail);
//   a bf16 output adds its own rounding: rel 2^-7 (two bf16 ulps). Against torch's own bf16
//   output, at least 97% of the values must also be bit-identical: rounding the product and
//   adding the bias afterwards (double rounding) breaks about a quarter of them.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "common/refdata.h"
#include "core/cpu.h"
#include "core/tensor.h"
#include "kernels/cpu/matmul.h"

namespace kinema {
namespace {

using cpu::MatmulPrecision;

const ComputeContext& ctx() {
  static const ComputeContext c = ComputeContext::with_threads(2);
  return c;
}

float max_abs(const Tensor& t) {
  float m = 0.0f;
  for (float v : t.to_f32_vector()) m = std::max(m, std::fabs(v));
  return m;
}

test::Tolerance f32_sum_tol(const Tensor& x, const Tensor& w) {
  double k = double(x.dim(1));
  return {1e-5 * std::sqrt(k) * max_abs(x) * max_abs(w), 1e-5};
}

test::Tolerance bf16_out_tol(const Tensor& x, const Tensor& w) {
  return {f32_sum_tol(x, w).abs, 1.0 / 128};
}

test::Tolerance tol_for(const Tensor& x, const Tensor& w, DType out) {
  return out == DType::BF16 ? bf16_out_tol(x, w) : f32_sum_tol(x, w);
}

::testing::AssertionResult mostly_bit_identical(const Tensor& got, const Tensor& want,
                                                double min_fraction) {
  const auto* g = got.data<uint16_t>();
  const auto* w = want.data<uint16_t>();
  int64_t same = 0;
  for (int64_t i = 0; i < got.numel(); ++i) same += g[i] == w[i];
  double fraction = double(same) / double(got.numel());
  if (fraction >= min_fraction) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "only " << same << " of " << got.numel() << " bf16 values bit-identical to torch";
}

Tensor linear_of(const Tensor& x, const Tensor& w, const Tensor* b, DType out,
                 MatmulPrecision precision) {
  Tensor y = Tensor::empty({x.dim(0), w.dim(0)}, out);
  cpu::linear(ctx(), x, w, b, y, precision);
  return y;
}

Tensor packed_linear_of(const Tensor& x, const Tensor& w, const Tensor* b, DType out,
                        MatmulPrecision precision) {
  Tensor y = Tensor::empty({x.dim(0), w.dim(0)}, out);
  cpu::linear(ctx(), x, cpu::PackedWeight::pack(ctx(), w, precision), b, y);
  return y;
}

Tensor reference_of(const Tensor& x, const Tensor& w, const Tensor* b, DType out,
                    MatmulPrecision precision) {
  Tensor y = Tensor::empty({x.dim(0), w.dim(0)}, out);
  cpu::linear_reference(x, w, b, y, precision);
  return y;
}

class LinearVsTorch : public testing::TestWithParam<std::string> {
 protected:
  Tensor ref(const std::string& what) const {
    return test::ref("kernels", "linear_" + GetParam() + "_" + what);
  }
};

TEST_P(LinearVsTorch, F32) {
  Tensor x = ref("x"), w = ref("w"), b = ref("b"), want = ref("f32");
  auto tol = f32_sum_tol(x, w);
  EXPECT_TRUE(test::all_close(linear_of(x, w, &b, DType::F32, MatmulPrecision::F32), want, tol));
  EXPECT_TRUE(
      test::all_close(packed_linear_of(x, w, &b, DType::F32, MatmulPrecision::F32), want, tol));
  // A bf16 output is the f32 result rounded once.
  EXPECT_TRUE(test::all_close(linear_of(x, w, &b, DType::BF16, MatmulPrecision::F32), want,
                              bf16_out_tol(x, w)));
  // bf16 inputs are widened exactly: F32 with bf16 x and w is the f32 GEMM of those values.
  Tensor xb = x.to(DType::BF16), wb = w.to(DType::BF16);
  EXPECT_TRUE(test::all_close(linear_of(xb, wb, &b, DType::F32, MatmulPrecision::F32),
                              reference_of(xb, wb, &b, DType::F32, MatmulPrecision::F32), tol));
}

TEST_P(LinearVsTorch, Bf16AsAutocast) {
  Tensor x = ref("x"), w = ref("w"), b = ref("b");
  Tensor want = ref("bf16"), want_nobias = ref("nobias_bf16");
  auto tol = bf16_out_tol(x, w);
  // f32 operands rounded inside (the autocast case), bf16 operands as given, and packed.
  Tensor xb = x.to(DType::BF16), wb = w.to(DType::BF16), bb = b.to(DType::BF16);
  for (const Tensor& y : {linear_of(x, w, &b, DType::BF16, MatmulPrecision::BF16),
                          linear_of(xb, wb, &bb, DType::BF16, MatmulPrecision::BF16),
                          linear_of(xb, w, &b, DType::BF16, MatmulPrecision::BF16),
                          packed_linear_of(x, w, &b, DType::BF16, MatmulPrecision::BF16)}) {
    EXPECT_TRUE(test::all_close(y, want, tol));
    EXPECT_TRUE(mostly_bit_identical(y, want, 0.97));
  }
  Tensor y = linear_of(x, w, nullptr, DType::BF16, MatmulPrecision::BF16);
  EXPECT_TRUE(test::all_close(y, want_nobias, tol));
  EXPECT_TRUE(mostly_bit_identical(y, want_nobias, 0.97));
}

TEST_P(LinearVsTorch, Bf16ToF32) {
  Tensor x = ref("x"), w = ref("w"), b = ref("b"), want = ref("bf16_f32");
  auto tol = f32_sum_tol(x, w);
  EXPECT_TRUE(test::all_close(linear_of(x, w, &b, DType::F32, MatmulPrecision::BF16), want, tol));
  Tensor wb = w.to(DType::BF16);
  EXPECT_TRUE(test::all_close(linear_of(x, wb, &b, DType::F32, MatmulPrecision::BF16), want, tol));
  EXPECT_TRUE(
      test::all_close(packed_linear_of(x, w, &b, DType::F32, MatmulPrecision::BF16), want, tol));
}

INSTANTIATE_TEST_SUITE_P(Shapes, LinearVsTorch,
                         testing::Values("m1", "m7_n3", "wan_small", "ragged", "tall", "long"));

// ---- weight types torch does not have: against dequantize-then-multiply in f64 ----

struct WeightCase {
  DType dtype;
  int64_t m;
};

class LinearWeightTypes : public testing::TestWithParam<WeightCase> {};

TEST_P(LinearWeightTypes, MatchReference) {
  auto [dtype, m] = GetParam();
  int64_t k = 512, n = 72;
  auto xs = test::random_floats(size_t(m * k), 1);
  auto ws = test::random_floats(size_t(n * k), 2, -0.1f, 0.1f);
  auto bs = test::random_floats(size_t(n), 3);
  Tensor x = Tensor::from_f32({m, k}, xs.data());
  Tensor w = Tensor::from_f32({n, k}, ws.data(), dtype);
  Tensor b = Tensor::from_f32({n}, bs.data());
  for (MatmulPrecision precision : {MatmulPrecision::F32, MatmulPrecision::BF16})
    for (DType out : {DType::F32, DType::BF16})
      for (const Tensor* bias :
           {static_cast<const Tensor*>(&b), static_cast<const Tensor*>(nullptr)}) {
        SCOPED_TRACE(testing::Message() << name(dtype) << " m=" << m << " out=" << name(out) << " "
                                        << (precision == MatmulPrecision::BF16 ? "bf16" : "f32")
                                        << (bias ? " bias" : " no bias"));
        Tensor want = reference_of(x, w, bias, out, precision);
        auto tol = tol_for(x, w, out);
        EXPECT_TRUE(test::all_close(linear_of(x, w, bias, out, precision), want, tol));
        if (bias && out == DType::F32) {
          EXPECT_TRUE(test::all_close(packed_linear_of(x, w, bias, out, precision), want, tol));
        }
      }
}

std::vector<WeightCase> weight_cases() {
  std::vector<WeightCase> cases;
  // m = 1 and 4 take the direct path, 5 and 64 a converted, packed copy and the GEMM.
  for (DType d : {DType::F16, DType::F8_E4M3, DType::F8_E5M2, DType::Q8_0, DType::Q4_0, DType::Q4_K,
                  DType::Q5_K, DType::Q6_K})
    for (int64_t m : {1, 4, 5, 64}) cases.push_back({d, m});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(All, LinearWeightTypes, testing::ValuesIn(weight_cases()),
                         [](const testing::TestParamInfo<WeightCase>& param) {
                           return std::string(name(param.param.dtype)) + "_m" +
                                  std::to_string(param.param.m);
                         });

// A weight wider than the packed layout's blocks in both directions, K and N not multiples of
// them, converted from a block type.
TEST(Linear, LargeRaggedWeight) {
  int64_t m = 12, k = 4064, n = 1100;
  auto xs = test::random_floats(size_t(m * k), 4);
  auto ws = test::random_floats(size_t(n * k), 5, -0.05f, 0.05f);
  auto bs = test::random_floats(size_t(n), 6);
  Tensor x = Tensor::from_f32({m, k}, xs.data());
  Tensor w = Tensor::from_f32({n, k}, ws.data(), DType::Q4_0);
  Tensor b = Tensor::from_f32({n}, bs.data());
  for (MatmulPrecision precision : {MatmulPrecision::F32, MatmulPrecision::BF16}) {
    Tensor want = reference_of(x, w, &b, DType::F32, precision);
    EXPECT_TRUE(
        test::all_close(linear_of(x, w, &b, DType::F32, precision), want, f32_sum_tol(x, w)));
  }
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.nbytes() == b.nbytes() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

// Bit-identical results for 1, 2 and 3 threads, and with the weight packed, for short products
// (oneDNN splits their K sum across threads on AMX: [20, 4096] x [4096, 10240] measured) and
// tall ones, in both precisions and for weights stored in and out of the GEMM's type.
TEST(Linear, ThreadCountAndPackingDoNotChangeAResultsBits) {
  struct Case {
    int64_t m, k, n;
  };
  for (const Case& c : {Case{20, 1024, 2560}, Case{300, 512, 768}, Case{600, 256, 512},
                        Case{3, 320, 500}, Case{40, 320, 50}}) {
    auto xs = test::random_floats(size_t(c.m * c.k), 7);
    auto ws = test::random_floats(size_t(c.n * c.k), 8);
    auto bs = test::random_floats(size_t(c.n), 9);
    Tensor x = Tensor::from_f32({c.m, c.k}, xs.data());
    Tensor b = Tensor::from_f32({c.n}, bs.data());
    for (DType stored : {DType::F32, DType::BF16, DType::Q8_0})
      for (MatmulPrecision precision : {MatmulPrecision::F32, MatmulPrecision::BF16}) {
        Tensor w = Tensor::from_f32({c.n, c.k}, ws.data(), stored);
        Tensor first = Tensor::empty({c.m, c.n}, DType::F32);
        cpu::linear(ComputeContext{1}, x, w, &b, first, precision);
        for (int threads : {2, 3}) {
          Tensor y = Tensor::empty({c.m, c.n}, DType::F32);
          cpu::linear(ComputeContext{threads}, x, w, &b, y, precision);
          EXPECT_TRUE(same_bytes(y, first)) << c.m << "x" << c.k << "x" << c.n << " "
                                            << name(stored) << ", " << threads << " threads";
          const ComputeContext ctx{threads};
          Tensor packed = Tensor::empty({c.m, c.n}, DType::F32);
          cpu::linear(ctx, x, cpu::PackedWeight::pack(ctx, w, precision), &b, packed);
          EXPECT_TRUE(same_bytes(packed, first)) << c.m << "x" << c.k << "x" << c.n << " "
                                                 << name(stored) << " packed, " << threads
                                                 << " threads";
        }
      }
  }
}

// A weight already of the GEMM's type is used as it is when "packed": no copy.
TEST(Linear, PackingAWeightOfTheGemmTypeCopiesNothing) {
  auto ws = test::random_floats(size_t(64 * 32), 10);
  Tensor bf16 = Tensor::from_f32({64, 32}, ws.data(), DType::BF16);
  Tensor f32 = Tensor::from_f32({64, 32}, ws.data());
  EXPECT_EQ(cpu::PackedWeight::pack(ctx(), f32, MatmulPrecision::F32).nbytes(), 0u);
  if (active_isa() >= Isa::Avx512Bf16 && (cpu_features().avx512bf16 || cpu_features().amx_bf16)) {
    EXPECT_EQ(cpu::PackedWeight::pack(ctx(), bf16, MatmulPrecision::BF16).nbytes(), 0u);
  }
  EXPECT_GT(cpu::PackedWeight::pack(ctx(), f32, MatmulPrecision::BF16).nbytes(), 0u);
}

TEST(Linear, EmptyInnerDimensionGivesBias) {
  Tensor x = Tensor::empty({3, 0}, DType::F32), w = Tensor::empty({2, 0}, DType::F32);
  float bv[2] = {0.5f, -2.0f};
  Tensor b = Tensor::from_f32({2}, bv);
  Tensor y = Tensor::empty({3, 2}, DType::F32);
  cpu::linear(ctx(), x, w, &b, y, MatmulPrecision::BF16);
  EXPECT_EQ(y.data<float>()[4], 0.5f);
  EXPECT_EQ(y.data<float>()[5], -2.0f);
}

TEST(Linear, RejectsMismatchedOperands) {
  Tensor x = Tensor::zeros({4, 8}, DType::F32), w = Tensor::zeros({3, 8}, DType::F32);
  Tensor y = Tensor::empty({4, 3}, DType::F32);
  Tensor w_bad = Tensor::zeros({3, 9}, DType::F32), y_bad = Tensor::empty({4, 4}, DType::F32);
  Tensor b_bad = Tensor::zeros({4}, DType::F32), w_int = Tensor::zeros({3, 8}, DType::I32);
  Tensor y_f16 = Tensor::empty({4, 3}, DType::F16);
  auto p = MatmulPrecision::F32;
  EXPECT_THROW(cpu::linear(ctx(), x, w_bad, nullptr, y, p), Error);
  EXPECT_THROW(cpu::linear(ctx(), x, w, nullptr, y_bad, p), Error);
  EXPECT_THROW(cpu::linear(ctx(), x, w, &b_bad, y, p), Error);
  EXPECT_THROW(cpu::linear(ctx(), x, w_int, nullptr, y, p), Error);
  EXPECT_THROW(cpu::linear(ctx(), x, w, nullptr, y_f16, p), Error);
  try {
    cpu::linear(ctx(), x, w_bad, nullptr, y, p);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("w must be [N, 8]"), std::string::npos) << e.what();
  }
  cpu::PackedWeight packed = cpu::PackedWeight::pack(ctx(), w, p);
  EXPECT_EQ(packed.out_features(), 3);
  EXPECT_EQ(packed.in_features(), 8);
  Tensor x_bad = Tensor::zeros({4, 9}, DType::F32);
  EXPECT_THROW(cpu::linear(ctx(), x_bad, packed, nullptr, y), Error);
  EXPECT_THROW(cpu::linear(ctx(), x, cpu::PackedWeight(), nullptr, y), Error);
}

// ---- plain products ----

class MatmulVsTorch : public testing::TestWithParam<std::string> {};

TEST_P(MatmulVsTorch, F32AndBf16) {
  std::string base = "matmul_" + GetParam() + "_";
  Tensor a = test::ref("kernels", base + "a"), b = test::ref("kernels", base + "b");
  Tensor want = test::ref("kernels", base + "f32"), want_bf16 = test::ref("kernels", base + "bf16");
  // A [K, N] operand bounds the terms the same way a [N, K] weight does.
  auto tol = f32_sum_tol(a, b);
  Tensor c = Tensor::empty({a.dim(0), b.dim(1)}, DType::F32);
  cpu::matmul(ctx(), a, b, c);
  EXPECT_TRUE(test::all_close(c, want, tol));
  Tensor cb = Tensor::empty({a.dim(0), b.dim(1)}, DType::BF16);
  cpu::matmul(ctx(), a.to(DType::BF16), b.to(DType::BF16), cb);
  EXPECT_TRUE(test::all_close(cb, want_bf16, bf16_out_tol(a, b)));
  EXPECT_TRUE(mostly_bit_identical(cb, want_bf16, 0.97));
  EXPECT_THROW(cpu::matmul(ctx(), a, b.to(DType::BF16), c), Error);
}

INSTANTIATE_TEST_SUITE_P(Shapes, MatmulVsTorch, testing::Values("small", "square"));

}  // namespace
}  // namespace kinema
