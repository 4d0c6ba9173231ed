"""EasyCache (Zhou et al. 2025, "Less is Enough: Training-Free Video Diffusion Acceleration via
Runtime-Adaptive Caching"; H-EmbodVis/EasyCache EasyCache4Wan2.1), written for Kinema's tests
from the published algorithm: a step's model passes are skipped while the accumulated predicted
relative output change stays under a threshold, reusing each pass's last transformation
(output - input). L1 means are taken in float64."""
import torch


def _mean_abs(a, b=None):
    a = a.double()
    return float((a - b.double()).abs().mean()) if b is not None else float(a.abs().mean())


class EasyCache:
    def __init__(self, steps, threshold, warmup=None):
        self.steps = steps
        self.threshold = threshold
        self.warmup = warmup if warmup is not None else max(2, steps // 10)
        self.prev_input = None
        self.computed_input = None
        self.computed_output = None
        self.transform = {}
        self.rate = 0.0
        self.output_norm = 0.0
        self.accumulated = 0.0
        self.skipped = 0

    def skip(self, i, x):
        change = _mean_abs(x, self.prev_input) if self.prev_input is not None else 0.0
        self.prev_input = x.clone()
        if i < self.warmup or i >= self.steps - 1 or self.rate <= 0 or self.output_norm <= 0 \
                or 0 not in self.transform:
            self.accumulated = 0.0
            return False
        self.accumulated += self.rate * change / self.output_norm
        if self.accumulated < self.threshold:
            self.skipped += 1
            return True
        self.accumulated = 0.0
        return False

    def reuse(self, p, x):
        return x + self.transform[p]

    def store(self, i, p, x, v):
        self.transform[p] = v - x
        if p != 0:
            return
        if self.computed_output is not None:
            out_change = _mean_abs(v, self.computed_output)
            in_change = _mean_abs(x, self.computed_input)
            if in_change > 0:
                self.rate = out_change / in_change
        self.computed_input = x.clone()
        self.computed_output = v.clone()
        self.output_norm = _mean_abs(v)


def denoise(model_fn, x, timesteps, solver, guidance, cache=None, noises=None):
    """Kinema's denoise loop (src/pipeline/denoise.cpp): one pass per step at guidance 1, two
    (prompt, negative prompt) otherwise; the cache answers skipped steps. model_fn(x, t, pass).
    Returns (x, forwards, skipped)."""
    passes = 1 if guidance == 1 else 2
    forwards = 0
    for i, t in enumerate(timesteps):
        if cache is not None and cache.skip(i, x):
            outs = [cache.reuse(p, x) for p in range(passes)]
        else:
            outs = []
            for p in range(passes):
                outs.append(model_fn(x, float(t), p))
                forwards += 1
                if cache is not None:
                    cache.store(i, p, x, outs[-1])
        v = outs[0] if passes == 1 else outs[1] + guidance * (outs[0] - outs[1])
        x = solver.step(i, v, x, noises[i]) if noises is not None else solver.step(i, v, x)
    return x, forwards, (cache.skipped if cache is not None else 0)
