"""Reference data for dtype conversions (bf16, f16 through torch; fp8 by the OCP formulas,
since Debian's torch 1.13 has no float8 types). Writes .npy files into --out."""
import argparse
import os

import numpy as np
import torch

ap = argparse.ArgumentParser()
ap.add_argument("--out", required=True)
out = ap.parse_args().out
os.makedirs(out, exist_ok=True)
g = torch.Generator().manual_seed(1234)

# Values across many magnitudes, plus exact ties and specials.
x = torch.randn(4096, generator=g) * torch.exp(torch.randn(4096, generator=g) * 6)
ties = torch.tensor([1.0 + 2**-8, 1.0 + 3 * 2**-8, -(1.0 + 2**-8), 65504.0, 65520.0, 1e-8, 6e-8,
                     3e-5, float("inf"), -float("inf"), 0.5, -0.0])
x = torch.cat([x, ties]).float()
np.save(f"{out}/convert_input.npy", x.numpy())
np.save(f"{out}/to_bf16.npy", x.to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16))
np.save(f"{out}/to_f16.npy", x.to(torch.float16).numpy())


def fp8_table(exp_bits, mant_bits, bias, fn):
    """Decodes all 256 codes. fn: e4m3fn (no inf, only S.1111.111 is NaN)."""
    vals = []
    for code in range(256):
        s = -1.0 if code & 0x80 else 1.0
        e = (code >> mant_bits) & ((1 << exp_bits) - 1)
        m = code & ((1 << mant_bits) - 1)
        if fn and e == (1 << exp_bits) - 1 and m == (1 << mant_bits) - 1:
            vals.append(np.nan)
        elif not fn and e == (1 << exp_bits) - 1:
            vals.append(s * np.inf if m == 0 else np.nan)
        elif e == 0:
            vals.append(s * m * 2.0 ** (1 - bias - mant_bits))
        else:
            vals.append(s * (1 + m / 2**mant_bits) * 2.0 ** (e - bias))
    return np.array(vals, dtype=np.float32)


np.save(f"{out}/f8e4m3_table.npy", fp8_table(4, 3, 7, True))
np.save(f"{out}/f8e5m2_table.npy", fp8_table(5, 2, 15, False))
