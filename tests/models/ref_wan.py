"""Reference data for the Wan2.1 model parity tests, from our PyTorch reference implementation
(tests/reference): random weights in the official layout (safetensors), inputs and outputs of

* a tiny DiT (dim 128, 2 layers) in f32 and bf16 precision, and one real-shaped 1.3B block;
* a tiny VAE (base width 16): encode of 1, 5 and 9 frames, decode of 1, 2 and 3 latent frames;
* a tiny umT5 encoder, 150 tokens (every relative-position bucket);
* end to end: prompt -> tokens -> umT5 -> UniPC with injected noise and guidance -> VAE -> uint8.
"""
import argparse
import json
import os
import subprocess
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
import samplers  # noqa: E402
import umt5  # noqa: E402
from umt5 import T5Config, random_t5  # noqa: E402
from wan_dit import DiTConfig, random_dit  # noqa: E402
from wan_vae import VAEConfig, random_vae, to_uint8_frames  # noqa: E402
from weights_io import save_npy, save_safetensors  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--out", required=True)
out = ap.parse_args().out
os.makedirs(out, exist_ok=True)
torch.set_num_threads(2)
g = torch.Generator().manual_seed(2024)


def bf(x):
    return x.to(torch.bfloat16).float()


def state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


TINY_DIT = DiTConfig(dim=128, ffn_dim=256, num_heads=2, num_layers=2, text_dim=64)
TINY_VAE = VAEConfig(base_dim=16)
TINY_T5 = T5Config(vocab=300, dim=64, ffn_dim=96, num_heads=4, head_dim=16, num_layers=2)

with torch.no_grad():
    # --- tiny DiT -------------------------------------------------------------------------
    dit = random_dit(TINY_DIT, 1)
    save_safetensors(f"{out}/dit_tiny.safetensors", state(dit), {"num_heads": 2})
    # The same weights with nothing stating the head count (dim 128 alone does not say it), and
    # as a folder whose config.json states it, in the official WanModel keys.
    save_safetensors(f"{out}/dit_tiny_unstated.safetensors", state(dit))
    os.makedirs(f"{out}/dit_tiny_folder", exist_ok=True)
    save_safetensors(f"{out}/dit_tiny_folder/dit.safetensors", state(dit))
    with open(f"{out}/dit_tiny_folder/config.json", "w") as f:
        json.dump({"_class_name": "WanModel", "model_type": "t2v", "dim": 128, "ffn_dim": 256,
                   "num_heads": 2, "num_layers": 2, "in_dim": 16, "out_dim": 16,
                   "freq_dim": 256, "text_len": 512, "eps": 1e-6}, f)
    latent = torch.randn(16, 3, 8, 12, generator=g)
    context = bf(torch.randn(7, 64, generator=g))
    save_npy(f"{out}/dit_tiny_latent.npy", latent)
    save_npy(f"{out}/dit_tiny_context.npy", context)
    for mode in ("f32", "bf16"):
        save_npy(f"{out}/dit_tiny_out_{mode}.npy", dit(latent, 917, context, mode))

    # --- one real-shaped Wan2.1-1.3B block (weights rounded to bf16 to halve the file) ----
    big = random_dit(DiTConfig(num_layers=1), 2)
    for p in big.parameters():
        p.copy_(bf(p))
    save_safetensors(f"{out}/dit_block_1_3b.safetensors",
                     {k: v.to(torch.bfloat16) for k, v in state(big).items()}, {"num_heads": 12})
    latent = torch.randn(16, 2, 8, 12, generator=g)
    context = bf(torch.randn(12, 4096, generator=g))
    save_npy(f"{out}/dit_block_latent.npy", latent)
    save_npy(f"{out}/dit_block_context.npy", context)
    for mode in ("f32", "bf16"):
        save_npy(f"{out}/dit_block_out_{mode}.npy", big(latent, 500, context, mode))
    del big

    # --- tiny VAE -------------------------------------------------------------------------
    vae = random_vae(TINY_VAE, 3)
    save_safetensors(f"{out}/vae_tiny.safetensors", state(vae))
    for frames in (1, 5, 9):
        video = torch.rand(3, frames, 32, 48, generator=g) * 2 - 1
        save_npy(f"{out}/vae_video_{frames}.npy", video)
        save_npy(f"{out}/vae_encoded_{frames}.npy", vae.encode(video))
    for t in (1, 2, 3):
        z = torch.randn(16, t, 4, 6, generator=g)
        save_npy(f"{out}/vae_latent_{t}.npy", z)
        save_npy(f"{out}/vae_decoded_{t}.npy", vae.decode(z))

    # --- tiny umT5 ------------------------------------------------------------------------
    t5 = random_t5(TINY_T5, 4)
    save_safetensors(f"{out}/t5_tiny.safetensors",
                     {k: v.to(torch.bfloat16) for k, v in state(t5).items()})
    ids = torch.randint(3, 300, (150,), generator=g)
    ids[-1] = 1
    save_npy(f"{out}/t5_ids.npy", ids.to(torch.int64))
    save_npy(f"{out}/t5_out.npy", t5(ids).to(torch.bfloat16))
    ids2 = torch.randint(3, 300, (37,), generator=g)
    ids2[-1] = 1
    save_npy(f"{out}/t5_ids2.npy", ids2.to(torch.int64))
    save_npy(f"{out}/t5_out2.npy", t5(ids2).to(torch.bfloat16))
    # The same graph with no rounding: Kinema's f32 encoder (--precision f32).
    umt5.set_rounding(False)
    save_npy(f"{out}/t5_out_f32.npy", t5(ids))
    umt5.set_rounding(True)

    # --- one umT5-XXL-width layer (64 heads of 64, FFN 10240) on 40 tokens -----------------
    xxl = random_t5(T5Config(vocab=300, num_layers=1), 6)
    save_safetensors(f"{out}/t5_xxl_layer.safetensors",
                     {k: v.to(torch.bfloat16) for k, v in state(xxl).items()})
    ids3 = torch.randint(3, 300, (40,), generator=g)
    ids3[-1] = 1
    save_npy(f"{out}/t5_xxl_ids.npy", ids3.to(torch.int64))
    save_npy(f"{out}/t5_xxl_out.npy", xxl(ids3).to(torch.bfloat16))
    umt5.set_rounding(False)
    save_npy(f"{out}/t5_xxl_out_f32.npy", xxl(ids3))
    umt5.set_rounding(True)

    # --- end to end -----------------------------------------------------------------------
    corpus = f"{out}/e2e_corpus.txt"
    with open(corpus, "w") as f:
        for c in ["red", "green", "blue", "yellow"]:
            for s in ["circle", "square", "triangle"]:
                for m in ["left", "right", "up", "down"]:
                    f.write(f"a {c} {s} moves {m} on a black background\n")
    subprocess.run(["spm_train", f"--input={corpus}", f"--model_prefix={out}/e2e_spiece",
                    "--vocab_size=60", "--hard_vocab_limit=false", "--model_type=unigram",
                    "--pad_id=0", "--eos_id=1", "--unk_id=2", "--bos_id=-1", "--minloglevel=2"],
                   check=True, capture_output=True)

    def encode_prompt(text):
        pieces = subprocess.run(["spm_encode", f"--model={out}/e2e_spiece.model",
                                 "--output_format=id"], input=text, capture_output=True,
                                text=True, check=True).stdout.split()
        return torch.tensor([int(p) for p in pieces][:511] + [1])

    prompt, negative = "a blue square moves up", "a red circle"
    e2e_t5 = random_t5(T5Config(vocab=300, dim=64, ffn_dim=96, num_heads=4, head_dim=16,
                                num_layers=2), 5)
    e2e_dit = random_dit(TINY_DIT, 6)
    e2e_vae = random_vae(TINY_VAE, 7)
    save_safetensors(f"{out}/e2e_t5.safetensors",
                     {k: v.to(torch.bfloat16) for k, v in state(e2e_t5).items()})
    save_safetensors(f"{out}/e2e_dit.safetensors", state(e2e_dit), {"num_heads": 2})
    save_safetensors(f"{out}/e2e_vae.safetensors", state(e2e_vae))
    # Corrupted copies for the non-finite checks: one NaN (DiT, text encoder) or inf (VAE) in
    # one tensor, which the error must name.
    bad_dit = state(e2e_dit)
    bad_dit["blocks.1.ffn.0.weight"] = bad_dit["blocks.1.ffn.0.weight"].clone()
    bad_dit["blocks.1.ffn.0.weight"][5, 7] = float("nan")
    save_safetensors(f"{out}/e2e_dit_nan.safetensors", bad_dit, {"num_heads": 2})
    bad_t5 = {k: v.to(torch.bfloat16) for k, v in state(e2e_t5).items()}
    bad_t5["blocks.0.ffn.fc1.weight"][3, 2] = float("inf")
    save_safetensors(f"{out}/e2e_t5_inf.safetensors", bad_t5)
    bad_vae = state(e2e_vae)
    bad_vae["decoder.head.2.bias"] = bad_vae["decoder.head.2.bias"].clone()
    bad_vae["decoder.head.2.bias"][1] = float("nan")
    save_safetensors(f"{out}/e2e_vae_nan.safetensors", bad_vae)
    ctx_pos = e2e_t5(encode_prompt(prompt)).to(torch.bfloat16)
    ctx_neg = e2e_t5(encode_prompt(negative)).to(torch.bfloat16)
    noise = torch.randn(16, 2, 4, 6, generator=g)
    nan_noise = noise.clone()
    nan_noise[3, 1, 2, 2] = float("nan")
    save_safetensors(f"{out}/e2e_noise_nan.safetensors", {"noise": nan_noise})
    save_safetensors(f"{out}/e2e_noise.safetensors", {"noise": noise})
    save_npy(f"{out}/e2e_noise.npy", noise)
    final = samplers.sample(
        lambda x, t, cond: e2e_dit(x, t, ctx_pos if cond else ctx_neg, "bf16"),
        noise, steps=3, shift=5.0, guidance=5.0, sampler="unipc")
    save_npy(f"{out}/e2e_latent.npy", final)
    video = e2e_vae.decode(final)
    save_npy(f"{out}/e2e_video.npy", video)
    save_npy(f"{out}/e2e_frames.npy", to_uint8_frames(video))
    with open(f"{out}/e2e.json", "w") as f:
        json.dump({"prompt": prompt, "negative": negative, "steps": 3, "shift": 5.0,
                   "guidance": 5.0, "sampler": "unipc"}, f)
