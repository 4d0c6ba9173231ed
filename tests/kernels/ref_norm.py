"""Reference data for the normalisation kernels (src/kernels/cpu/norm.h). Writes .npy files into
--out; bf16 tensors are stored as uint16 bit patterns. The Wan and umT5 norms are transcribed from
wan/modules/model.py (WanLayerNorm, WanRMSNorm, the block's modulation), wan/modules/t5.py
(T5LayerNorm) and wan/modules/vae.py (RMS_norm)."""
import argparse
import os

import numpy as np
import torch
import torch.nn.functional as F

ap = argparse.ArgumentParser()
ap.add_argument("--out", required=True)
out = ap.parse_args().out
os.makedirs(out, exist_ok=True)
g = torch.Generator().manual_seed(777)


def save(name, t):
    t = t.contiguous()
    arr = t.view(torch.int16).numpy().view(np.uint16) if t.dtype == torch.bfloat16 else t.numpy()
    np.save(f"{out}/{name}.npy", arr)


def randn(*shape, scale=1.0, shift=0.0):
    return torch.randn(*shape, generator=g) * scale + shift


EPS = 1e-6

# LayerNorm, plain and affine; one width off the vector length, activations with an offset.
for name, shape in (("ln_a", (37, 1000)), ("ln_b", (8, 1536))):
    d = shape[-1]
    x = randn(*shape, scale=2.0, shift=0.5)
    w, b = randn(d, scale=0.5, shift=1.0), randn(d, scale=0.3)
    save(f"{name}_x", x)
    save(f"{name}_w", w)
    save(f"{name}_b", b)
    save(f"{name}_plain", F.layer_norm(x, (d,), eps=EPS))
    save(f"{name}_affine", F.layer_norm(x, (d,), w, b, eps=EPS))

# WanLayerNorm on a bf16 stream: LN in f32, cast back to bf16 (.type_as(x)).
x = randn(6, 1536, scale=3.0).bfloat16()
save("ln_bf16_x", x)
save("ln_bf16_out", F.layer_norm(x.float(), (1536,), eps=EPS).type_as(x))

# Modulated LN (a block's norm1 / norm2 input): x [B, L, D], per-batch scale and shift [B, 1, D].
B, L, D = 2, 19, 1536
x = randn(B, L, D, scale=1.5)
scale, shift = randn(B, 1, D, scale=0.2), randn(B, 1, D, scale=0.5)
save("mod_x", x)
save("mod_scale", scale)
save("mod_shift", shift)
save("mod_out", F.layer_norm(x, (D,), eps=EPS) * (1 + scale) + shift)
# Block 0: x is bf16, so norm1(x) is rounded to bf16 before .float() * (1 + scale) + shift.
xb = x.bfloat16()
save("mod0_x", xb)
save("mod0_out", F.layer_norm(xb.float(), (D,), eps=EPS).type_as(xb).float() * (1 + scale) + shift)


def t5_layer_norm(x, weight, eps=EPS):  # wan/modules/t5.py T5LayerNorm.forward
    x = x * torch.rsqrt(x.float().pow(2).mean(dim=-1, keepdim=True) + eps)
    if weight.dtype in [torch.float16, torch.bfloat16]:
        x = x.type_as(weight)
    return weight * x


def wan_rms_norm(x, weight, eps=EPS):  # wan/modules/model.py WanRMSNorm.forward
    def norm(v):
        return v * torch.rsqrt(v.pow(2).mean(dim=-1, keepdim=True) + eps)
    return norm(x.float()).type_as(x) * weight


x = randn(13, 4096, scale=0.8).bfloat16()
w = randn(4096, scale=0.2, shift=1.0).bfloat16()
save("t5_x", x)
save("t5_w", w)
save("t5_out", t5_layer_norm(x, w))

x = randn(11, 1536, scale=4.0).bfloat16()  # the bf16 output of the q projection
w = randn(1536, scale=0.3, shift=1.0)
save("qk_x", x)
save("qk_w", w)
save("qk_out", wan_rms_norm(x, w))

x = randn(7, 1000, scale=2.0)
w = randn(1000, scale=0.3, shift=1.0)
save("rms_f32_x", x)
save("rms_f32_w", w)
save("rms_f32_out", wan_rms_norm(x, w))


def vae_rms_norm(x, gamma):  # wan/modules/vae.py RMS_norm, channel_first, bias 0
    return F.normalize(x, dim=1) * x.shape[1] ** 0.5 * gamma


for name, shape in (("vae_a", (1, 96, 3, 10, 12)), ("vae_b", (2, 20, 1, 5, 7))):
    c = shape[1]
    x = randn(*shape, scale=2.0, shift=0.3)
    gamma = randn(c, 1, 1, 1, scale=0.3, shift=1.0)
    save(f"{name}_x", x)
    save(f"{name}_gamma", gamma)
    save(f"{name}_out", vae_rms_norm(x, gamma))
    save(f"{name}_silu", F.silu(vae_rms_norm(x, gamma)))
