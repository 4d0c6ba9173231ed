// Convolutions (oneDNN-backed Conv and the direct-loop conv_reference) and the nearest 2x
// upsample against PyTorch (tests/kernels/ref_conv.py): the Wan VAE's causal 3-D convolutions
// with and without cached frames, its time convolutions and its 2-D down/upsampling.
#include <gtest/gtest.h>

#include <string>

#include "common/refdata.h"
#include "kernels/cpu/conv.h"
#include "kernels/cpu/upsample.h"
#include "nnops_test_util.h"

namespace kinema {
namespace {

using cpu::Conv;
using cpu::ConvParams;

const ComputeContext kTwoThreads{2};

Tensor r(const std::string& name) { return test::ref("kernels", name); }

// f32 convolutions accumulate hundreds to thousands of products in an order that differs from
// torch's: errors are relative to the output's scale, not to each element.
::testing::AssertionResult conv_close(const Tensor& got, const Tensor& want) {
  return test::all_close(got, want, {1e-5 * test::max_abs(want), 1e-5});
}

// Frames [begin, end) of a [N, C, T, H, W] tensor, copied.
Tensor frames(const Tensor& x, int64_t begin, int64_t end) {
  Shape s = x.shape();
  const int64_t t = s[2], plane = s[3] * s[4];
  s[2] = end - begin;
  Tensor out = Tensor::empty(s, DType::F32);
  const float* src = x.data<float>();
  float* dst = out.mutable_data<float>();
  for (int64_t nc = 0; nc < s[0] * s[1]; ++nc)
    std::memcpy(dst + nc * (end - begin) * plane, src + (nc * t + begin) * plane,
                size_t((end - begin) * plane) * sizeof(float));
  return out;
}

// Checks Conv and conv_reference against torch's output for one case.
void check_case(const std::string& name, const Tensor& w, const Tensor& b, const ConvParams& p,
                const Tensor& x, const Tensor& want, const Tensor& history = Tensor()) {
  Conv conv(w, b, p);
  Tensor got = conv.forward(kTwoThreads, x, history);
  EXPECT_TRUE(conv_close(got, want)) << name << " (oneDNN: " << conv.implementation() << ")";
  EXPECT_TRUE(conv_close(cpu::conv_reference(x, w, b, p, history), want)) << name << " (reference)";
}

TEST(Conv, Causal3x3x3) {
  for (const char* name : {"c3_main", "c3_in3", "c3_out3", "c3_wide", "c3_batch2"}) {
    std::string n = name;
    check_case(n, r(n + "_w"), r(n + "_b"), ConvParams::causal3d(1, 1, 1), r(n + "_x"),
               r(n + "_y"));
  }
}

TEST(Conv, CausalWithCachedFrames) {
  Tensor w = r("c3_main_w"), b = r("c3_main_b"), x = r("hist_x"), h2 = r("hist_h2");
  check_case("two cached frames", w, b, ConvParams::causal3d(1, 1, 1), x, r("hist_y2"), h2);
  check_case("one cached frame", w, b, ConvParams::causal3d(1, 1, 1), x, r("hist_y1"),
             frames(h2, 1, 2));
}

TEST(Conv, ChunkedCausalEqualsWholeClip) {
  // The VAE's chunking: frame 0 alone, then chunks with the last (up to) 2 input frames cached.
  Tensor w = r("c3_main_w"), b = r("c3_main_b"), x = r("c3_main_x");
  Conv conv(w, b, ConvParams::causal3d(1, 1, 1));
  Tensor whole = conv.forward(kTwoThreads, x);
  Tensor first = conv.forward(kTwoThreads, frames(x, 0, 1));
  Tensor second = conv.forward(kTwoThreads, frames(x, 1, 3), frames(x, 0, 1));
  Tensor third = conv.forward(kTwoThreads, frames(x, 3, 5), frames(x, 1, 3));
  EXPECT_TRUE(conv_close(first, frames(whole, 0, 1)));
  EXPECT_TRUE(conv_close(second, frames(whole, 1, 3)));
  EXPECT_TRUE(conv_close(third, frames(whole, 3, 5)));
}

TEST(Conv, PointwiseAndTimeConvs) {
  check_case("1x1x1", r("c1_w"), r("c1_b"), ConvParams{}, r("c1_x"), r("c1_y"));
  // downsample3d: stride 2 in time over [cached frame, x], no zero frames.
  ConvParams down{{2, 1, 1}, {1, 0, 0}, {0, 0, 0}};
  check_case("time_conv down", r("tdown_w"), r("tdown_b"), down, r("tdown_x"), r("tdown_y"),
             r("tdown_h"));
  check_case("time_conv up", r("tup_w"), r("tup_b"), ConvParams::causal3d(1, 0, 0), r("tup_x"),
             r("tup_y"));
  check_case("strided 3-D", r("c3_stride_w"), r("c3_stride_b"),
             ConvParams::causal3d(1, 1, 1, {1, 2, 2}), r("c3_stride_x"), r("c3_stride_y"));
}

TEST(Conv, Downsample2dAsymmetricPadding) {
  ConvParams p2{{2, 2}, {0, 0}, {1, 1}};  // zero-pad right and bottom only
  check_case("downsample2d", r("down2d_w"), r("down2d_b"), p2, r("down2d_x"), r("down2d_y"));
  // Per frame of a video: a 3-D convolution with a one-frame kernel.
  Tensor w = r("down2d_w");
  Tensor w3 = w.reshape({w.dim(0), w.dim(1), 1, w.dim(2), w.dim(3)});
  ConvParams p3{{1, 2, 2}, {0, 0, 0}, {0, 1, 1}};
  check_case("downsample2d per frame", w3, r("down2d_b"), p3, r("down2d_video_x"),
             r("down2d_video_y"));
}

TEST(Conv, Upsample2dNearestThenConv) {
  Tensor up = cpu::upsample_nearest2x(kTwoThreads, r("up_x"));
  EXPECT_TRUE(test::all_close(up, r("up_nearest"), {0, 0}));
  Tensor w = r("up2d_w");
  Tensor w3 = w.reshape({w.dim(0), w.dim(1), 1, w.dim(2), w.dim(3)});
  ConvParams p{{}, {0, 1, 1}, {0, 1, 1}};
  check_case("upsample2d conv", w3, r("up2d_b"), p, up, r("up2d_video_y"));
}

TEST(Conv, NoBias2d) {
  check_case("no bias", r("c2_nobias_w"), Tensor(), ConvParams::symmetric(2, 1), r("c2_nobias_x"),
             r("c2_nobias_y"));
}

TEST(Conv, CachedPlansAcrossShapesAndThreads) {
  Tensor w = r("c3_main_w"), b = r("c3_main_b");
  Conv conv(w, b, ConvParams::causal3d(1, 1, 1));
  Tensor x5 = r("c3_main_x"), x4 = r("hist_x");
  Tensor a = conv.forward(kTwoThreads, x5);
  Tensor c = conv.forward(kTwoThreads, x4);
  EXPECT_FALSE(conv.implementation().empty());
  // Reusing the cached primitives gives identical results; one thread gives the same values up
  // to summation order.
  EXPECT_TRUE(test::all_close(conv.forward(kTwoThreads, x5), a, {0, 0}));
  EXPECT_TRUE(test::all_close(conv.forward(kTwoThreads, x4), c, {0, 0}));
  EXPECT_TRUE(conv_close(conv.forward(ComputeContext{1}, x5), a));
  Tensor out = Tensor::empty(conv.output_shape(x5.shape()), DType::F32);
  conv.forward_into(kTwoThreads, x5, Tensor(), out);
  EXPECT_TRUE(test::all_close(out, a, {0, 0}));
  EXPECT_EQ(conv.output_shape(x4.shape(), 2), Shape({1, 24, 4, 9, 11}));
  // A moved-from Conv's successor keeps working.
  Conv moved = std::move(conv);
  EXPECT_TRUE(test::all_close(moved.forward(kTwoThreads, x5), a, {0, 0}));
}

TEST(Conv, RejectsBadOperands) {
  Tensor w = r("c3_main_w"), b = r("c3_main_b"), x = r("c3_main_x");
  Conv conv(w, b, ConvParams::causal3d(1, 1, 1));
  EXPECT_THROW(conv.forward(kTwoThreads, r("c1_x")), Error);  // 32 channels, not 16
  EXPECT_THROW(conv.forward(kTwoThreads, x, frames(r("hist_h2"), 0, 2).reshape({1, 16, 2, 99})),
               Error);  // history rank
  Tensor h3 = Tensor::zeros({1, 16, 3, 9, 11}, DType::F32);
  EXPECT_THROW(conv.forward(kTwoThreads, x, h3), Error);  // 3 > 2 pad frames
  EXPECT_THROW(Conv(w, r("c1_b"), ConvParams{}), Error);  // bias [20] vs 24
  EXPECT_THROW(Conv(w.to(DType::BF16), b, ConvParams{}), Error);
  Conv wrong_params(w, b, ConvParams{{1, 1}, {}, {}});  // 2 strides for 3-D
  EXPECT_THROW(wrong_params.forward(kTwoThreads, x), Error);
  Conv conv2d(r("c2_nobias_w"), Tensor(), ConvParams::symmetric(2, 1));
  EXPECT_THROW(conv2d.forward(kTwoThreads, r("c2_nobias_x"), h3), Error);  // history in 2-D
  Tensor x_small = Tensor::zeros({1, 16, 1, 1, 1}, DType::F32);
  EXPECT_THROW(Conv(w, b, ConvParams{}).forward(kTwoThreads, x_small),
               Error);  // smaller than kernel
}

}  // namespace
}  // namespace kinema
