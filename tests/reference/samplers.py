"""Flow-matching samplers as Wan2.1 uses them (wan-spec section 6), written for Kinema's tests:
the shifted sigma schedules, UniPC (bh2, order 2), DPM++ 2M and Euler, and classifier-free
guidance; and the few-step sampler of the step-distilled releases (docs/lora-and-distillation.md):
the 1000-step grid's list of timesteps with shift, and the LCM-style re-noising step. Scalars
follow the reference's float64 / float32 points."""
import math

import numpy as np
import torch


def unipc_schedule(steps, shift):
    """(int timesteps, fp32 sigmas with a trailing 0) of the official UniPC path."""
    sigma_max = float(np.float32(0.999))  # the fp32 top of the 1000-step training grid
    base = np.linspace(sigma_max, 0.0, steps + 1)[:steps]
    sigmas = shift * base / (1 + (shift - 1) * base)
    timesteps = (sigmas * 1000).astype(np.int64)
    return timesteps, np.append(sigmas, 0.0).astype(np.float32)


def dpm_schedule(steps, shift):
    """The DPM++ path starts at sigma 1 exactly (get_sampling_sigmas)."""
    base = np.linspace(1.0, 0.0, steps + 1)[:steps]
    sigmas = shift * base / (1 + (shift - 1) * base)
    timesteps = (sigmas * 1000).astype(np.int64)
    return timesteps, np.append(sigmas, 0.0).astype(np.float32)


def step_list(steps):
    """The distilled releases' timestep list on the 1000-step grid: 1000 - floor(k * 1000 / steps)
    ([1000, 750, 500, 250] for 4 steps: lightx2v's denoising_step_list, and what ComfyUI's
    "simple" scheduler picks from a flow model's 1000 sigmas)."""
    return [1000 - (k * 1000) // steps for k in range(steps)]


def lcm_schedule(steps, shift, timesteps=None):
    """(float32 timesteps, float32 sigmas with a trailing 0) of the distilled schedule: each grid
    timestep s/1000 shifted (float64), rounded to float32; the DiT sees 1000 * sigma (float32,
    not truncated to an integer)."""
    grid = np.array(timesteps if timesteps is not None else step_list(steps), dtype=np.float64)
    base = grid / 1000.0
    sigmas = (shift * base / (1 + (shift - 1) * base)).astype(np.float32)
    return sigmas * np.float32(1000), np.append(sigmas, np.float32(0)).astype(np.float32)


class LCM:
    """The re-noising few-step sampler (lightx2v WanStepDistillScheduler.step_post, ComfyUI
    sample_lcm with a flow model's noise_scaling): x0 = x - sigma_i v; the next sample is
    (1 - sigma_{i+1}) x0 + sigma_{i+1} noise_i with fresh noise, and x0 itself after the last
    step."""

    def __init__(self, sigmas):
        self.sigmas = sigmas

    def step(self, i, v, x, noise=None):
        x0 = x - torch.tensor(self.sigmas[i]) * v
        nxt = torch.tensor(self.sigmas[i + 1])
        if float(nxt) == 0.0:
            return x0
        return (1 - nxt) * x0 + nxt * noise


def _lambda(sigma):
    sigma = torch.tensor(sigma, dtype=torch.float32)
    alpha = 1 - sigma
    return torch.log(alpha) - torch.log(sigma), alpha, sigma


class UniPC:
    """FlowUniPCMultistepScheduler with solver_order 2, bh2, predict_x0, lower_order_final."""

    def __init__(self, sigmas):
        self.sigmas = sigmas
        self.steps = len(sigmas) - 1
        self.models = []  # last data predictions, newest last
        self.last_sample = None
        self.prev_order = 0
        self.lower_order_nums = 0

    def step(self, i, v, x):
        s = self.sigmas
        m = x - torch.tensor(s[i]) * v
        if i > 0:
            x = self._correct(i, m)
        self.models = (self.models + [m])[-2:]
        order = min(2, self.steps - i, self.lower_order_nums + 1)
        self.lower_order_nums = min(self.lower_order_nums + 1, 2)
        self.last_sample = x
        self.prev_order = order
        return self._predict(i, x, order)

    def _predict(self, i, x, order):
        s = self.sigmas
        lam_t, alpha_t, sigma_t = _lambda(s[i + 1])
        lam_s, _, sigma_s = _lambda(s[i])
        m0 = self.models[-1]
        h = lam_t - lam_s
        hh = -h
        phi = torch.expm1(hh)
        ratio = sigma_t / sigma_s
        x_t = ratio * x - (alpha_t * phi) * m0
        if order == 2:
            lam_prev, _, _ = _lambda(s[i - 1])
            r = (lam_prev - lam_s) / h
            d = (self.models[-2] - m0) / r
            x_t = x_t - (alpha_t * phi) * (0.5 * d)
        return x_t

    def _correct(self, i, m_new):
        s = self.sigmas
        order = self.prev_order
        lam_t, alpha_t, sigma_t = _lambda(s[i])
        lam_s, _, sigma_s = _lambda(s[i - 1])
        m0 = self.models[-1]
        h = lam_t - lam_s
        hh = -h
        phi = torch.expm1(hh)
        b = phi
        g1 = phi / hh - 1
        if order == 1:
            rho_d, rho_last = None, torch.tensor(0.5)
        else:
            lam_prev, _, _ = _lambda(s[i - 2])
            r = (lam_prev - lam_s) / h
            d = (self.models[-2] - m0) / r
            g2 = g1 / hh - 0.5
            a = torch.tensor([[1.0, 1.0], [float(r), 1.0]])
            rhs = torch.stack([g1 / b, 2 * g2 / b]).float()
            rho = torch.linalg.solve(a, rhs)
            rho_d, rho_last = rho[0], rho[1]
        ratio = sigma_t / sigma_s
        res = rho_last * (m_new - m0)
        if rho_d is not None:
            res = rho_d * d + res
        return ratio * self.last_sample - (alpha_t * phi) * m0 - (alpha_t * b) * res


class DPMpp2M:
    """DPM-Solver++ 2M (midpoint), first and last steps first-order."""

    def __init__(self, sigmas):
        self.sigmas = sigmas
        self.steps = len(sigmas) - 1
        self.models = []

    def step(self, i, v, x):
        s = self.sigmas
        m = x - torch.tensor(s[i]) * v
        self.models = (self.models + [m])[-2:]
        lam_t, alpha_t, sigma_t = _lambda(s[i + 1])
        lam_s, _, sigma_s = _lambda(s[i])
        h = lam_t - lam_s
        e = torch.expm1(-h)
        x_t = (sigma_t / sigma_s) * x - alpha_t * e * m
        if i > 0 and i < self.steps - 1:
            lam_prev, _, _ = _lambda(s[i - 1])
            r0 = (lam_s - lam_prev) / h
            d1 = (m - self.models[0]) / r0
            x_t = x_t - 0.5 * alpha_t * e * d1
        return x_t


class Euler:
    def __init__(self, sigmas):
        self.sigmas = sigmas

    def step(self, i, v, x):
        return x + float(self.sigmas[i + 1] - self.sigmas[i]) * v


def sample(model_fn, noise, steps, shift, guidance, sampler="unipc"):
    """model_fn(x, t_int, cond: bool) -> velocity. Returns the final latent."""
    schedule = dpm_schedule if sampler == "dpm++" else unipc_schedule
    timesteps, sigmas = schedule(steps, shift)
    solver = {"unipc": UniPC, "dpm++": DPMpp2M, "euler": Euler}[sampler](sigmas)
    x = noise.float()
    for i in range(steps):
        v_c = model_fn(x, int(timesteps[i]), True)
        v_u = model_fn(x, int(timesteps[i]), False)
        v = v_u + guidance * (v_c - v_u)
        x = solver.step(i, v, x)
    return x
