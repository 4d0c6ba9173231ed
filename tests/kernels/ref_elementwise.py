"""Reference data for the elementwise kernels (src/kernels/cpu/elementwise.h). Writes .npy files
into --out; bf16 tensors are stored as uint16 bit patterns."""
import argparse
import os

import numpy as np
import torch

ap = argparse.ArgumentParser()
ap.add_argument("--out", required=True)
out = ap.parse_args().out
os.makedirs(out, exist_ok=True)
g = torch.Generator().manual_seed(4242)


def save(name, t):
    t = t.contiguous()
    arr = t.view(torch.int16).numpy().view(np.uint16) if t.dtype == torch.bfloat16 else t.numpy()
    np.save(f"{out}/{name}.npy", arr)


n = 30011  # odd: every vector path has a tail
a = torch.randn(n, generator=g) * 2
b = (torch.randn(n, generator=g) * 3).bfloat16()
c = (torch.randn(n, generator=g)).bfloat16()
save("ew_a_f32", a)
save("ew_b_bf16", b)
save("ew_c_bf16", c)
save("ew_add_f32_bf16", a + b)        # cross-attention residual: f32 + bf16 -> f32
save("ew_mul_bf16", b * c)            # bf16 * bf16 -> bf16, one rounding
save("ew_add_bf16_out", (a + b.float()).bfloat16())
save("ew_scale", a * 0.37)

# The DiT's gated residual x + y * gate with per-batch gates [B, 1, D] and a bf16 y.
x = torch.randn(2, 33, 1000, generator=g)
y = (torch.randn(2, 33, 1000, generator=g) * 4).bfloat16()
gate = torch.randn(2, 1, 1000, generator=g) * 0.5
save("gated_x", x)
save("gated_y", y)
save("gated_gate", gate)
save("gated_out", x + y * gate)

# f32 -> bf16 over many magnitudes, exact ties, subnormals and specials; clamp to [-1, 1].
v = torch.randn(8192, generator=g) * torch.exp(torch.randn(8192, generator=g) * 8)
special = torch.tensor([1.0 + 2**-8, 1.0 + 3 * 2**-8, -(1.0 + 2**-8), 1e-40, -3e-39, 3.4e38,
                        float("inf"), -float("inf"), float("nan"), 0.0, -0.0, 0.5])
v = torch.cat([v, special]).float()
save("cast_f32", v)
save("cast_bf16", v.bfloat16())
save("clamp_out", torch.clamp(v, -1.0, 1.0))
