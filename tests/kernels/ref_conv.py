"""Reference data for the convolutions and the upsample (src/kernels/cpu/conv.h, upsample.h):
the Wan VAE's CausalConv3d (wan/modules/vae.py: explicit F.pad with 2*pt frames in front, cache
frames prepended instead of zeros), its Resample time convolutions and 2-D down/upsampling.
Writes .npy files into --out."""
import argparse
import os

import numpy as np
import torch
import torch.nn.functional as F

ap = argparse.ArgumentParser()
ap.add_argument("--out", required=True)
out = ap.parse_args().out
os.makedirs(out, exist_ok=True)
g = torch.Generator().manual_seed(31337)


def save(name, t):
    np.save(f"{out}/{name}.npy", t.contiguous().numpy())


def randn(*shape, scale=1.0):
    return torch.randn(*shape, generator=g) * scale


def conv_weights(name, o, i, *k):
    # nn.ConvNd's default init scale, so outputs stay O(1) for any fan-in.
    fan_in = i * int(np.prod(k))
    w = randn(o, i, *k, scale=fan_in ** -0.5)
    b = randn(o, scale=0.1)
    save(f"{name}_w", w)
    save(f"{name}_b", b)
    return w, b


def causal(x, w, b, pad, cache=None):
    """CausalConv3d.forward: padding (pw, pw, ph, ph, 2*pt, 0); a cache shortens the time pad."""
    pt, ph, pw = pad
    front = 2 * pt
    if cache is not None and pt > 0:
        x = torch.cat([cache, x], dim=2)
        front -= cache.shape[2]
    return F.conv3d(F.pad(x, (pw, pw, ph, ph, front, 0)), w, b)


with torch.no_grad():
    # 3x3x3 causal convolutions: channel counts off the 16-wide blocks, the VAE's first (3 in) and
    # last (96 -> 3) layers, and a 96-wide one.
    for name, (o, i, shape) in {
        "c3_main": (24, 16, (1, 16, 5, 9, 11)),
        "c3_in3": (96, 3, (1, 3, 3, 8, 10)),
        "c3_out3": (3, 96, (1, 96, 2, 6, 7)),
        "c3_wide": (96, 96, (1, 96, 2, 6, 8)),
        "c3_batch2": (20, 12, (2, 12, 3, 5, 6)),
    }.items():
        w, b = conv_weights(name, o, i, 3, 3, 3)
        x = randn(*shape)
        save(f"{name}_x", x)
        save(f"{name}_y", causal(x, w, b, (1, 1, 1)))

    # The same weights with a cache of 2 and of 1 previous frames.
    w, b = torch.from_numpy(np.load(f"{out}/c3_main_w.npy")), torch.from_numpy(np.load(f"{out}/c3_main_b.npy"))
    x = randn(1, 16, 4, 9, 11)
    h2 = randn(1, 16, 2, 9, 11)
    save("hist_x", x)
    save("hist_h2", h2)
    save("hist_y2", causal(x, w, b, (1, 1, 1), cache=h2))
    save("hist_y1", causal(x, w, b, (1, 1, 1), cache=h2[:, :, 1:]))

    # 1x1x1 (the top-level conv1/conv2 and the residual shortcuts): no padding.
    w, b = conv_weights("c1", 20, 32, 1, 1, 1)
    x = randn(1, 32, 3, 5, 6)
    save("c1_x", x)
    save("c1_y", F.conv3d(x, w, b))

    # downsample3d's time_conv: kernel (3, 1, 1), stride (2, 1, 1), no padding, run on
    # [last cached frame, current frames].
    w, b = conv_weights("tdown", 24, 24, 3, 1, 1)
    x, h = randn(1, 24, 4, 5, 6), randn(1, 24, 1, 5, 6)
    save("tdown_x", x)
    save("tdown_h", h)
    save("tdown_y", F.conv3d(torch.cat([h, x], dim=2), w, b, stride=(2, 1, 1)))

    # upsample3d's time_conv: CausalConv3d(C, 2C, (3, 1, 1), padding=(1, 0, 0)).
    w, b = conv_weights("tup", 16, 8, 3, 1, 1)
    x = randn(1, 8, 3, 4, 5)
    save("tup_x", x)
    save("tup_y", causal(x, w, b, (1, 0, 0)))

    # downsample2d: ZeroPad2d((0, 1, 0, 1)) then Conv2d(C, C, 3, stride=2); as a 2-D conv and per
    # frame of a video (a 3-D conv with a 1-frame kernel).
    w, b = conv_weights("down2d", 24, 24, 3, 3)
    x = randn(1, 24, 9, 12)
    save("down2d_x", x)
    save("down2d_y", F.conv2d(F.pad(x, (0, 1, 0, 1)), w, b, stride=2))
    xv = randn(1, 24, 2, 9, 12)
    save("down2d_video_x", xv)
    frames = xv.permute(0, 2, 1, 3, 4).reshape(2, 24, 9, 12)
    yv = F.conv2d(F.pad(frames, (0, 1, 0, 1)), w, b, stride=2)
    save("down2d_video_y", yv.reshape(1, 2, *yv.shape[1:]).permute(0, 2, 1, 3, 4))

    # upsample2d: per frame Upsample(scale_factor=(2, 2), mode='nearest-exact'), then
    # Conv2d(C, C/2, 3, padding=1).
    xv = randn(1, 32, 3, 5, 6)
    save("up_x", xv)
    frames = xv.permute(0, 2, 1, 3, 4).reshape(3, 32, 5, 6)
    up = F.interpolate(frames, scale_factor=(2.0, 2.0), mode="nearest-exact")
    assert torch.equal(up, F.interpolate(frames, scale_factor=2.0, mode="nearest"))
    save("up_nearest", up.reshape(1, 3, 32, 10, 12).permute(0, 2, 1, 3, 4))
    w, b = conv_weights("up2d", 16, 32, 3, 3)
    yv = F.conv2d(up, w, b, padding=1)
    save("up2d_video_y", yv.reshape(1, 3, 16, 10, 12).permute(0, 2, 1, 3, 4))

    # A 2-D convolution without bias, 3 input channels, and a strided 3-D one.
    w = randn(5, 3, 3, 3, scale=0.3)
    save("c2_nobias_w", w)
    x = randn(2, 3, 7, 9)
    save("c2_nobias_x", x)
    save("c2_nobias_y", F.conv2d(x, w, padding=1))
    w, b = conv_weights("c3_stride", 8, 8, 3, 3, 3)
    x = randn(1, 8, 5, 9, 10)
    save("c3_stride_x", x)
    save("c3_stride_y", F.conv3d(F.pad(x, (1, 1, 1, 1, 2, 0)), w, b, stride=(1, 2, 2)))
