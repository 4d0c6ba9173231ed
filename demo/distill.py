"""The demo recipe's distillation stage (train.py distill): a LoRA that makes the bundled demo model
generate in 4 steps with guidance 1 (one DiT pass per step instead of 2 x 20), the way the
step- and guidance-distilled Wan releases do (docs/lora-and-distillation.md).

Teacher: the 20-step demo model (DIR or --teacher: dit.safetensors, t5.safetensors), sampled as
Kinema samples it by default: UniPC, 20 steps, shift 3, guidance 5 against the empty prompt.
Student: the same DiT plus a trainable low-rank update of every Linear (rank 16, alpha 8:
--distill-rank, --distill-alpha), bias differences and modulation differences. The sampler it is trained for is the re-noising
("lcm") one on the 1000-step grid's list [1000, 750, 500, 250] with shift 3 (sigmas 1, 0.9,
0.75, 0.5): at step k the DiT sees x_k and its prediction x0 = x_k - sigma_k v is re-noised to
sigma_{k+1} with fresh noise.

1. Teacher pairs: noise eps and the teacher's final latent x0(eps) for 256 captions drawn from
   the training domain (held-out combinations excluded, as for the DiT), cached in
   DIR/distill_teacher.pt (--distill-pairs).
2. Regression: at step 0 the student sees eps itself and must predict x0(eps) (the noise-to-video
   map of the whole teacher run); at steps 1..3 it sees (1 - sigma_k) x0(eps) + sigma_k eps' with
   fresh eps' (what the re-noising sampler feeds it) and must predict x0(eps). The loss is the
   squared error of the x0 prediction, the object's latent cells weighted 6x (as in the dit
   stage); 1000 steps of 8 (--distill-steps, --distill-batch), AdamW 1e-3 (biases and tables
   1e-4) with warm-up and cosine decay. The student runs as Kinema runs a merged LoRA: the weight W + (alpha / rank) B A is
   formed in f32 and rounded to bf16 by the bf16 matrix product, and A and B are rounded to bf16
   as they ship.
3. Export: DIR/distill-4step.safetensors in the ComfyUI/kohya layout that the published Wan LoRAs
   use (`diffusion_model.<module>.lora_down.weight` / `.lora_up.weight` / `.alpha` in bf16 and
   f32, `.diff_b` for biases and `.diff` for the modulation tables, f32).
"""
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

import train as recipe
import synthetic
import samplers  # tests/reference, on the path through train
from umt5 import random_t5
from wan_dit import WanDiT
from wan_vae import WanVAE, to_uint8_frames
from weights_io import save_safetensors

TEACHER_STEPS, TEACHER_SHIFT, TEACHER_GUIDANCE = 20, 3.0, 5.0
STUDENT_STEPS, STUDENT_SHIFT = 4, 3.0
LORA_FILE = "distill-4step.safetensors"

# The adherence test's prompts (demo/adherence.py), for the in-recipe check.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import adherence  # noqa: E402


def lora_modules(dit):
    """(name, parent, attribute) of every Linear the LoRA adapts, by official module path."""
    out = []
    for name in ("text_embedding.0", "text_embedding.2", "time_embedding.0", "time_embedding.2",
                 "time_projection.1", "head.head"):
        parent_name, attr = name.rsplit(".", 1)
        out.append((name, dit.get_submodule(parent_name), attr))
    for i in range(len(dit.blocks)):
        for attn in ("self_attn", "cross_attn"):
            for proj in ("q", "k", "v", "o"):
                out.append((f"blocks.{i}.{attn}.{proj}", dit.get_submodule(f"blocks.{i}.{attn}"),
                            proj))
        for idx in ("0", "2"):
            out.append((f"blocks.{i}.ffn.{idx}", dit.blocks[i].ffn, idx))
    return out


def bf16_straight_through(p):
    """p rounded to bf16 in the forward pass, gradient passed straight through."""
    return p + (p.to(torch.bfloat16).float() - p).detach()


class LoraLinear(torch.nn.Module):
    """A frozen Linear weight plus a trainable low-rank update, applied as one merged weight (as
    Kinema runs a merged LoRA): y = x (W + s B A)^T + b, with s = alpha / rank. The bias is the
    base Linear's own parameter, trained directly (exported as its difference)."""

    def __init__(self, base, rank, alpha, gen):
        super().__init__()
        out_features, in_features = base.weight.shape
        self.weight = base.weight
        self.weight.requires_grad_(False)
        self.bias = base.bias
        self.down = torch.nn.Parameter(torch.randn(rank, in_features, generator=gen) /
                                       math.sqrt(in_features))
        self.up = torch.nn.Parameter(torch.zeros(out_features, rank))
        self.scale = alpha / rank

    def merged_weight(self):
        with torch.autocast("cpu", enabled=False):
            return self.weight + self.scale * (bf16_straight_through(self.up) @
                                               bf16_straight_through(self.down))

    def forward(self, x):
        return F.linear(x, self.merged_weight(), self.bias)


def attach_lora(dit, rank, alpha, seed):
    """Replaces the adapted Linears by LoraLinear; makes biases and modulation tables trainable
    and everything else frozen. Returns {name: LoraLinear} and the starting values of the
    trained biases and modulations (for the exported differences)."""
    for p in dit.parameters():
        p.requires_grad_(False)
    gen = torch.Generator().manual_seed(seed)
    adapters = {}
    for name, parent, attr in lora_modules(dit):
        lora = LoraLinear(getattr(parent, attr), rank, alpha, gen)
        lora.bias.requires_grad_(True)
        setattr(parent, attr, lora)
        adapters[name] = lora
    start = {f"{name}.bias": a.bias.detach().clone() for name, a in adapters.items()}
    for i, blk in enumerate(dit.blocks):
        blk.modulation.requires_grad_(True)
        start[f"blocks.{i}.modulation"] = blk.modulation.detach().clone()
    dit.head.modulation.requires_grad_(True)
    start["head.modulation"] = dit.head.modulation.detach().clone()
    return adapters, start


def lora_state(dit, adapters, start, rank, alpha):
    """The LoRA file's tensors (ComfyUI/kohya names under `diffusion_model.`)."""
    out = {}
    for name, a in adapters.items():
        key = f"diffusion_model.{name}"
        out[f"{key}.lora_down.weight"] = a.down.detach().to(torch.bfloat16)
        out[f"{key}.lora_up.weight"] = a.up.detach().to(torch.bfloat16)
        out[f"{key}.alpha"] = torch.tensor(float(alpha))
        out[f"{key}.diff_b"] = (a.bias.detach() - start[f"{name}.bias"]).float()
    mods = {f"blocks.{i}.modulation": blk.modulation for i, blk in enumerate(dit.blocks)}
    mods["head.modulation"] = dit.head.modulation
    for name, p in mods.items():
        out[f"diffusion_model.{name}.diff"] = (p.detach() - start[name]).float()
    return out


def merged_state(teacher_state, lora, strength=1.0):
    """The teacher's weights with a LoRA file's tensors merged (the reference of what Kinema
    merges): W + strength * alpha / rank * up @ down in f32, biases and tables + diffs."""
    state = {k: v.float().clone() for k, v in teacher_state.items()}
    for key, t in lora.items():
        name = key[len("diffusion_model."):]
        if name.endswith(".lora_down.weight"):
            module = name[:-len(".lora_down.weight")]
            down = t.float()
            up = lora[f"diffusion_model.{module}.lora_up.weight"].float()
            alpha = float(lora[f"diffusion_model.{module}.alpha"])
            state[f"{module}.weight"] += strength * (alpha / down.shape[0]) * (up @ down)
        elif name.endswith(".diff_b"):
            state[name[:-len(".diff_b")] + ".bias"] += strength * t.float()
        elif name.endswith(".diff"):
            state[name[:-len(".diff")]] += strength * t.float()
    return state


def load_teacher(folder):
    dit = WanDiT(recipe.DIT_CONFIG)
    recipe.load_shipped(dit, os.path.join(folder, "dit.safetensors"))
    t5 = random_t5(recipe.T5_CONFIG, 2)
    recipe.load_shipped(t5, os.path.join(folder, "t5.safetensors"))
    return dit.eval(), t5.eval()


def encode(t5, spiece, captions):
    """Caption features [n_i, text_dim] as Kinema computes them (bf16 output)."""
    with torch.no_grad():
        return [t5(ids).to(torch.bfloat16).float() for ids in recipe.caption_ids(spiece, captions)]


def velocity(dit, x, t, ctx, lengths):
    """Batched DiT velocity in mixed precision (bf16 matrix products, as Kinema's bf16 mode)."""
    with torch.autocast("cpu", dtype=torch.bfloat16):
        return recipe.dit_forward_batch(dit, x, t, ctx, lengths).float()


def sample_teacher(dit, ctx, lengths, empty_ctx, empty_len, noise):
    """The teacher's final latents for a batch: UniPC, 20 steps, shift 3, guidance 5 against the
    empty prompt (Kinema's defaults for the demo model)."""
    timesteps, sigmas = samplers.unipc_schedule(TEACHER_STEPS, TEACHER_SHIFT)
    solver = samplers.UniPC(sigmas)
    b = noise.shape[0]
    width = max(ctx.shape[1], empty_ctx.shape[0])
    both = torch.zeros(2 * b, width, ctx.shape[2])
    both[:b, :ctx.shape[1]] = ctx
    both[b:, :empty_ctx.shape[0]] = empty_ctx
    both_len = torch.cat([lengths, empty_len.repeat(b)])
    x = noise.clone()
    with torch.no_grad():
        for i in range(TEACHER_STEPS):
            t = torch.full((2 * b,), int(timesteps[i]))
            v = velocity(dit, torch.cat([x, x]), t, both, both_len)
            v = v[b:] + TEACHER_GUIDANCE * (v[:b] - v[b:])
            x = solver.step(i, v, x)
    return x


def teacher_pairs(out, teacher, count, batch=32):
    """`count` (noise, teacher latent, caption) triples, cached in DIR/distill_teacher.pt (a
    larger count adds only the new ones: the stream is seeded)."""
    path = os.path.join(out, "distill_teacher.pt")
    data = {"noise": [], "x0": [], "captions": []}
    if os.path.exists(path):
        data = torch.load(path)
        if len(data["x0"]) >= count:
            return data
    dit, t5 = load_teacher(teacher)
    spiece = os.path.join(teacher, "spiece.model")
    empty = encode(t5, spiece, [""])[0]
    rng = np.random.default_rng(11)
    gen = torch.Generator().manual_seed(11)
    shape = (16, (recipe.FRAMES - 1) // 4 + 1, recipe.SIZE // 8, recipe.SIZE // 8)
    start = time.time()
    for first in range(0, count, batch):
        n = min(batch, count - first)
        captions = [synthetic.sample_example(rng, size=16, frames=1)[1] for _ in range(n)]
        noise = torch.randn((n,) + shape, generator=gen)
        if first < len(data["x0"]):
            continue  # already cached (the streams above advance all the same)
        ctx, lengths = recipe.stack_contexts(encode(t5, spiece, captions))
        x0 = sample_teacher(dit, ctx, lengths, empty, torch.tensor(empty.shape[0]), noise)
        data["noise"].extend(noise.unbind(0))
        data["x0"].extend(x0.unbind(0))
        data["captions"].extend(captions)
        recipe.log(f"teacher samples {first + n}/{count} ({time.time() - start:.0f} s)")
        if (first // batch) % 10 == 9 or first + n >= count:
            torch.save(data, path + ".tmp")
            os.replace(path + ".tmp", path)
    return data


def object_weight(x0, fg_weight):
    """1 + fg_weight on the latent cells that differ most from the plain background: each
    sample's per-channel median over the clip is its background; a cell is the object's when its
    distance to it exceeds half the largest distance (widened by one cell, as object_mask)."""
    med = x0.flatten(2).median(dim=2).values[..., None, None, None]
    dist = (x0 - med).norm(dim=1, keepdim=True)  # [B, 1, T, h, w]
    peak = dist.flatten(1).max(dim=1).values.view(-1, 1, 1, 1, 1)
    mask = (dist > 0.5 * peak).float()
    mask = F.max_pool3d(mask, (1, 3, 3), stride=1, padding=(0, 1, 1))
    return 1 + fg_weight * mask


def student_inputs(x0, noise, k, sigmas, gen):
    """What the re-noising sampler feeds the student at step k: the pure noise at k = 0,
    (1 - sigma_k) x0 + sigma_k eps' (fresh eps') after it."""
    sigma = torch.from_numpy(sigmas[k]).view(-1, 1, 1, 1, 1)
    fresh = torch.randn(x0.shape, generator=gen)
    renoised = (1 - sigma) * x0 + sigma * fresh
    first = torch.from_numpy(k == 0).view(-1, 1, 1, 1, 1)
    return torch.where(first, noise, renoised), sigma


def train_distill(out, teacher, steps, rank, alpha, count, lr=1e-3, batch=16, fg_weight=5.0,
                  export_every=0):
    torch.manual_seed(12)
    rng = np.random.default_rng(12)
    gen = torch.Generator().manual_seed(12)
    data = teacher_pairs(out, teacher, count)
    dit, t5 = load_teacher(teacher)
    teacher_state = {k: v.clone() for k, v in dit.state_dict().items()}
    spiece = os.path.join(teacher, "spiece.model")
    contexts, lengths = recipe.stack_contexts(encode(t5, spiece, data["captions"][:count]))
    adapters, start = attach_lora(dit, rank, alpha, 13)
    x0s = torch.stack(data["x0"][:count])
    noises = torch.stack(data["noise"][:count])
    timesteps, sigmas = samplers.lcm_schedule(STUDENT_STEPS, STUDENT_SHIFT)
    lora_params = [p for a in adapters.values() for p in (a.down, a.up)]
    other = [p for p in dit.parameters() if p.requires_grad and
             all(p is not q for q in lora_params)]
    opt = torch.optim.AdamW([{"params": lora_params, "lr": lr},
                             {"params": other, "lr": lr * 0.1}], weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 100) * (0.05 + 0.475 * (1 + np.cos(np.pi * s / steps))))
    avg = 0.0
    for step in range(steps):
        idx = rng.integers(count, size=batch)
        k = rng.integers(STUDENT_STEPS, size=batch)
        rows = torch.from_numpy(idx)
        x0 = x0s[rows]
        x, sigma = student_inputs(x0, noises[rows], k, sigmas[:-1], gen)
        t = torch.from_numpy(timesteps[k].astype(np.float64))
        v = velocity(dit, x, t, contexts[rows], lengths[rows])
        pred = x - sigma * v
        weight = object_weight(x0, fg_weight)
        loss = (weight * (pred - x0).pow(2)).mean() / weight.mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]], 1.0)
        opt.step()
        sched.step()
        avg = loss.item() if step == 0 else 0.98 * avg + 0.02 * loss.item()
        if step % 50 == 0 or step == steps - 1:
            recipe.log(f"distill step {step}/{steps}: loss {avg:.4f} (running mean)")
        if export_every and (step + 1) % export_every == 0 and step + 1 < steps:
            folder = os.path.join(out, "checkpoints")
            os.makedirs(folder, exist_ok=True)
            save_lora(os.path.join(folder, f"distill-step-{step + 1}.safetensors"),
                      lora_state(dit, adapters, start, rank, alpha))
    return lora_state(dit, adapters, start, rank, alpha), teacher_state


def generate_student(dit, t5, spiece, prompts, seeds, shift=STUDENT_SHIFT):
    """Latents of the 4-step re-noising sampler at guidance 1 (one DiT pass per step)."""
    timesteps, sigmas = samplers.lcm_schedule(STUDENT_STEPS, shift)
    solver = samplers.LCM(sigmas)
    shape = (16, (recipe.FRAMES - 1) // 4 + 1, recipe.SIZE // 8, recipe.SIZE // 8)
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    x = torch.stack([torch.randn(shape, generator=g) for g in gens])
    ctx, lengths = recipe.stack_contexts(encode(t5, spiece, prompts))
    with torch.no_grad():
        for i in range(STUDENT_STEPS):
            t = torch.full((len(prompts),), float(timesteps[i]), dtype=torch.float64)
            v = velocity(dit, x, t, ctx, lengths)
            noise = torch.stack([torch.randn(shape, generator=g) for g in gens])
            x = solver.step(i, v, x, noise)
    return x


def check_adherence(teacher, state, seed=1000, shift=STUDENT_SHIFT):
    """The adherence test's 12 prompts generated in PyTorch with `state` (merged weights), 4
    re-noising steps at guidance 1, decoded by the shipped VAE and measured. A training-time
    check only: the test itself (demo/adherence.py) runs the kinema binary."""
    dit = WanDiT(recipe.DIT_CONFIG)
    dit.load_state_dict(state)
    _, t5 = load_teacher(teacher)
    vae = WanVAE(recipe.VAE_CONFIG)
    recipe.load_shipped(vae, os.path.join(teacher, "vae.safetensors"))
    prompts, labels = [], []
    for color, shape, direction, bg in adherence.PROMPTS:
        prompts.append(f"a {color} {shape} moves {direction} on a {bg} background")
        labels.append((color, direction, bg))
    z = generate_student(dit, t5, os.path.join(teacher, "spiece.model"), prompts,
                         [seed + i for i in range(len(prompts))], shift)
    color_ok = direction_ok = 0
    with torch.no_grad():
        for i, (color, direction, bg) in enumerate(labels):
            clip = to_uint8_frames(vae.decode(z[i])).numpy()
            m = synthetic.measure(clip, synthetic.BACKGROUNDS[bg])
            color_ok += m["color"] == color
            direction_ok += m["direction"] == direction
    recipe.log(f"adherence (PyTorch, seeds {seed}+, shift {shift}): colour {color_ok}/12, "
               f"direction {direction_ok}/12")
    return color_ok, direction_ok


def save_lora(path, lora):
    save_safetensors(path, lora, {"kinema_recipe": "demo/train.py distill", "sampler": "lcm",
                                  "steps": STUDENT_STEPS, "shift": STUDENT_SHIFT,
                                  "guidance": 1.0})


def run(args):
    teacher = args.teacher or args.out
    lora, teacher_state = train_distill(args.out, teacher, args.distill_steps, args.distill_rank,
                                        args.distill_alpha, args.distill_pairs,
                                        batch=args.distill_batch,
                                        export_every=args.distill_export_every)
    path = os.path.join(args.out, LORA_FILE)
    save_lora(path, lora)
    recipe.log(f"exported {path} ({os.path.getsize(path) / 1e6:.2f} MB)")
    if args.distill_check:
        check_adherence(teacher, merged_state(teacher_state, lora))
