"""Reads a safetensors file into a dict of torch tensors (Debian 12 has no `safetensors`
package); used by scripts/fullsize_check.py."""
import json
import struct

import numpy as np
import torch

_NP = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32, "U8": np.uint8}


def load(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
    data = np.memmap(path, dtype=np.uint8, mode="r")
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        raw = data[base + begin: base + end]
        if info["dtype"] == "BF16":
            t = torch.from_numpy(np.array(raw).view(np.int16)).view(torch.bfloat16)
        else:
            t = torch.from_numpy(np.array(raw).view(_NP[info["dtype"]]))
        out[name] = t.reshape(info["shape"])
    return out
