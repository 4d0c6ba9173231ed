"""Training recipe of Kinema's bundled demo model: the same Wan2.1 architecture (tokenizer,
umT5-style encoder, DiT, Wan VAE, flow matching) at a tiny size, on the synthetic shapes domain
of synthetic.py. Runs on the CPU with Debian's python3-torch (use /usr/bin/python3).

  train.py tokenizer --out DIR            sentencepiece unigram model on the captions (spm_train)
  train.py vae --out DIR [--steps N]      the VAE (reconstruction + KL in the normalised space)
  train.py dit --out DIR [--steps N]      the DiT on VAE latents, frozen random umT5 features
  train.py all --out DIR                  the three in order, then the files in the official layout

Everything is seeded; the hyper-parameters are the defaults below. The output folder holds
dit.safetensors, t5.safetensors, vae.safetensors and spiece.model, which Kinema loads with
`--model DIR --allow-custom`.
"""
import argparse
import os
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "reference"))
import synthetic  # noqa: E402
from umt5 import T5Config, random_t5  # noqa: E402
from wan_dit import DiTConfig, WanDiT  # noqa: E402
from wan_vae import FrameCache, VAEConfig, WanVAE  # noqa: E402
from weights_io import save_safetensors  # noqa: E402

SIZE, FRAMES = 128, 17
VAE_CONFIG = VAEConfig(base_dim=16)
T5_CONFIG = T5Config(vocab=256, dim=64, ffn_dim=128, num_heads=4, head_dim=16, num_layers=2)
DIT_CONFIG = DiTConfig(dim=192, ffn_dim=512, num_heads=3, num_layers=4, text_dim=64)


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def to_video(clip):
    """uint8 [F, H, W, 3] -> f32 [3, F, H, W] in [-1, 1]."""
    return torch.from_numpy(clip).permute(3, 0, 1, 2).float() / 127.5 - 1.0


def train_tokenizer(out):
    rng = np.random.default_rng(0)
    lines = [synthetic.sample_example(rng, size=16, frames=1, allow_held_out=True)[1]
             for _ in range(4000)]
    corpus = os.path.join(out, "captions.txt")
    with open(corpus, "w") as f:
        f.write("\n".join(lines) + "\n")
    subprocess.run(["spm_train", f"--input={corpus}", f"--model_prefix={out}/spiece",
                    f"--vocab_size={T5_CONFIG.vocab}", "--hard_vocab_limit=false",
                    "--model_type=unigram", "--character_coverage=1.0", "--pad_id=0",
                    "--eos_id=1", "--unk_id=2", "--bos_id=-1", "--minloglevel=2"],
                   check=True, capture_output=True)
    os.remove(corpus)
    log(f"tokenizer: {out}/spiece.model")


def object_crop(frames, crop, rng):
    """Top-left corner of a crop that holds the moving object (a random crop is mostly plain
    background, which teaches the VAE little): centred on the object's mean position, jittered."""
    bg = frames[0, 0, 0].astype(np.float32)
    mask = np.linalg.norm(frames.astype(np.float32) - bg, axis=-1) > 60
    size = frames.shape[1]
    if mask.any():
        _, ys, xs = np.nonzero(mask)
        cy, cx = ys.mean(), xs.mean()
    else:
        cy = cx = size / 2
    jitter = rng.integers(-crop // 4, crop // 4 + 1, size=2)
    y0 = int(np.clip(cy - crop / 2 + jitter[0], 0, size - crop))
    x0 = int(np.clip(cx - crop / 2 + jitter[1], 0, size - crop))
    return y0, x0


def train_vae(out, steps, lr=1e-3, kl_weight=1e-4, crop=64, crop_frames=5):
    """The VAE is fully convolutional and causal in time, so it trains on crops: `crop` pixels
    square and `crop_frames` (1 + 4n) frames of a full clip, 12x cheaper than whole clips."""
    torch.manual_seed(1)
    rng = np.random.default_rng(1)
    vae = WanVAE(VAE_CONFIG)
    opt = torch.optim.AdamW(vae.parameters(), lr=lr, weight_decay=0.0)
    mean = vae.mean.view(1, -1, 1, 1, 1)
    inv = vae.inv_std.view(1, -1, 1, 1, 1)
    for step in range(steps):
        clip, _, _ = synthetic.sample_example(rng, SIZE, FRAMES, allow_held_out=True)
        t0 = int(rng.integers(FRAMES - crop_frames + 1))
        y0, x0 = object_crop(clip[t0:t0 + crop_frames], crop, rng)
        video = to_video(clip[t0:t0 + crop_frames, y0:y0 + crop, x0:x0 + crop])
        # Encode (chunked, as inference), sample in the normalised space, decode.
        x = video[None]
        cache = FrameCache()
        chunks = [vae.encoder(x[:, :, :1], cache)]
        for start in range(1, crop_frames, 4):
            chunks.append(vae.encoder(x[:, :, start:start + 4], cache))
        mu, logvar = vae.conv1(torch.cat(chunks, 2)).chunk(2, dim=1)
        z_norm = (mu - mean) * inv
        logvar_norm = logvar + 2 * torch.log(inv)
        z = z_norm + torch.randn_like(z_norm) * torch.exp(0.5 * logvar_norm)
        recon = vae.decode(z[0], clamp=False)[None]  # decode takes the normalised latent
        rec = F.l1_loss(recon, x) + F.mse_loss(recon, x)
        kl = 0.5 * (z_norm.pow(2) + logvar_norm.exp() - 1 - logvar_norm).mean()
        loss = rec + kl_weight * kl
        opt.zero_grad()
        loss.backward()
        opt.step()
        # Single crops vary a lot (many hold only background): log running means.
        avg_rec = rec.item() if step == 0 else 0.98 * avg_rec + 0.02 * rec.item()
        avg_kl = kl.item() if step == 0 else 0.98 * avg_kl + 0.02 * kl.item()
        if step % 50 == 0 or step == steps - 1:
            log(f"vae step {step}/{steps}: recon {avg_rec:.4f} kl {avg_kl:.3f} (running means)")
    torch.save(vae.state_dict(), os.path.join(out, "vae_train.pt"))
    return vae


def frozen_t5():
    return random_t5(T5_CONFIG, 2)


def encode_caption(t5, spiece, text):
    pieces = subprocess.run(["spm_encode", f"--model={spiece}", "--output_format=id"], input=text,
                            capture_output=True, text=True, check=True).stdout.split()
    ids = torch.tensor([int(p) for p in pieces][:511] + [1])
    with torch.no_grad():
        return t5(ids).to(torch.bfloat16).float()


def latent_dataset(out, vae, t5, count):
    """`count` training clips encoded once (the VAE encode costs 10x a DiT step): latents and
    caption features, cached in DIR/latents.pt."""
    path = os.path.join(out, "latents.pt")
    if os.path.exists(path):
        data = torch.load(path)
        if len(data["latents"]) >= count:
            return data
    rng = np.random.default_rng(4)
    spiece = os.path.join(out, "spiece.model")
    latents, contexts, captions = [], [], []
    for i in range(count):
        clip, text, _ = synthetic.sample_example(rng, SIZE, FRAMES)
        with torch.no_grad():
            latents.append(vae.encode(to_video(clip)))
        contexts.append(encode_caption(t5, spiece, text))
        captions.append(text)
        if i % 100 == 0:
            log(f"latents {i}/{count}")
    data = {"latents": latents, "contexts": contexts, "captions": captions}
    torch.save(data, path)
    return data


def train_dit(out, steps, vae, lr=3e-4, shift=3.0, uncond_rate=0.1, clips=600):
    torch.manual_seed(3)
    rng = np.random.default_rng(3)
    t5 = frozen_t5()
    spiece = os.path.join(out, "spiece.model")
    data = latent_dataset(out, vae, t5, clips)
    dit = WanDiT(DIT_CONFIG)
    opt = torch.optim.AdamW(dit.parameters(), lr=lr, weight_decay=0.01)
    empty = encode_caption(t5, spiece, "")
    for step in range(steps):
        i = int(rng.integers(len(data["latents"])))
        x0 = data["latents"][i]
        context = empty if rng.random() < uncond_rate else data["contexts"][i]
        # Flow matching: x_s = (1 - s) x0 + s eps, target velocity eps - x0; s shifted like the
        # sampler's schedule so training sees the noise levels sampling visits.
        u = float(rng.random())
        sigma = shift * u / (1 + (shift - 1) * u)
        eps = torch.randn_like(x0)
        xs = (1 - sigma) * x0 + sigma * eps
        v = dit(xs, int(sigma * 1000), context, "f32")
        loss = F.mse_loss(v, eps - x0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        avg = loss.item() if step == 0 else 0.98 * avg + 0.02 * loss.item()
        if step % 50 == 0 or step == steps - 1:
            log(f"dit step {step}/{steps}: loss {avg:.4f} (running mean)")
    return dit, t5


def export(out, vae, dit, t5):
    """The official layout, bf16 weights (f32 for the small vectors), as safetensors."""
    def shrink(sd):
        return {k: (v.to(torch.bfloat16) if v.dim() >= 2 else v.float()).contiguous()
                for k, v in sd.items()}
    save_safetensors(os.path.join(out, "dit.safetensors"), shrink(dit.state_dict()),
                     {"num_heads": DIT_CONFIG.num_heads})
    save_safetensors(os.path.join(out, "vae.safetensors"), shrink(vae.state_dict()))
    save_safetensors(os.path.join(out, "t5.safetensors"),
                     {k: v.to(torch.bfloat16).contiguous() for k, v in t5.state_dict().items()})
    log(f"exported to {out}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("stage", choices=["tokenizer", "vae", "dit", "all"])
    ap.add_argument("--out", required=True)
    ap.add_argument("--vae-steps", type=int, default=1500)
    ap.add_argument("--dit-steps", type=int, default=4000)
    ap.add_argument("--clips", type=int, default=600, help="encoded clips the DiT trains on")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    if args.stage in ("tokenizer", "all"):
        train_tokenizer(args.out)
    if args.stage in ("vae", "all"):
        vae = train_vae(args.out, args.vae_steps)
    else:
        vae = WanVAE(VAE_CONFIG)
        vae.load_state_dict(torch.load(os.path.join(args.out, "vae_train.pt")))
    vae.eval()
    for p in vae.parameters():
        p.requires_grad_(False)
    if args.stage in ("dit", "all"):
        dit, t5 = train_dit(args.out, args.dit_steps, vae, clips=args.clips)
        export(args.out, vae, dit, t5)


if __name__ == "__main__":
    main()
