"""Names and shapes of the PyTorch reference models' state dicts (official layout), to check
the C++ tensor tables against."""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
from umt5 import T5Config, UMT5Encoder  # noqa: E402
from wan_dit import DiTConfig, WanDiT  # noqa: E402
from wan_vae import VAEConfig, WanVAE  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--out", required=True)
out = ap.parse_args().out
os.makedirs(out, exist_ok=True)


def table(model):
    return [[k, list(v.shape)] for k, v in model.state_dict().items()]


torch.set_num_threads(1)
tables = {
    "dit_tiny": table(WanDiT(DiTConfig(dim=64, ffn_dim=96, num_heads=2, num_layers=2, text_dim=32,
                                       text_len=16))),
    "vae_tiny": table(WanVAE(VAEConfig(base_dim=8))),
    "vae_wan21": table(WanVAE(VAEConfig())),
    "t5_tiny": table(UMT5Encoder(T5Config(vocab=50, dim=32, ffn_dim=40, num_heads=4, head_dim=8,
                                          num_layers=2))),
}
with open(f"{out}/tables.json", "w") as f:
    json.dump(tables, f)
