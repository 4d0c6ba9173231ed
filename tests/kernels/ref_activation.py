"""Reference data for the activation kernels (src/kernels/cpu/activation.h). Writes .npy files
into --out; bf16 tensors are stored as uint16 bit patterns.

The bf16 references follow the semantics the Wan reference runs with (CUDA kernels): a fused
activation computes in f32 and rounds once. Debian's CPU torch 1.13 instead rounds bf16 GELU and
SiLU op by op, so those are computed here on f32 and rounded explicitly. The umT5 GELU is
transcribed op by op with an explicit bf16 rounding after each operation (wan/modules/t5.py)."""
import argparse
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

ap = argparse.ArgumentParser()
ap.add_argument("--out", required=True)
out = ap.parse_args().out
os.makedirs(out, exist_ok=True)
g = torch.Generator().manual_seed(20240611)


def bits(t):
    return t.contiguous().view(torch.int16).numpy().view(np.uint16)


def save(name, t):
    np.save(f"{out}/{name}.npy", bits(t) if t.dtype == torch.bfloat16 else t.numpy())


# An odd count, so that every vector path has a tail. Values spread over the range where the
# activations bend, plus a few large magnitudes.
n = 50021
x = torch.randn(n, generator=g) * 3
x[:64] = torch.linspace(-30, 30, 64)
save("act_x_f32", x)
save("gelu_tanh_f32", F.gelu(x, approximate="tanh"))
save("gelu_erf_f32", F.gelu(x))
save("silu_f32", F.silu(x))

xb = x.bfloat16()
save("act_x_bf16", xb)
save("gelu_tanh_bf16", F.gelu(xb.float(), approximate="tanh").bfloat16())
save("gelu_erf_bf16", F.gelu(xb.float()).bfloat16())
save("silu_bf16", F.silu(xb.float()).bfloat16())


def r(t):  # one bf16 rounding of an f32 result
    return t.float().bfloat16()


def gelu_t5(x):
    """wan/modules/t5.py GELU: 0.5 * x * (1.0 + tanh(sqrt(2/pi) * (x + 0.044715 * pow(x, 3))))
    evaluated on bf16 tensors on the CPU, as the official encoder runs there: every operation
    rounds to bf16, the constants are rounded to bf16 first, and pow(x, 3) is (x * x) * x with
    a rounding after each product. The explicit op-by-op form below is checked against it."""
    xb = x.bfloat16()
    official = 0.5 * xb * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) *
                                             (xb + 0.044715 * torch.pow(xb, 3.0))))
    xf = xb.float()
    square = r(xf * xf)
    cube = r(square.float() * xf)
    t = r(cube.float() * r(torch.tensor(0.044715)).float())
    t = r(xf + t.float())
    t = r(t.float() * r(torch.tensor(math.sqrt(2.0 / math.pi))).float())
    t = r(torch.tanh(t.float()))
    t = r(1.0 + t.float())
    half = r(0.5 * xf)
    explicit = r(half.float() * t.float())
    assert torch.equal(explicit, official), "the op-by-op form no longer matches torch's bf16 path"
    return official


save("gelu_t5_bf16", gelu_t5(xb))
a = (torch.randn(n, generator=g) * 2).bfloat16()
save("gated_a_bf16", a)
save("gated_t5_bf16", r(a.float() * gelu_t5(xb).float()))
