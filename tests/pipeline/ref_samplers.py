"""Reference data for the samplers: each solver run for a few steps on random velocities
(fresh per step), through tests/reference/samplers.py, plus the schedules and noise; the
distilled releases' schedules and the re-noising (lcm) sampler; and the denoise loop with a
smooth fake model, with and without EasyCache (tests/reference/step_cache.py)."""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
import samplers  # noqa: E402
import step_cache  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--out", required=True)
out = ap.parse_args().out
os.makedirs(out, exist_ok=True)
g = torch.Generator().manual_seed(99)

for steps, shift in [(50, 5.0), (50, 3.0), (7, 8.0)]:
    for name, fn in [("unipc", samplers.unipc_schedule), ("dpm", samplers.dpm_schedule)]:
        t, s = fn(steps, shift)
        np.save(f"{out}/schedule_{name}_{steps}_{int(shift)}_t.npy", t.astype(np.int64))
        np.save(f"{out}/schedule_{name}_{steps}_{int(shift)}_s.npy", s.astype(np.float32))

steps = 6
x0 = torch.randn(2, 3, 4, 5, generator=g)
vs = torch.randn(steps, 2, 3, 4, 5, generator=g) * 0.7 + 0.2
np.save(f"{out}/sampler_x0.npy", x0.numpy())
np.save(f"{out}/sampler_v.npy", vs.numpy())
for name in ["unipc", "dpm++", "euler"]:
    schedule = samplers.dpm_schedule if name == "dpm++" else samplers.unipc_schedule
    _, sigmas = schedule(steps, 5.0)
    solver = {"unipc": samplers.UniPC, "dpm++": samplers.DPMpp2M, "euler": samplers.Euler}[name](sigmas)
    x = x0.clone()
    trace = []
    for i in range(steps):
        x = solver.step(i, vs[i], x)
        trace.append(x.clone())
    np.save(f"{out}/sampler_{name.replace('+', 'p')}.npy", torch.stack(trace).numpy())


# The distilled schedules (lightx2v's [1000, 750, 500, 250] at shift 5, and others).
for steps, shift in [(4, 5.0), (4, 3.0), (8, 8.0), (3, 1.0), (1, 5.0)]:
    t, s = samplers.lcm_schedule(steps, shift)
    np.save(f"{out}/schedule_lcm_{steps}_{int(shift)}_t.npy", t.astype(np.float32))
    np.save(f"{out}/schedule_lcm_{steps}_{int(shift)}_s.npy", s.astype(np.float32))

# The re-noising sampler over 4 steps with recorded fresh noise.
_, lcm_sigmas = samplers.lcm_schedule(4, 5.0)
lcm_noise = torch.randn(4, 2, 3, 4, 5, generator=g)
np.save(f"{out}/lcm_noise.npy", lcm_noise.numpy())
solver = samplers.LCM(lcm_sigmas)
x = x0.clone()
trace = []
for i in range(4):
    x = solver.step(i, vs[i], x, lcm_noise[i])
    trace.append(x.clone())
np.save(f"{out}/sampler_lcm.npy", torch.stack(trace).numpy())


def fake_model(x, t, p):
    """A smooth stand-in for a DiT, the same expression as test_denoise.cpp's."""
    a = np.float32(0.3 + 0.1 * p)
    r = torch.tensor(np.float32(t / 1000.0))
    return (a * x) * r - np.float32(0.2) * (1 - r) + np.float32(0.05) * (x * x)


# The denoise loop: UniPC at guidance 5 and 1, with EasyCache at two thresholds and without; the
# re-noising sampler at guidance 1.
start = torch.randn(2, 3, 4, 5, generator=g)
np.save(f"{out}/denoise_x0.npy", start.numpy())
runs = {}
for name, guidance, threshold in [("g5", 5.0, None), ("g5_cache05", 5.0, 0.05),
                                  ("g5_cache20", 5.0, 0.2), ("g1", 1.0, None)]:
    timesteps, sigmas = samplers.unipc_schedule(20, 3.0)
    cache = step_cache.EasyCache(20, threshold) if threshold is not None else None
    x, forwards, skipped = step_cache.denoise(fake_model, start.clone(), timesteps,
                                              samplers.UniPC(sigmas), guidance, cache)
    np.save(f"{out}/denoise_{name}.npy", x.numpy())
    runs[name] = {"forwards": forwards, "skipped": skipped}
timesteps, sigmas = samplers.lcm_schedule(4, 5.0)
x, forwards, skipped = step_cache.denoise(fake_model, start.clone(), timesteps,
                                          samplers.LCM(sigmas), 1.0, None, lcm_noise)
np.save(f"{out}/denoise_lcm.npy", x.numpy())
runs["lcm"] = {"forwards": forwards, "skipped": skipped}
with open(f"{out}/denoise_runs.json", "w") as f:
    json.dump(runs, f)


def philox(ctr, key):
    m0, m1 = 0xD2511F53, 0xCD9E8D57
    ctr, key = list(ctr), list(key)
    for _ in range(10):
        p0, p1 = m0 * ctr[0], m1 * ctr[2]
        ctr = [((p1 >> 32) ^ ctr[1] ^ key[0]) & 0xFFFFFFFF, p1 & 0xFFFFFFFF,
               ((p0 >> 32) ^ ctr[3] ^ key[1]) & 0xFFFFFFFF, p0 & 0xFFFFFFFF]
        key = [(key[0] + 0x9E3779B9) & 0xFFFFFFFF, (key[1] + 0xBB67AE85) & 0xFFFFFFFF]
    return ctr


seed = 0x1234_5678_9ABC
vals = []
for b in range(64):
    w = philox([b & 0xFFFFFFFF, b >> 32, 0, 0], [seed & 0xFFFFFFFF, seed >> 32])
    u = [(x + 0.5) / 2**32 for x in w]
    for pair in range(2):
        r = math.sqrt(-2 * math.log(u[2 * pair]))
        vals += [r * math.cos(2 * math.pi * u[2 * pair + 1]), r * math.sin(2 * math.pi * u[2 * pair + 1])]
np.save(f"{out}/noise_seed.npy", np.array(vals, dtype=np.float32))

# Injected noise files: a named tensor among others, and a lone bf16 tensor.
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
from weights_io import save_safetensors  # noqa: E402
noise = torch.randn(16, 2, 4, 6, generator=g)
save_safetensors(f"{out}/noise_named.safetensors", {"other": torch.ones(3), "noise": noise})
save_safetensors(f"{out}/noise_single.safetensors", {"x": noise.bfloat16()})
save_safetensors(f"{out}/noise_two.safetensors", {"a": noise, "b": noise})
np.save(f"{out}/noise_injected.npy", noise.numpy())
