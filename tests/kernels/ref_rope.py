"""Reference data for kernels/cpu/rope (tests/kernels/test_rope.cpp): a transcription of Wan's
rope_params / rope_apply (wan/modules/model.py), complex128 math, on random q. Writes .npy files
into --out."""
import argparse
import os

import numpy as np
import torch

ap = argparse.ArgumentParser()
ap.add_argument("--out", required=True)
out = ap.parse_args().out
os.makedirs(out, exist_ok=True)
g = torch.Generator().manual_seed(77)


def rope_params(max_seq_len, dim, theta=10000):
    assert dim % 2 == 0
    freqs = torch.outer(
        torch.arange(max_seq_len),
        1.0 / torch.pow(theta, torch.arange(0, dim, 2).to(torch.float64).div(dim)))
    return torch.polar(torch.ones_like(freqs), freqs)


def rope_apply(x, grid_sizes, freqs):
    n, c = x.size(2), x.size(3) // 2
    freqs = freqs.split([c - 2 * (c // 3), c // 3, c // 3], dim=1)
    output = []
    for i, (f, h, w) in enumerate(grid_sizes.tolist()):
        seq_len = f * h * w
        x_i = torch.view_as_complex(x[i, :seq_len].to(torch.float64).reshape(seq_len, n, -1, 2))
        freqs_i = torch.cat([
            freqs[0][:f].view(f, 1, 1, -1).expand(f, h, w, -1),
            freqs[1][:h].view(1, h, 1, -1).expand(f, h, w, -1),
            freqs[2][:w].view(1, 1, w, -1).expand(f, h, w, -1)
        ], dim=-1).reshape(seq_len, 1, -1)
        x_i = torch.view_as_real(x_i * freqs_i).flatten(2)
        x_i = torch.cat([x_i, x[i, seq_len:]])
        output.append(x_i)
    return torch.stack(output).float()


# name, (frames, height, width), tokens L (>= grid), heads, head dim
CASES = [
    ("wan128", (3, 4, 5), 67, 3, 128),   # 7 padding tokens pass through
    ("d64", (2, 3, 7), 42, 2, 64),
    ("d38", (2, 2, 3), 14, 3, 38),  # not a multiple of the vector width: the scalar tail
    ("far_t", (700, 1, 2), 1400, 1, 128),  # positions up to the reference table's 1024 rows
    ("far_w", (1, 2, 1000), 2003, 1, 128),
]
for name, grid, L, heads, d in CASES:
    freqs = torch.cat([
        rope_params(1024, d - 4 * (d // 6)),
        rope_params(1024, 2 * (d // 6)),
        rope_params(1024, 2 * (d // 6))
    ], dim=1)
    x = (torch.randn(1, L, heads, d, generator=g) * 3).float()
    y = rope_apply(x, torch.tensor([grid]), freqs)
    np.save(f"{out}/rope_{name}_x.npy", x[0].numpy())
    np.save(f"{out}/rope_{name}_y.npy", y[0].numpy())
    np.save(f"{out}/rope_{name}_grid.npy", np.array(grid, dtype=np.int64))
