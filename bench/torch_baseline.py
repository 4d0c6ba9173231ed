"""PyTorch baselines for the kernel benchmarks, run in the same session as kinema_bench so that
bench/run.sh can print ratios. Uses Debian's python3-torch (run with /usr/bin/python3).
Prints one JSON object: {name: GFLOP/s}."""
import argparse
import json
import math
import time

import torch
import torch.nn.functional as F

ap = argparse.ArgumentParser()
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--min-time", type=float, default=1.0)
args = ap.parse_args()
torch.set_num_threads(args.threads)
torch.manual_seed(0)


def rate(fn, flops):
    fn()  # warm up
    reps, start = 0, time.perf_counter()
    while True:
        fn()
        reps += 1
        elapsed = time.perf_counter() - start
        if elapsed >= args.min_time:
            return flops * reps / elapsed / 1e9


results = {}
with torch.no_grad():
    for m, k, n in [(4096, 1536, 1536), (4096, 1536, 8960), (4096, 8960, 1536)]:
        for dtype, tag in [(torch.float32, "f32"), (torch.bfloat16, "bf16")]:
            x = torch.randn(m, k, dtype=dtype)
            w = torch.randn(n, k, dtype=dtype) * 0.02
            wt = w.t().contiguous()
            results[f"linear_{tag}/{m}x{k}x{n}"] = rate(lambda: F.linear(x, w), 2.0 * m * k * n)
            results[f"matmul_{tag}/{m}x{k}x{n}"] = rate(lambda: torch.matmul(x, wt), 2.0 * m * k * n)

    def chunked_attention(q, k, v, chunk=512):
        # Per-head, 512-query chunks: the fastest PyTorch 1.13 CPU formulation measured here.
        out = torch.empty_like(q)
        scale = 1.0 / math.sqrt(q.shape[-1])
        for h in range(q.shape[0]):
            for s in range(0, q.shape[1], chunk):
                scores = torch.matmul(q[h, s:s + chunk], k[h].t()) * scale
                out[h, s:s + chunk] = torch.matmul(torch.softmax(scores.float(), -1).to(q.dtype), v[h])
        return out

    for lq, lk in [(4096, 4096), (4096, 512)]:
        heads, d = 12, 128
        q = torch.randn(heads, lq, d, dtype=torch.bfloat16)
        k = torch.randn(heads, lk, d, dtype=torch.bfloat16)
        v = torch.randn(heads, lk, d, dtype=torch.bfloat16)
        results[f"attention_bf16/{lq}x{lk}"] = rate(lambda: chunked_attention(q, k, v),
                                                    4.0 * lq * lk * d * heads)
print(json.dumps(results))
