"""Reference data for kernels/cpu/matmul (test_matmul.cpp), from PyTorch 1.13 on the CPU.

For each case x [M, K], w [N, K], b [N] (f32, fresh random values) it writes:
  linear_<case>_f32      F.linear in f64, as f32: the oracle for the F32 path
  linear_<case>_bf16     F.linear under autocast(bf16): bf16 output (u16 bits), what the Wan DiT's
                         linears compute; torch rounds x, w and b to bf16, sums in f32, adds the
                         bias to the f32 sum and rounds once
  linear_<case>_bf16_f32 the same operands rounded to bf16, summed in f64, no output rounding: the
                         oracle for a BF16 linear writing f32
  linear_<case>_nobias_bf16  autocast F.linear without bias
and for plain products a [M, K] @ b [K, N]: matmul_<case>_f32 (f64 oracle) and matmul_<case>_bf16
(bf16-rounded operands summed in f64, rounded once to bf16). Not torch's own bf16 matmul: below
oneDNN's size threshold torch 1.13 runs a native kernel that sums in bf16 (errors of 3% at K=19).
"""
import argparse
import os

import numpy as np
import torch
import torch.nn.functional as F

ap = argparse.ArgumentParser()
ap.add_argument("--out", required=True)
out = ap.parse_args().out
os.makedirs(out, exist_ok=True)
g = torch.Generator().manual_seed(20261128)


def save(name, t):
    if t.dtype == torch.bfloat16:
        np.save(f"{out}/{name}.npy", t.view(torch.int16).numpy().view(np.uint16))
    else:
        np.save(f"{out}/{name}.npy", t.contiguous().numpy())


def rand(*shape):
    return torch.rand(*shape, generator=g) * 2 - 1


# (name, M, K, N): ragged shapes, a Wan-like small block, and two crossing the packed layout's
# 64-column blocks.
LINEAR_CASES = [
    ("m1", 1, 37, 5),
    ("m7_n3", 7, 100, 3),
    ("wan_small", 64, 256, 192),
    ("ragged", 33, 77, 65),
    ("tall", 130, 96, 130),
    ("long", 300, 80, 67),
]
for name, m, k, n in LINEAR_CASES:
    x, w, b = rand(m, k), rand(n, k), rand(n)
    save(f"linear_{name}_x", x)
    save(f"linear_{name}_w", w)
    save(f"linear_{name}_b", b)
    save(f"linear_{name}_f32", F.linear(x.double(), w.double(), b.double()).float())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = F.linear(x, w, b)
        y_nobias = F.linear(x, w)
    assert y.dtype == torch.bfloat16
    save(f"linear_{name}_bf16", y)
    save(f"linear_{name}_nobias_bf16", y_nobias)
    xb, wb, bb = (t.bfloat16().double() for t in (x, w, b))
    save(f"linear_{name}_bf16_f32", (xb @ wb.T + bb).float())

MATMUL_CASES = [("small", 5, 19, 7), ("square", 96, 96, 96)]
for name, m, k, n in MATMUL_CASES:
    a, b = rand(m, k), rand(k, n)
    save(f"matmul_{name}_a", a)
    save(f"matmul_{name}_b", b)
    save(f"matmul_{name}_f32", (a.double() @ b.double()).float())
    save(f"matmul_{name}_bf16", (a.bfloat16().double() @ b.bfloat16().double()).float().bfloat16())
