"""Reference data for kernels/cpu/attention and softmax (tests/kernels/test_attention.cpp,
test_softmax.cpp). Writes .npy files into --out; bf16 tensors are stored as their uint16 bits.

Attention semantics checked:
* bf16 (Wan self/cross attention, spec 2.6.2): bf16 q, k, v; scores, softmax and P.V in f32;
  the expected output is the f32 result (the kernel's bf16 output is compared with bf16-level
  tolerance).
* umT5 (spec 4.3): no scaling; logits rounded to bf16, plus a bf16 [H, Lq, Lk] bias with the
  masked key columns at finfo(bf16).min, rounded to bf16; f32 softmax rounded to bf16; P.V.
* f32 (the VAE, spec 5.2): everything in float64 from the f32 inputs.
"""
import argparse
import os

import numpy as np
import torch

ap = argparse.ArgumentParser()
ap.add_argument("--out", required=True)
out = ap.parse_args().out
os.makedirs(out, exist_ok=True)
g = torch.Generator().manual_seed(20261128)


def save(name, t):
    if t.dtype == torch.bfloat16:
        np.save(f"{out}/{name}.npy", t.view(torch.int16).numpy().view(np.uint16))
    else:
        np.save(f"{out}/{name}.npy", t.numpy())


def randn(*shape, scale=1.0):
    return torch.randn(*shape, generator=g, dtype=torch.float64) * scale


# name, dtype, Lq, Lk, heads, head_dim, kv_len, scale (0 = 1/sqrt(D)), bias (none/bf16/f32),
# round logits (umT5), key ramp (later keys get larger logits, so the running max keeps moving)
CASES = [
    ("self_bf16", "bf16", 333, 333, 3, 128, 300, 0.0, "none", False, True),
    ("cross_bf16", "bf16", 300, 512, 2, 128, 512, 0.0, "none", False, False),
    ("wan12_bf16", "bf16", 160, 160, 12, 128, 160, 0.0, "none", False, True),
    ("d64_bf16", "bf16", 200, 200, 4, 64, 200, 0.0, "none", False, False),
    ("d80_bf16", "bf16", 65, 70, 2, 80, 70, 0.0, "none", False, False),
    ("t5_bf16", "bf16", 97, 97, 4, 64, 80, 1.0, "bf16", True, False),
    ("vae_f32", "f32", 150, 150, 1, 384, 150, 0.0, "none", False, False),
    ("heads_f32", "f32", 77, 190, 5, 96, 150, 0.0, "none", False, True),
    ("bias_f32", "f32", 50, 60, 2, 64, 60, 1.0, "f32", False, False),
]

for name, dtype, lq, lk, h, d, kv_len, scale, bias_kind, round_logits, ramp in CASES:
    # umT5 logits are unscaled: keep them moderate so bf16 rounding stays meaningful.
    qk_scale = 0.35 if scale == 1.0 else 1.0
    q, k, v = randn(lq, h, d, scale=qk_scale), randn(lk, h, d, scale=qk_scale), randn(lk, h, d)
    if ramp:
        k = k * torch.linspace(0.3, 1.7, lk, dtype=torch.float64).view(lk, 1, 1)
    if dtype == "bf16":
        q, k, v = q.bfloat16(), k.bfloat16(), v.bfloat16()
    else:
        q, k, v = q.float(), k.float(), v.float()
    sc = scale if scale > 0 else 1.0 / np.sqrt(d)
    # Per head: [H, Lq, D] x [H, D, Lk].
    qh, kh, vh = (t.double().permute(1, 0, 2) for t in (q, k, v))
    bias = None
    if bias_kind != "none":
        bias = randn(h, lq, lk, scale=2.0)
        bias = bias.bfloat16() if bias_kind == "bf16" else bias.float()
        save(f"{name}_bias", bias)
    if round_logits:
        # umT5, op by op on bf16 tensors (the f32 matmul result is rounded like a bf16 GEMM's).
        s = (qh.float() @ kh.float().transpose(1, 2) * sc).bfloat16()
        masked = bias.clone()
        masked[:, :, kv_len:] = torch.finfo(torch.bfloat16).min
        s = s + masked
        p = torch.softmax(s.float(), dim=-1).bfloat16()
        o = p.float() @ vh.float()
    else:
        s = qh @ kh.transpose(1, 2) * sc
        if bias is not None:
            s = s + bias.double()
        s[:, :, kv_len:] = -float("inf")
        o = torch.softmax(s, dim=-1) @ vh
    save(f"{name}_q", q)
    save(f"{name}_k", k)
    save(f"{name}_v", v)
    save(f"{name}_out", o.permute(1, 0, 2).contiguous().float())
    np.save(f"{out}/{name}_params.npy",
            np.array([kv_len, scale, {"none": 0, "bf16": 1, "f32": 2}[bias_kind], float(round_logits)],
                     dtype=np.float64))

# Softmax over the last axis.
x = (randn(37, 1000) * 5).float()
x[3, 17] = 80.0  # one dominant logit
save("softmax_f32_x", x)
save("softmax_f32_y", torch.softmax(x.double(), dim=-1).float())
xb = (randn(6, 77) * 4).bfloat16()
save("softmax_bf16_x", xb)
save("softmax_bf16_y", torch.softmax(xb.float(), dim=-1).bfloat16())
xs = (randn(3, 5) * 3).float()  # rows shorter than a vector
save("softmax_short_x", xs)
save("softmax_short_y", torch.softmax(xs.double(), dim=-1).float())
