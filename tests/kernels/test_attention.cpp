// Attention against PyTorch (ref_attention.py) on every path this processor can run, plus
// properties checked against a naive float64 attention that materialises the score matrix.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "common/refdata.h"
#include "core/error.h"
#include "kernels/cpu/attention.h"

namespace kinema {
namespace {

using cpu::AttentionOptions;
using cpu::AttentionPath;

// bf16 outputs against an f32 reference: one bf16 rounding of the output (2^-9 relative) plus
// the bf16 rounding of the probabilities (2^-9 relative each, averaging out over the keys).
// Measured worst: about half a bf16 ulp of the output.
constexpr test::Tolerance kBf16Tol{3e-3, 6e-3};
// umT5 semantics: the logits are rounded to bf16 (absolute error up to 2^-9 |logit|), and a
// different f32 summation order can flip a rounding; the reference also rounds P after
// normalising where the kernel rounds it before.
constexpr test::Tolerance kT5Tol{5e-3, 1e-2};
// f32 against float64: f32 dot products over D <= 384 and a 2-ulp exp; outputs near 0 come from
// cancelling sums, so the absolute part dominates there (measured worst: 7e-7).
constexpr test::Tolerance kF32Tol{2e-6, 2e-5};

struct RefCase {
  Tensor q, k, v, want, bias;
  AttentionOptions options;
};

RefCase load_case(const std::string& name) {
  RefCase c;
  c.q = test::ref("kernels", name + "_q");
  c.k = test::ref("kernels", name + "_k");
  c.v = test::ref("kernels", name + "_v");
  c.want = test::ref("kernels", name + "_out");
  Tensor params = test::ref("kernels", name + "_params");  // kv_len, scale, bias kind, round
  std::vector<float> p = params.to_f32_vector();
  c.options.kv_len = int64_t(p[0]);
  c.options.scale = p[1];
  c.options.round_logits_bf16 = p[3] != 0.0f;
  if (p[2] != 0.0f) {
    c.bias = test::ref("kernels", name + "_bias");
    c.options.bias.data = c.bias.raw();
    c.options.bias.dtype = c.bias.dtype();
    c.options.bias.head_stride = c.bias.dim(1) * c.bias.dim(2);
    c.options.bias.row_stride = c.bias.dim(2);
  }
  return c;
}

// Runs `name` on every available path (and 1 and 2 threads on the fastest).
void check_case(const std::string& name, test::Tolerance tol) {
  RefCase c = load_case(name);
  std::vector<AttentionPath> paths = cpu::attention_paths(c.q.dtype());
  for (AttentionPath path : paths) {
    SCOPED_TRACE(std::string(cpu::attention_path_name(path)));
    AttentionOptions options = c.options;
    options.path = path;
    Tensor out = Tensor::empty(c.q.shape(), c.q.dtype());
    cpu::attention(ComputeContext{2}, c.q, c.k, c.v, out, options);
    EXPECT_TRUE(test::all_close(out, c.want, tol));
    if (path == paths.back()) {
      Tensor one = Tensor::empty(c.q.shape(), c.q.dtype());
      cpu::attention(ComputeContext{1}, c.q, c.k, c.v, one, options);
      EXPECT_EQ(std::memcmp(one.raw(), out.raw(), out.nbytes()), 0) << "threads change the result";
    }
  }
}

TEST(Attention, SelfBf16RaggedWithKeyLimit) { check_case("self_bf16", kBf16Tol); }
TEST(Attention, CrossBf16) { check_case("cross_bf16", kBf16Tol); }
TEST(Attention, TwelveHeadsBf16) { check_case("wan12_bf16", kBf16Tol); }
TEST(Attention, HeadDim64Bf16) { check_case("d64_bf16", kBf16Tol); }
TEST(Attention, HeadDim80Bf16) { check_case("d80_bf16", kBf16Tol); }
TEST(Attention, Umt5BiasUnscaledRoundedLogits) { check_case("t5_bf16", kT5Tol); }
TEST(Attention, VaeSingleHeadF32) { check_case("vae_f32", kF32Tol); }
TEST(Attention, HeadDim96F32WithKeyLimit) { check_case("heads_f32", kF32Tol); }
TEST(Attention, F32Bias) { check_case("bias_f32", kF32Tol); }

// ---- properties against a naive float64 attention ----

// q: [Lq, H, D], k, v: [Lk, H, D] f32 values; bias [H, Lq, Lk] or empty. Rows whose scores are
// all -inf give 0 (the kernel's convention).
std::vector<float> naive_attention(const std::vector<float>& q, const std::vector<float>& k,
                                   const std::vector<float>& v, const std::vector<float>& bias,
                                   int64_t lq, int64_t lk, int64_t h, int64_t d, double scale) {
  std::vector<float> out(size_t(lq * h * d));
  std::vector<double> s(static_cast<size_t>(lk));
  for (int64_t hh = 0; hh < h; ++hh)
    for (int64_t i = 0; i < lq; ++i) {
      double mx = -INFINITY;
      for (int64_t j = 0; j < lk; ++j) {
        double acc = 0;
        for (int64_t c = 0; c < d; ++c)
          acc += double(q[size_t((i * h + hh) * d + c)]) * k[size_t((j * h + hh) * d + c)];
        s[size_t(j)] = acc * scale + (bias.empty() ? 0.0 : bias[size_t((hh * lq + i) * lk + j)]);
        mx = std::max(mx, s[size_t(j)]);
      }
      double sum = 0;
      for (auto& x : s) sum += x = std::isinf(mx) ? 0.0 : std::exp(x - mx);
      for (int64_t c = 0; c < d; ++c) {
        double acc = 0;
        for (int64_t j = 0; j < lk; ++j) acc += s[size_t(j)] * v[size_t((j * h + hh) * d + c)];
        out[size_t((i * h + hh) * d + c)] = float(sum > 0 ? acc / sum : 0.0);
      }
    }
  return out;
}

Tensor make(const Shape& shape, const std::vector<float>& values, DType dtype) {
  return Tensor::from_f32(shape, values.data(), dtype);
}

TEST(Attention, HugeLogitsStayFinite) {
  // Logits around +-2000: only the max subtraction keeps exp finite.
  const int64_t lq = 40, lk = 300, h = 2, d = 64;
  auto q = test::random_floats(size_t(lq * h * d), 11, -6.0f, 6.0f);
  auto k = test::random_floats(size_t(lk * h * d), 12, -6.0f, 6.0f);
  auto v = test::random_floats(size_t(lk * h * d), 13);
  auto want = naive_attention(q, k, v, {}, lq, lk, h, d, 1.0);
  for (AttentionPath path : cpu::attention_paths(DType::F32)) {
    SCOPED_TRACE(std::string(cpu::attention_path_name(path)));
    Tensor out = Tensor::empty({lq, h, d}, DType::F32);
    AttentionOptions o;
    o.scale = 1.0f;
    o.path = path;
    cpu::attention(ComputeContext{2}, make({lq, h, d}, q, DType::F32),
                   make({lk, h, d}, k, DType::F32), make({lk, h, d}, v, DType::F32), out, o);
    // Near-one-hot rows: a score error of ~1e-4 (f32 sums of +-2000) moves weights by 1e-4.
    EXPECT_TRUE(test::all_close(out.to_f32_vector(), want, {1e-3, 1e-3}));
  }
}

TEST(Attention, FullyMaskedRowsGiveZeroAndMaskedKeysAreIgnored) {
  const int64_t lq = 20, lk = 70, h = 1, d = 32;
  auto q = test::random_floats(size_t(lq * h * d), 21);
  auto k = test::random_floats(size_t(lk * h * d), 22);
  auto v = test::random_floats(size_t(lk * h * d), 23);
  std::vector<float> bias(size_t(lq * lk), 0.0f);
  for (int64_t j = 0; j < lk; ++j) {
    bias[size_t(3 * lk + j)] = -INFINITY;                   // row 3: every key masked
    if (j % 3 == 0) bias[size_t(5 * lk + j)] = -INFINITY;   // row 5: a third masked
    bias[size_t(7 * lk + j)] = j == 69 ? 0.0f : -INFINITY;  // row 7: only the last key
  }
  auto want = naive_attention(q, k, v, bias, lq, lk, h, d, 0.5);
  for (DType dtype : {DType::F32, DType::BF16}) {
    // The bf16 reference sees the same rounded inputs.
    Tensor qt = make({lq, h, d}, q, dtype), kt = make({lk, h, d}, k, dtype),
           vt = make({lk, h, d}, v, dtype);
    auto want_dt = naive_attention(qt.to_f32_vector(), kt.to_f32_vector(), vt.to_f32_vector(), bias,
                                   lq, lk, h, d, 0.5);
    for (AttentionPath path : cpu::attention_paths(dtype)) {
      SCOPED_TRACE(std::string(cpu::attention_path_name(path)) + " " + std::string(name(dtype)));
      Tensor out = Tensor::empty({lq, h, d}, DType::F32);
      AttentionOptions o;
      o.scale = 0.5f;
      o.path = path;
      o.bias = {bias.data(), DType::F32, 0, lk};
      cpu::attention(ComputeContext{2}, qt, kt, vt, out, o);
      auto got = out.to_f32_vector();
      for (int64_t c = 0; c < d; ++c) EXPECT_EQ(got[size_t(3 * d + c)], 0.0f);
      EXPECT_TRUE(test::all_close(got, want_dt, dtype == DType::F32 ? kF32Tol : kBf16Tol));
    }
  }
  (void)want;
}

TEST(Attention, StridedFusedQkvMatchesContiguous) {
  // q, k, v as slices of one [L, 3, H, D] projection output, written into a wider out row.
  const int64_t l = 90, h = 3, d = 64, row = 3 * h * d;
  auto qkv = test::random_floats(size_t(l * row), 31);
  Tensor fused = make({l, 3 * h * d}, qkv, DType::BF16);
  std::vector<float> qs, ks, vs;
  for (int64_t t = 0; t < l; ++t)
    for (int64_t c = 0; c < h * d; ++c) {
      qs.push_back(qkv[size_t(t * row + c)]);
      ks.push_back(qkv[size_t(t * row + h * d + c)]);
      vs.push_back(qkv[size_t(t * row + 2 * h * d + c)]);
    }
  for (AttentionPath path : cpu::attention_paths(DType::BF16)) {
    SCOPED_TRACE(std::string(cpu::attention_path_name(path)));
    AttentionOptions o;
    o.path = path;
    Tensor want = Tensor::empty({l, h, d}, DType::BF16);
    cpu::attention(ComputeContext{2}, make({l, h, d}, qs, DType::BF16),
                   make({l, h, d}, ks, DType::BF16), make({l, h, d}, vs, DType::BF16), want, o);
    Tensor wide = Tensor::zeros({l, 2 * h * d}, DType::F32);
    cpu::AttentionProblem p;
    p.dtype = DType::BF16;
    p.out_dtype = DType::F32;
    const auto* base = fused.data<uint16_t>();
    p.q = base;
    p.k = base + h * d;
    p.v = base + 2 * h * d;
    p.out = wide.mutable_data<float>();
    p.q_len = p.k_len = l;
    p.heads = h;
    p.head_dim = d;
    p.q_stride = p.k_stride = p.v_stride = row;
    p.out_stride = 2 * h * d;
    cpu::attention(ComputeContext{2}, p, o);
    // The f32 output rounds to exactly the bf16 output; the other half of each row is untouched.
    const float* w = wide.data<float>();
    const uint16_t* b = want.data<uint16_t>();
    for (int64_t t = 0; t < l; ++t)
      for (int64_t c = 0; c < h * d; ++c) {
        ASSERT_EQ(f32_to_bf16(w[t * 2 * h * d + c]), b[t * h * d + c])
            << "token " << t << " elem " << c;
        ASSERT_EQ(w[t * 2 * h * d + h * d + c], 0.0f);
      }
  }
}

TEST(Attention, RejectsBadArguments) {
  Tensor q = make({4, 2, 8}, test::random_floats(64, 41), DType::BF16);
  Tensor k = make({5, 2, 8}, test::random_floats(80, 42), DType::BF16);
  Tensor out = Tensor::empty({4, 2, 8}, DType::BF16);
  Tensor k_f32 = k.to(DType::F32);
  EXPECT_THROW(cpu::attention(ComputeContext{1}, q, k_f32, k, out), Error);  // mixed dtypes
  Tensor bad_out = Tensor::empty({4, 2, 9}, DType::BF16);
  EXPECT_THROW(cpu::attention(ComputeContext{1}, q, k, k, bad_out), Error);
  AttentionOptions o;
  o.kv_len = 0;
  EXPECT_THROW(cpu::attention(ComputeContext{1}, q, k, k, out, o), Error);
  o.kv_len = 6;
  EXPECT_THROW(cpu::attention(ComputeContext{1}, q, k, k, out, o), Error);
  Tensor qf = q.to(DType::F32), kf = k.to(DType::F32);
  AttentionOptions dp;
  dp.path = AttentionPath::Avx512Bf16;  // bf16-only (and maybe absent here): never for f32
  Tensor outf = Tensor::empty({4, 2, 8}, DType::F32);
  EXPECT_THROW(cpu::attention(ComputeContext{1}, qf, kf, kf, outf, dp), Error);
  Tensor out_bf16 = Tensor::empty({4, 2, 8}, DType::BF16);
  EXPECT_THROW(cpu::attention(ComputeContext{1}, qf, kf, kf, out_bf16), Error);
  try {
    cpu::attention(ComputeContext{1}, q, k, k, bad_out);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("out"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace kinema
