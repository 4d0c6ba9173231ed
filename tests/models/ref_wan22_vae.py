"""Reference data for the Wan2.2 VAE parity tests (test_wan22_vae.cpp), from our PyTorch
reference (tests/reference/wan_vae22.py, written from Wan-Video/Wan2.2 @ 42bf4cfa):

* random weights at reduced widths (encoder 16, decoder 16; the 48 latent channels of the real
  VAE) in the official layout (a PyTorch .pth like Wan2.2_VAE.pth, and safetensors) and in the
  Diffusers layout (convert_vae_22's names);
* encode of 1, 5, 9 and 13 frames, decode of 1 to 4 latent frames, each by the official chunked
  computation; the 2x2 patchify of a small video;
* the reference model's state-dict table at the official widths and at the tiny ones.
"""
import argparse
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
from wan_vae22 import VAE22Config, WanVAE22, patchify, random_vae22  # noqa: E402
from weights_io import save_npy, save_safetensors  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--out", required=True)
out = os.path.join(ap.parse_args().out, "vae22")
os.makedirs(out, exist_ok=True)
torch.set_num_threads(2)
g = torch.Generator().manual_seed(2222)

TINY = VAE22Config(encoder_dim=16, decoder_dim=16)
BLOCK_RENAMES = [(".residual.0.", ".norm1."), (".residual.2.", ".conv1."),
                 (".residual.3.", ".norm2."), (".residual.6.", ".conv2."),
                 (".shortcut.", ".conv_shortcut."), (".middle.0.", ".mid_block.resnets.0."),
                 (".middle.1.", ".mid_block.attentions.0."), (".middle.2.", ".mid_block.resnets.1."),
                 (".head.0.", ".norm_out."), (".head.2.", ".conv_out."),
                 ("encoder.conv1.", "encoder.conv_in."), ("decoder.conv1.", "decoder.conv_in.")]


def diffusers_name(name, num_res_blocks):
    """The names Diffusers' convert_vae_22 gives the official keys."""
    if name.startswith("conv1."):
        return "quant_conv." + name[len("conv1."):]
    if name.startswith("conv2."):
        return "post_quant_conv." + name[len("conv2."):]
    for src, dst, sampler, resnets in (
            ("encoder.downsamples.", "encoder.down_blocks.", "downsampler", num_res_blocks),
            ("decoder.upsamples.", "decoder.up_blocks.", "upsampler", num_res_blocks + 1)):
        if name.startswith(src):
            stage, _, index, *rest = name[len(src):].split(".")
            block = f"resnets.{index}" if int(index) < resnets else sampler
            name = ".".join([dst + stage, block] + rest)
    for a, b in BLOCK_RENAMES:
        name = name.replace(a, b)
    return name


def table(model):
    return [[k, list(v.shape)] for k, v in model.state_dict().items()]


with torch.no_grad():
    vae = random_vae22(TINY, 22)
    state = {k: v.detach().clone() for k, v in vae.state_dict().items()}
    torch.save(state, f"{out}/Wan2.2_VAE.pth")
    save_safetensors(f"{out}/vae22_official.safetensors", state)
    save_safetensors(f"{out}/vae22_diffusers.safetensors",
                     {diffusers_name(k, TINY.num_res_blocks): v for k, v in state.items()})
    bad = dict(state)
    bad["decoder.head.2.bias"] = bad["decoder.head.2.bias"].clone()
    bad["decoder.head.2.bias"][5] = float("nan")
    save_safetensors(f"{out}/vae22_nan.safetensors", bad)

    for frames in (1, 5, 9, 13):
        video = torch.rand(3, frames, 32, 64, generator=g) * 2 - 1
        save_npy(f"{out}/video_{frames}.npy", video)
        save_npy(f"{out}/encoded_{frames}.npy", vae.encode(video))
    for t in (1, 2, 3, 4):
        z = torch.randn(48, t, 2, 4, generator=g)
        save_npy(f"{out}/latent_{t}.npy", z)
        save_npy(f"{out}/decoded_{t}.npy", vae.decode(z))
    small = torch.randn(1, 3, 2, 4, 6, generator=g)
    save_npy(f"{out}/patch_video.npy", small)
    save_npy(f"{out}/patch_out.npy", patchify(small))

    # The official widths' table needs shapes only: skipping the convs' random init leaves their
    # memory untouched (about 2 GB never paged in) and takes a second instead of a minute.
    for conv in (torch.nn.Conv2d, torch.nn.Conv3d):
        conv.reset_parameters = lambda self: None
    tables = {"tiny": table(WanVAE22(TINY)), "official": table(WanVAE22(VAE22Config()))}
    with open(f"{out}/tables.json", "w") as f:
        json.dump(tables, f)
