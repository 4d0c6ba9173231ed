"""Reference data for the LoRA tests (test_lora.cpp), from the published conventions
(docs/lora-and-distillation.md), written independently of the C++ parser: every LoRA is built
from canonical module names and then *named* in one convention, so the C++ name resolution is
checked against a second implementation.

* A tiny DiT's weights, f32 and bf16 (matrices bf16, vectors f32, like the demo model).
* LoRA files in every naming (ComfyUI, kohya, diffusers, PEFT, lightx2v differences) and every
  dtype (f32, bf16, f16, fp8 e4m3 and e5m2), and the merged tensors each must give.
* A Linear with low-rank updates, unmerged, in f32 and bf16 precision.
* DiT forwards with three LoRAs at once (strengths 0.8, -0.5, 1): merged (the reference model
  loaded with the merged weights) and unmerged (W x + s B (A x) at every bf16 Linear).
* One real-shaped Wan2.1-1.3B block (bf16) with a rank-16 LoRA on every block Linear, and its
  merged and unmerged forwards.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
sys.path.insert(0, os.path.join(HERE, "..", "io"))
import wan_dit  # noqa: E402
from wan_dit import DiTConfig, WanDiT, random_dit  # noqa: E402
from weight_writers import safetensors_bytes  # noqa: E402
from weights_io import save_npy, save_safetensors, tensor_bytes  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--out", required=True)
out = os.path.join(ap.parse_args().out, "lora")
os.makedirs(out, exist_ok=True)
torch.set_num_threads(2)
g = torch.Generator().manual_seed(4242)

TINY = DiTConfig(dim=128, ffn_dim=256, num_heads=2, num_layers=2, text_dim=64)


def diffusers_module(module, tensor_suffix=".weight"):
    name = module + tensor_suffix
    for a, b in wan_dit.DIFFUSERS_RENAMES:
        name = name.replace(a, b)
    return name[:-len(tensor_suffix)] if tensor_suffix else name


# ---- dtypes: values are drawn in f32, stored in the dtype, and the stored values are what the
# reference computes with -----------------------------------------------------------------------

def fp8_values(exp_bits, mant_bits, bias, fn):
    """Every finite value of an fp8 format by code (NaN/inf codes excluded)."""
    codes, values = [], []
    for code in range(256):
        sign = -1.0 if code & 0x80 else 1.0
        e = (code >> mant_bits) & ((1 << exp_bits) - 1)
        m = code & ((1 << mant_bits) - 1)
        if fn and e == (1 << exp_bits) - 1 and m == (1 << mant_bits) - 1:
            continue  # e4m3fn NaN
        if not fn and e == (1 << exp_bits) - 1:
            continue  # e5m2 inf / NaN
        if e == 0:
            v = m / (1 << mant_bits) * 2.0 ** (1 - bias)
        else:
            v = (1 + m / (1 << mant_bits)) * 2.0 ** (e - bias)
        codes.append(code)
        values.append(sign * v)
    return np.array(codes, dtype=np.uint8), np.array(values, dtype=np.float32)


FP8 = {"F8_E4M3": fp8_values(4, 3, 7, True), "F8_E5M2": fp8_values(5, 2, 15, False)}
TORCH = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}


def stored(t, dtype):
    """(raw bytes, the stored values as f32) of t in a safetensors dtype."""
    if dtype in FP8:
        codes, values = FP8[dtype]
        idx = np.abs(t.numpy().reshape(-1, 1) - values[None]).argmin(axis=1)
        return codes[idx].tobytes(), torch.from_numpy(values[idx]).view(t.shape)
    s = t.to(TORCH[dtype])
    return tensor_bytes(s), s.float()


def write_lora(path, entries, metadata=None):
    """entries: [(key, dtype, f32 tensor)] -> file; returns {key: stored value (f32)}."""
    tensors, values = [], {}
    for key, dtype, t in entries:
        raw, v = stored(t, dtype)
        tensors.append((key, dtype, tuple(t.shape), raw))
        values[key] = v
    with open(path, "wb") as f:
        f.write(safetensors_bytes(tensors, metadata))
    return values


# ---- building LoRAs from canonical modules -------------------------------------------------

def low_rank(weight_shape, rank, scale=0.4):
    """(down [r, in...], up [out, r, 1...]) with a product comparable to a weight's scale."""
    out_f, rest = weight_shape[0], weight_shape[1:]
    fan_in = int(np.prod(rest))
    down = torch.randn((rank,) + tuple(rest), generator=g) / fan_in ** 0.5
    up = torch.randn((out_f, rank) + (1,) * (len(rest) - 1), generator=g) * scale / rank ** 0.5
    return down, up


class Lora:
    """Updates by canonical tensor name, named into a file by one convention."""

    def __init__(self):
        self.low = []    # (module, down, up, alpha or None)
        self.diffs = []  # (canonical tensor, diff, how) how: "diff", "diff_b", "diff_m"

    def add_low(self, shapes, module, rank, alpha):
        down, up = low_rank(shapes[module + ".weight"], rank)
        self.low.append((module, down, up, alpha))

    def add_diff(self, shapes, tensor, how, scale=0.05):
        self.diffs.append((tensor, torch.randn(shapes[tensor], generator=g) * scale, how))


def stem(convention, module):
    if convention == "comfyui":
        return "diffusion_model." + module
    if convention == "kohya":
        return "lora_unet_" + module.replace(".", "_")
    if convention == "diffusers":
        return "transformer." + diffusers_module(module)
    if convention == "peft":
        return "base_model.model." + module
    if convention == "bare":
        return module
    raise ValueError(convention)


SUFFIX = {"comfyui": (".lora_down.weight", ".lora_up.weight"),
          "kohya": (".lora_down.weight", ".lora_up.weight"),
          "diffusers": (".lora_A.weight", ".lora_B.weight"),
          "peft": (".lora_A.weight", ".lora_B.weight"),
          "bare": (".lora_A.default.weight", ".lora_B.default.weight")}


def diff_key(convention, tensor, how):
    """The key of a difference of canonical `tensor` (a .weight, .bias or whole tensor)."""
    if how == "diff_m":  # lightx2v: "<block>.diff_m" for "<block>.modulation"
        return stem(convention, tensor[:-len(".modulation")]) + ".diff_m"
    if tensor.endswith(".bias"):
        return stem(convention, tensor[:-len(".bias")]) + ".diff_b"
    if tensor.endswith(".weight"):
        return stem(convention, tensor[:-len(".weight")]) + ".diff"
    return stem(convention, tensor) + ".diff"


def name_lora(lora, convention, dtype, diff_convention=None):
    """[(key, dtype, tensor)] of the LoRA in `convention` (diffs in diff_convention)."""
    entries = []
    down_sfx, up_sfx = SUFFIX[convention]
    for module, down, up, alpha in lora.low:
        s = stem(convention, module)
        entries += [(s + down_sfx, dtype, down), (s + up_sfx, dtype, up)]
        if alpha is not None:
            entries.append((s + ".alpha", "F32", torch.tensor(float(alpha))))
    for tensor, diff, how in lora.diffs:
        entries.append((diff_key(diff_convention or convention, tensor, how), "F32", diff))
    return entries


def resolved(lora, values, convention, dtype, diff_convention=None):
    """The LoRA with the values as stored: [(target tensor, kind, tensors, scale)]."""
    down_sfx, up_sfx = SUFFIX[convention]
    out = []
    for module, _, _, alpha in lora.low:
        s = stem(convention, module)
        down, up = values[s + down_sfx], values[s + up_sfx]
        rank = down.shape[0]
        scale = (alpha if alpha is not None else rank) / rank
        out.append((module + ".weight", "low", (down, up), scale))
    for tensor, diff, how in lora.diffs:
        out.append((tensor, "diff", values[diff_key(diff_convention or convention, tensor, how)],
                    1.0))
    return out


def merged_dtype(name, t):
    """Linear (and conv) weights keep their dtype (f32, f16; bf16 for the rest); the DiT holds
    every other tensor (biases, norms, modulation tables) in f32."""
    if not (name.endswith(".weight") and t.dim() >= 2) or name.startswith("blocks.") and (
            ".norm" in name):
        return torch.float32
    return t.dtype if t.dtype in (torch.float32, torch.float16) else torch.bfloat16


def merge(base, loras):
    """base: {name: tensor as the file holds it}; loras: [(resolved, strength)] ->
    {name: merged tensor} for every target: T + sum of s * up @ down or s * diff (f32, in
    order), then rounded to the dtype Kinema keeps it in."""
    acc = {}
    for updates, strength in loras:
        for name, kind, tensors, scale in updates:
            w = acc.setdefault(name, base[name].float().clone())
            if kind == "low":
                down, up = tensors
                delta = (up.reshape(up.shape[0], -1) @ down.reshape(down.shape[0], -1))
                w += (strength * scale) * delta.reshape(w.shape)
            else:
                w += strength * tensors
    return {k: v.to(merged_dtype(k, base[k])) for k, v in acc.items()}


def holding(state, matrix_dtype):
    """The model's tensors as Kinema holds them: matrices in the file's dtype, vectors f32."""
    return {k: (v.to(matrix_dtype) if v.dim() >= 2 else v.float()) for k, v in state.items()}


def save_merged(path, merged):
    save_safetensors(path, {k: v.contiguous() for k, v in merged.items()})


# ---- the unmerged reference: W x + s B (A x) at every bf16 Linear ---------------------------

def unmerged_model(cfg, base, loras):
    """A reference model for unmerged LoRAs: every weight merged exactly in f32 (what the f32
    layers compute, up to rounding), tensors with differences merged and rounded as Kinema
    stores them, and each bf16 Linear with low-rank updates evaluated as
    bf16(x W^T + b + sum s * bf16(x A^T) B^T) with bf16 operands."""
    merged_rounded = merge(base, loras)
    state = {k: v.float().clone() for k, v in base.items()}
    lows = {}
    diffed = {name for updates, _ in loras for name, kind, _, _ in updates if kind == "diff"}
    for updates, strength in loras:
        for name, kind, tensors, scale in updates:
            if kind == "low" and name not in diffed:
                down, up = tensors
                state[name] = state[name] + (strength * scale) * (
                    up.reshape(up.shape[0], -1) @ down.reshape(down.shape[0], -1)).reshape(
                        state[name].shape)
                lows.setdefault(name, []).append((down.reshape(down.shape[0], -1),
                                                  up.reshape(up.shape[0], -1), strength * scale))
    for name in diffed:
        state[name] = merged_rounded[name].float()
    for name, t in merged_rounded.items():
        if t.dtype == torch.float32:  # every tensor that is not a Linear weight
            state[name] = t.float()
    model = WanDiT(cfg)
    model.load_state_dict(state)
    for name, ups in lows.items():
        layer = model.get_submodule(name[:-len(".weight")])
        layer.lora_base = base[name].float()
        layer.lora_updates = ups
    return model


_linear = wan_dit.Precision.linear


def linear_with_updates(self, x, layer):
    ups = getattr(layer, "lora_updates", None)
    if self.mode == "f32" or not ups:
        return _linear(self, x, layer)
    xr = self.round(x)
    y = F.linear(xr, self.round(layer.lora_base), self.round(layer.bias))
    for down, up, s in ups:
        y = y + s * F.linear(self.round(F.linear(xr, self.round(down))), self.round(up))
    return self.round(y)


wan_dit.Precision.linear = linear_with_updates


def merged_model(cfg, base, loras):
    state = {k: v.float().clone() for k, v in base.items()}
    for k, v in merge(base, loras).items():
        state[k] = v.float()
    model = WanDiT(cfg)
    model.load_state_dict(state)
    return model


with torch.no_grad():
    # --- the tiny DiT in f32 and bf16 ---------------------------------------------------------
    dit = random_dit(TINY, 31)
    state = {k: v.detach().clone() for k, v in dit.state_dict().items()}
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    base_f32 = holding(state, torch.float32)
    base_bf16 = holding(state, torch.bfloat16)
    save_safetensors(f"{out}/base_f32.safetensors", base_f32, {"num_heads": 2})
    save_safetensors(f"{out}/base_bf16.safetensors", base_bf16, {"num_heads": 2})

    # --- one LoRA per naming convention and dtype ---------------------------------------------
    comfy = Lora()  # ComfyUI: diffusion_model. + lora_down/lora_up + alpha, with differences
    for m in ("blocks.0.self_attn.q", "blocks.0.self_attn.k", "blocks.0.self_attn.v",
              "blocks.0.self_attn.o", "blocks.1.cross_attn.q", "text_embedding.0",
              "time_projection.1", "head.head"):
        comfy.add_low(shapes, m, 4, 2.0)
    comfy.add_diff(shapes, "blocks.0.self_attn.q.bias", "diff_b")
    comfy.add_diff(shapes, "blocks.0.modulation", "diff")

    kohya = Lora()  # kohya: lora_unet_ + underscores; a conv (patch embedding); one without alpha
    kohya.add_low(shapes, "blocks.0.ffn.0", 3, 1.5)
    kohya.add_low(shapes, "blocks.1.ffn.2", 3, None)
    kohya.add_low(shapes, "patch_embedding", 2, 4.0)
    kohya.add_low(shapes, "time_embedding.2", 3, 3.0)

    diffusers = Lora()  # diffusers: transformer. + Diffusers module names + lora_A/lora_B
    for m in ("blocks.1.self_attn.q", "blocks.1.self_attn.o", "blocks.0.cross_attn.k",
              "blocks.0.ffn.0", "time_projection.1", "head.head", "text_embedding.2"):
        diffusers.add_low(shapes, m, 5, None)
    diffusers.add_diff(shapes, "blocks.0.norm3.weight", "diff")  # "norm2" in Diffusers
    diffusers.add_diff(shapes, "blocks.1.modulation", "diff")    # "scale_shift_table"

    peft = Lora()  # PEFT: base_model.model. + lora_A/lora_B, alpha on one module
    peft.add_low(shapes, "blocks.1.cross_attn.v", 2, 1.0)
    peft.add_low(shapes, "blocks.1.cross_attn.o", 2, None)
    bare = Lora()  # DiffSynth-style bare names with PEFT's adapter name
    bare.add_low(shapes, "blocks.0.self_attn.k", 2, None)

    diff = Lora()  # lightx2v: full differences of weights, biases, norms and modulation tables
    diff.add_diff(shapes, "blocks.1.self_attn.k.weight", "diff", 0.02)
    diff.add_diff(shapes, "blocks.1.self_attn.k.bias", "diff_b")
    diff.add_diff(shapes, "blocks.0.norm3.bias", "diff_b")
    diff.add_diff(shapes, "blocks.1.cross_attn.norm_k.weight", "diff")
    diff.add_diff(shapes, "blocks.0.self_attn.norm_q.weight", "diff")
    diff.add_diff(shapes, "blocks.1.modulation", "diff_m")
    diff.add_diff(shapes, "head.modulation", "diff")

    fp8a, fp8b = Lora(), Lora()
    fp8a.add_low(shapes, "blocks.1.ffn.0", 4, 2.0)
    fp8b.add_low(shapes, "blocks.1.self_attn.v", 4, 8.0)

    cases = [("comfyui_bf16", comfy, "comfyui", "BF16", None),
             ("kohya_f16", kohya, "kohya", "F16", None),
             ("diffusers_f32", diffusers, "diffusers", "F32", None),
             ("peft_bf16", peft, "peft", "BF16", None),
             ("bare_f32", bare, "bare", "F32", None),
             ("diff_f32", diff, "comfyui", "F32", None),
             ("fp8e4m3", fp8a, "comfyui", "F8_E4M3", None),
             ("fp8e5m2", fp8b, "comfyui", "F8_E5M2", None)]
    resolved_by_case = {}
    manifest = {}
    for name, lora, convention, dtype, diff_conv in cases:
        values = write_lora(f"{out}/{name}.safetensors",
                            name_lora(lora, convention, dtype, diff_conv))
        res = resolved(lora, values, convention, dtype, diff_conv)
        resolved_by_case[name] = res
        manifest[name] = sorted({t for t, _, _, _ in res})
        for base_name, base in (("f32", base_f32), ("bf16", base_bf16)):
            save_merged(f"{out}/merged_{name}_{base_name}.safetensors", merge(base, [(res, 0.7)]))
    with open(f"{out}/targets.json", "w") as f:
        json.dump(manifest, f, indent=1)

    # --- malformed files (test_lora.cpp LoraErrors) --------------------------------------------
    def lr(shape_down, shape_up, dtype="F32"):
        return (torch.randn(shape_down, generator=g), torch.randn(shape_up, generator=g))

    def bad(name, entries):
        write_lora(f"{out}/{name}.safetensors", entries)

    d, u = lr((4, 128), (128, 4))
    bad("bad_unknown", [("diffusion_model.blocks.7.self_attn.q.lora_down.weight", "F32", d),
                        ("diffusion_model.blocks.7.self_attn.q.lora_up.weight", "F32", u)])
    d, u = lr((4, 128), (128, 3))
    bad("bad_rank", [("diffusion_model.blocks.0.self_attn.q.lora_down.weight", "F32", d),
                     ("diffusion_model.blocks.0.self_attn.q.lora_up.weight", "F32", u)])
    d, u = lr((4, 64), (128, 4))
    bad("bad_shape", [("diffusion_model.blocks.0.self_attn.k.lora_down.weight", "F32", d),
                      ("diffusion_model.blocks.0.self_attn.k.lora_up.weight", "F32", u)])
    bad("bad_half", [("diffusion_model.blocks.0.ffn.0.lora_down.weight", "F32",
                      torch.randn(4, 128, generator=g))])
    d, u = lr((4, 256), (128, 4))
    bad("bad_alpha", [("diffusion_model.blocks.0.ffn.2.lora_down.weight", "F32", d),
                      ("diffusion_model.blocks.0.ffn.2.lora_up.weight", "F32", u),
                      ("diffusion_model.blocks.0.ffn.2.alpha", "F32", torch.ones(2))])
    d, u = lr((4, 128), (256, 4))
    d[1, 3] = float("nan")
    bad("bad_nan", [("diffusion_model.blocks.1.ffn.0.lora_down.weight", "F32", d),
                    ("diffusion_model.blocks.1.ffn.0.lora_up.weight", "F32", u)])
    d, u = lr((4, 128), (128, 4))
    bad("bad_locon", [("lora_unet_blocks_0_self_attn_q.lora_down.weight", "F32", d),
                      ("lora_unet_blocks_0_self_attn_q.lora_up.weight", "F32", u),
                      ("lora_unet_blocks_0_self_attn_q.lora_mid.weight", "F32", u)])
    bad("bad_diff", [("diffusion_model.blocks.0.norm3.diff_b", "F32", torch.ones(64))])
    bad("bad_name", [("diffusion_model.blocks.0.self_attn.q.weight", "F32", torch.ones(4))])
    d, u = lr((4, 6), (1, 4))
    bad("bad_bias_low_rank", [("diffusion_model.blocks.0.modulation.lora_down.weight", "F32", d),
                              ("diffusion_model.blocks.0.modulation.lora_up.weight", "F32", u)])
    bad("empty", [])

    # --- a Linear with unmerged updates ---------------------------------------------------------
    x = torch.randn(9, 48, generator=g)
    w = torch.randn(40, 48, generator=g) / 48 ** 0.5
    b = torch.randn(40, generator=g) * 0.1
    ups = [low_rank((40, 48), 3) + (0.75,), low_rank((40, 48), 5) + (-1.25,)]
    save_npy(f"{out}/linear_x.npy", x)
    save_npy(f"{out}/linear_w.npy", w)
    save_npy(f"{out}/linear_b.npy", b)
    for i, (down, up, s) in enumerate(ups):
        save_npy(f"{out}/linear_down{i}.npy", down)
        save_npy(f"{out}/linear_up{i}.npy", up)
    y = F.linear(x, w, b)
    for down, up, s in ups:
        y = y + s * F.linear(F.linear(x, down), up)
    save_npy(f"{out}/linear_y_f32.npy", y)
    bf = wan_dit.Precision("bf16").round
    y = F.linear(bf(x), bf(w), bf(b))
    for down, up, s in ups:
        y = y + s * F.linear(bf(F.linear(bf(x), bf(down))), bf(up))
    save_npy(f"{out}/linear_y_bf16.npy", bf(y))

    # --- DiT forwards with three LoRAs at once ----------------------------------------------------
    stack = [(resolved_by_case["comfyui_bf16"], 0.8), (resolved_by_case["diffusers_f32"], -0.5),
             (resolved_by_case["diff_f32"], 1.0)]
    latent = torch.randn(16, 3, 8, 12, generator=g)
    context = torch.randn(7, 64, generator=g).bfloat16().float()
    save_npy(f"{out}/dit_latent.npy", latent)
    save_npy(f"{out}/dit_context.npy", context)
    merged = merged_model(TINY, base_bf16, stack)
    unmerged = unmerged_model(TINY, base_bf16, stack)
    for mode in ("f32", "bf16"):
        save_npy(f"{out}/dit_merged_{mode}.npy", merged(latent, 917, context, mode))
        save_npy(f"{out}/dit_unmerged_{mode}.npy", unmerged(latent, 917, context, mode))

    # --- one real-shaped 1.3B block with a rank-16 LoRA on every block Linear ---------------------
    cfg = DiTConfig(num_layers=1)
    big = random_dit(cfg, 2)
    big_state = holding({k: v.detach().clone() for k, v in big.state_dict().items()},
                        torch.bfloat16)
    del big
    save_safetensors(f"{out}/block_1_3b.safetensors", big_state, {"num_heads": 12})
    big_shapes = {k: tuple(v.shape) for k, v in big_state.items()}
    block = Lora()
    for attn in ("self_attn", "cross_attn"):
        for p in ("q", "k", "v", "o"):
            block.add_low(big_shapes, f"blocks.0.{attn}.{p}", 16, 16.0)
            block.add_diff(big_shapes, f"blocks.0.{attn}.{p}.bias", "diff_b", 0.02)
    block.add_low(big_shapes, "blocks.0.ffn.0", 16, 16.0)
    block.add_low(big_shapes, "blocks.0.ffn.2", 16, 16.0)
    block.add_diff(big_shapes, "blocks.0.modulation", "diff", 0.02)
    values = write_lora(f"{out}/block_lora.safetensors", name_lora(block, "comfyui", "BF16"))
    big_stack = [(resolved(block, values, "comfyui", "BF16"), 1.0)]
    latent = torch.randn(16, 2, 8, 12, generator=g)
    context = torch.randn(12, 4096, generator=g).bfloat16().float()
    save_npy(f"{out}/block_latent.npy", latent)
    save_npy(f"{out}/block_context.npy", context)
    for kind, build in (("merged", merged_model), ("unmerged", unmerged_model)):
        model = build(cfg, big_state, big_stack)
        for mode in ("f32", "bf16"):
            save_npy(f"{out}/block_{kind}_{mode}.npy", model(latent, 500, context, mode))
        del model
