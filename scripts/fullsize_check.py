"""Full-size check of the Wan2.1-T2V-1.3B DiT (not part of `make test`; several minutes).

1. Writes random weights with the exact official 1.3B tensor names, shapes and dtype (f32, one
   diffusion_pytorch_model.safetensors, 5.7 GB) unless the file exists.
2. Runs one DiT forward at WxHxF (default 480x272x17 frames: 2,550 tokens) through Kinema
   (build/kinema_dit_step) in f32 and bf16, and through our PyTorch reference model
   (tests/reference/wan_dit.py) with the same weights, in the same run, with the same threads.
3. Prints a Markdown table: seconds per forward and per guided step (two forwards), peak RSS,
   and the PyTorch/Kinema time ratio.

Usage: /usr/bin/python3 scripts/fullsize_check.py [--dir /tmp/kinema-1.3b] [--threads 2]
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
from wan_dit import WAN21_T2V_1_3B, Precision, WanDiT, random_dit  # noqa: E402
from weights_io import save_safetensors  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--dir", default="/tmp/kinema-1.3b")
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--size", default="480x272")
ap.add_argument("--frames", type=int, default=17)
ap.add_argument("--skip-torch", action="store_true")
ap.add_argument("--torch-worker", help=argparse.SUPPRESS)
args = ap.parse_args()
width, height = map(int, args.size.split("x"))
weights = os.path.join(args.dir, "diffusion_pytorch_model.safetensors")


def torch_worker(precision):
    """One forward through the PyTorch reference, in a fresh process (clean peak RSS)."""
    torch.set_num_threads(args.threads)
    with torch.no_grad():
        t0 = time.time()
        model = WanDiT(WAN21_T2V_1_3B)
        from safetensors_reader import load  # noqa: E402
        model.load_state_dict(load(weights))
        if precision == "bf16":
            # Native bf16 GEMMs (torch's fast path) with the reference's rounding points.
            def linear(self, x, layer):
                cache = layer.__dict__.setdefault("_bf16", {})
                if "w" not in cache:
                    cache["w"] = layer.weight.bfloat16()
                    cache["b"] = None if layer.bias is None else layer.bias.bfloat16()
                return torch.nn.functional.linear(x.bfloat16(), cache["w"], cache["b"]).float()
            Precision.linear = linear
        load_s = time.time() - t0
        g = torch.Generator().manual_seed(0)
        latent = torch.randn(16, (args.frames - 1) // 4 + 1, height // 8, width // 8, generator=g)
        context = torch.randn(24, 4096, generator=g)
        t0 = time.time()
        model(latent, 999, context, precision)
        forward_s = time.time() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(json.dumps({"precision": precision, "load_s": load_s, "forward_s": forward_s,
                      "guided_step_s": 2 * forward_s, "peak_rss_mb": rss}))


if args.torch_worker:
    sys.path.insert(0, HERE)
    torch_worker(args.torch_worker)
    sys.exit(0)

if not os.path.exists(weights):
    os.makedirs(args.dir, exist_ok=True)
    print(f"writing random 1.3B weights to {weights} ...", file=sys.stderr)
    model = random_dit(WAN21_T2V_1_3B, 0)
    save_safetensors(weights + ".tmp", {k: v.contiguous() for k, v in model.state_dict().items()})
    os.replace(weights + ".tmp", weights)
    del model

rows = []
tool = os.path.join(ROOT, "build", "kinema_dit_step")
torch_cache = {}
for precision, pack in (("f32", False), ("bf16", False), ("bf16", True)):
    out = subprocess.run([tool, weights, str(width), str(height), str(args.frames), precision,
                          str(args.threads)] + (["pack"] if pack else []), check=True,
                         capture_output=True, text=True).stdout
    k = json.loads(out)
    t = torch_cache.get(precision)
    if t is None and not args.skip_torch:
        res = subprocess.run([sys.executable, __file__, "--dir", args.dir, "--threads",
                              str(args.threads), "--size", args.size, "--frames", str(args.frames),
                              "--torch-worker", precision], check=True, capture_output=True,
                             text=True)
        t = torch_cache[precision] = json.loads(res.stdout.strip().splitlines()[-1])
    rows.append((precision + (", packed weights" if pack else ""), k, t))

tokens = rows[0][1]["tokens"]
print(f"Wan2.1-T2V-1.3B DiT, {width}x{height}x{args.frames} frames ({tokens} tokens), "
      f"{args.threads} threads, random weights (f32 safetensors)\n")
print("| precision | Kinema s/forward | Kinema s/guided step | Kinema peak RSS | "
      "PyTorch s/forward | PyTorch peak RSS | PyTorch / Kinema |")
print("|---|---|---|---|---|---|---|")
for precision, k, t in rows:
    tf = f"{t['forward_s']:.1f}" if t else "-"
    tr = f"{t['peak_rss_mb'] / 1024:.1f} GiB" if t else "-"
    ratio = f"{t['forward_s'] / k['forward_s']:.1f}x" if t else "-"
    print(f"| {precision} | {k['forward_s']:.2f} | {k['guided_step_s']:.2f} | "
          f"{k['peak_rss_mb'] / 1024:.1f} GiB | {tf} | {tr} | {ratio} |")
print(f"\nKinema load: {rows[0][1]['load_s']:.2f} s, RSS after load "
      f"{rows[0][1]['rss_after_load_mb']} MB (weights memory-mapped, not copied)")
