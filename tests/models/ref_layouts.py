"""Writes one set of random tiny weights (DiT, VAE, umT5) in every layout Kinema reads, so the
tests can check that all of them load and give the same output:

  DiT:  official safetensors, a Diffusers folder (sharded, with index), a ComfyUI single file
        (f16, "model.diffusion_model." prefix), a GGUF (F16 matrices, F32 vectors/modulation and
        the 5-D patch embedding, reversed dims), a torch.save .pth
  VAE:  official .pth (Wan2.1_VAE.pth naming), Diffusers names (safetensors)
  umT5: Wan .pth (bf16), Hugging Face / ComfyUI names (with the duplicate embed_tokens), GGUF
        names (BF16), fp8 e4m3fn weights (values chosen to be exact in fp8)

Weights are rounded to f16 (bf16 for umT5) first, so every layout holds identical values.
"""
import argparse
import collections
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
sys.path.insert(0, os.path.join(HERE, "..", "io"))
from umt5 import T5Config, random_t5  # noqa: E402
from wan_dit import DIFFUSERS_RENAMES as DIT_RULES, DiTConfig, random_dit  # noqa: E402
from wan_vae import VAEConfig, random_vae  # noqa: E402
from weight_writers import gguf_bytes, GGUF_STRING, GGUF_U32  # noqa: E402
from weights_io import save_npy, save_safetensors, tensor_bytes  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--out", required=True)
out = os.path.join(ap.parse_args().out, "layouts")
os.makedirs(out, exist_ok=True)
torch.set_num_threads(2)
g = torch.Generator().manual_seed(77)

def rename(name, rules):
    for a, b in rules:
        name = name.replace(a, b)
    return name


def gguf_tensor(name, t, ggml_type):
    t = t.contiguous()
    arr = {"F32": t.float(), "F16": t.half(), "BF16": t.bfloat16()}[ggml_type]
    return (name, ggml_type, list(t.shape), tensor_bytes(arr))


with torch.no_grad():
    # ---- DiT -----------------------------------------------------------------------------
    dit = random_dit(DiTConfig(dim=128, ffn_dim=256, num_heads=2, num_layers=2, text_dim=64), 11)
    sd = collections.OrderedDict((k, v.half().float()) for k, v in dit.state_dict().items())
    meta = {"num_heads": 2}
    save_safetensors(f"{out}/dit_official.safetensors", sd, meta)
    # A custom size's head count cannot be read from shapes: stored as a plain value (metadata).
    torch.save(collections.OrderedDict(list(sd.items()) + [("num_heads", 2)]),
               f"{out}/dit_official.pth")
    os.makedirs(f"{out}/dit_diffusers", exist_ok=True)
    names = list(sd)
    shards = [names[: len(names) // 2], names[len(names) // 2:]]
    weight_map = {}
    for i, part in enumerate(shards):
        fname = f"diffusion_pytorch_model-0000{i + 1}-of-00002.safetensors"
        save_safetensors(f"{out}/dit_diffusers/{fname}",
                         {rename(k, DIT_RULES): sd[k] for k in part}, meta)
        weight_map.update({rename(k, DIT_RULES): fname for k in part})
    with open(f"{out}/dit_diffusers/diffusion_pytorch_model.safetensors.index.json", "w") as f:
        json.dump({"metadata": {}, "weight_map": weight_map}, f)
    save_safetensors(f"{out}/dit_comfy.safetensors",
                     {"model.diffusion_model." + k: v.half() for k, v in sd.items()}, meta)
    tensors = []
    for k, v in sd.items():
        small = v.dim() == 1 or v.numel() <= 1024 or ".modulation" in k or "modulation" == k \
            or v.dim() == 5
        tensors.append(gguf_tensor(k, v, "F32" if small else "F16"))
    with open(f"{out}/dit.gguf", "wb") as f:
        f.write(gguf_bytes([("general.architecture", GGUF_STRING, "wan"),
                            ("num_heads", GGUF_U32, 2)], tensors))
    latent = torch.randn(16, 2, 8, 12, generator=g)
    context = torch.randn(5, 64, generator=g).bfloat16().float()
    save_npy(f"{out}/dit_latent.npy", latent)
    save_npy(f"{out}/dit_context.npy", context)

    # ---- VAE -----------------------------------------------------------------------------
    vae = random_vae(VAEConfig(base_dim=16), 12)
    vsd = collections.OrderedDict((k, v.half().float()) for k, v in vae.state_dict().items())
    torch.save(vsd, f"{out}/Wan2.1_VAE.pth")

    def vae_diffusers(name):
        if name.startswith("conv1."):
            return "quant_conv." + name[6:]
        if name.startswith("conv2."):
            return "post_quant_conv." + name[6:]
        if name.startswith("decoder.upsamples."):
            idx = int(name.split(".")[2])
            rest = name.split(".", 3)[3]
            stage, within = divmod(idx, 4)
            block = (f"decoder.up_blocks.{stage}.resnets.{within}" if within < 3
                     else f"decoder.up_blocks.{stage}.upsamplers.0")
            name = block + "." + rest
        for a, b in [(".residual.0.", ".norm1."), (".residual.2.", ".conv1."),
                     (".residual.3.", ".norm2."), (".residual.6.", ".conv2."),
                     (".shortcut.", ".conv_shortcut."), (".middle.0.", ".mid_block.resnets.0."),
                     (".middle.1.", ".mid_block.attentions.0."),
                     (".middle.2.", ".mid_block.resnets.1."), (".head.0.", ".norm_out."),
                     (".head.2.", ".conv_out."), ("encoder.conv1.", "encoder.conv_in."),
                     ("decoder.conv1.", "decoder.conv_in."),
                     ("encoder.downsamples.", "encoder.down_blocks.")]:
            name = name.replace(a, b)
        return name

    save_safetensors(f"{out}/vae_diffusers.safetensors",
                     {vae_diffusers(k): v for k, v in vsd.items()})
    save_npy(f"{out}/vae_latent.npy", torch.randn(16, 2, 4, 6, generator=g))

    # ---- umT5 ----------------------------------------------------------------------------
    t5 = random_t5(T5Config(vocab=300, dim=64, ffn_dim=96, num_heads=4, head_dim=16,
                            num_layers=2), 13)
    # Values exact in fp8 e4m3fn (hence in bf16 too): snap to the nearest e4m3 value.
    def e4m3_values():
        vals = []
        for c in range(256):
            s_, e, m = (-1.0 if c & 0x80 else 1.0), (c >> 3) & 15, c & 7
            if not (e == 15 and m == 7):
                vals.append(s_ * (m / 8 * 2.0 ** -6 if e == 0 else (1 + m / 8) * 2.0 ** (e - 7)))
        return np.unique(np.array(vals))

    GRID = e4m3_values()

    def fp8_exact(v):
        a = v.numpy().astype(np.float64)
        idx = np.clip(np.searchsorted(GRID, a), 1, len(GRID) - 1)
        lower, upper = GRID[idx - 1], GRID[idx]
        return torch.from_numpy(np.where(a - lower <= upper - a, lower, upper).astype(np.float32))

    tsd = collections.OrderedDict()
    for k, v in t5.state_dict().items():
        tsd[k] = fp8_exact(v.float()) if v.dim() == 2 else v.float()
    torch.save(collections.OrderedDict((k, v.bfloat16()) for k, v in tsd.items()),
               f"{out}/t5_official.pth")

    def hf(name):
        if name == "token_embedding.weight":
            return "shared.weight"
        if name == "norm.weight":
            return "encoder.final_layer_norm.weight"
        _, i, rest = name.split(".", 2)
        b = f"encoder.block.{i}.layer."
        return {"norm1.weight": b + "0.layer_norm.weight",
                "pos_embedding.embedding.weight": b + "0.SelfAttention.relative_attention_bias.weight",
                "norm2.weight": b + "1.layer_norm.weight",
                "ffn.gate.0.weight": b + "1.DenseReluDense.wi_0.weight",
                "ffn.fc1.weight": b + "1.DenseReluDense.wi_1.weight",
                "ffn.fc2.weight": b + "1.DenseReluDense.wo.weight"}.get(
                    rest, b + "0.SelfAttention." + rest[5:] if rest.startswith("attn.") else rest)

    hf_sd = {hf(k): v.bfloat16() for k, v in tsd.items()}
    hf_sd["encoder.embed_tokens.weight"] = hf_sd["shared.weight"]
    save_safetensors(f"{out}/t5_hf.safetensors", hf_sd)

    def gguf_name(name):
        if name == "token_embedding.weight":
            return "token_embd.weight"
        if name == "norm.weight":
            return "enc.output_norm.weight"
        _, i, rest = name.split(".", 2)
        return f"enc.blk.{i}." + {"norm1.weight": "attn_norm.weight",
                                 "pos_embedding.embedding.weight": "attn_rel_b.weight",
                                 "attn.q.weight": "attn_q.weight", "attn.k.weight": "attn_k.weight",
                                 "attn.v.weight": "attn_v.weight", "attn.o.weight": "attn_o.weight",
                                 "norm2.weight": "ffn_norm.weight",
                                 "ffn.gate.0.weight": "ffn_gate.weight",
                                 "ffn.fc1.weight": "ffn_up.weight",
                                 "ffn.fc2.weight": "ffn_down.weight"}[rest]

    with open(f"{out}/t5.gguf", "wb") as f:
        f.write(gguf_bytes([("general.architecture", GGUF_STRING, "t5encoder")],
                           [gguf_tensor(gguf_name(k), v, "BF16") for k, v in tsd.items()]))

    # fp8 e4m3fn: byte codes of the (exactly representable) matrices, written by hand.
    def e4m3_codes(v):
        a = v.numpy().astype(np.float64)
        codes = np.zeros(a.shape, dtype=np.uint8)
        table = []
        for c in range(256):
            s = -1.0 if c & 0x80 else 1.0
            e, m = (c >> 3) & 15, c & 7
            if e == 15 and m == 7:
                table.append(np.nan)
            else:
                table.append(s * (m / 8 * 2.0 ** -6 if e == 0 else (1 + m / 8) * 2.0 ** (e - 7)))
        lookup = {}
        for c, val in enumerate(table):
            if not np.isnan(val):
                lookup.setdefault(val, c)
        flat = codes.reshape(-1)
        for i, x in enumerate(a.reshape(-1)):
            flat[i] = lookup[float(x)]
        return flat.tobytes()

    import struct

    def write_fp8(path, scaled):
        """Plain fp8 e4m3fn matrices, or ComfyUI's scaled form: fp8 codes of w / scale plus a
        `.scale_weight` per matrix and a `scaled_fp8` marker (scale 0.5 keeps values exact)."""
        entries, blob = {}, bytearray()

        def add(name, dtype, shape, raw):
            entries[name] = {"dtype": dtype, "shape": list(shape),
                             "data_offsets": [len(blob), len(blob) + len(raw)]}
            blob.extend(raw)

        if scaled:
            add("scaled_fp8", "F8_E4M3", [0], b"")
        for k, v in tsd.items():
            if v.dim() == 2 and "embedding" not in k:
                add(hf(k), "F8_E4M3", v.shape, e4m3_codes(v * 2 if scaled else v))
                if scaled:
                    add(hf(k)[:-len(".weight")] + ".scale_weight", "F32", [],
                        np.float32(0.5).tobytes())
            else:
                add(hf(k), "BF16", v.shape, tensor_bytes(v.bfloat16()))
        text = json.dumps(entries).encode()
        text += b" " * (-len(text) % 8)
        with open(path, "wb") as f:
            f.write(struct.pack("<Q", len(text)) + text + bytes(blob))

    write_fp8(f"{out}/t5_fp8_e4m3fn.safetensors", False)
    write_fp8(f"{out}/t5_fp8_e4m3fn_scaled.safetensors", True)
    ids = torch.randint(3, 300, (20,), generator=g)
    ids[-1] = 1
    save_npy(f"{out}/t5_ids.npy", ids.to(torch.int64))
