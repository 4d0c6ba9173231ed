"""Training recipe of Kinema's bundled demo model: the same Wan2.1 architecture (tokenizer,
umT5-style encoder, DiT, Wan VAE, flow matching) at a tiny size, on the synthetic shapes domain
of synthetic.py. Runs on the CPU with Debian's python3-torch (use /usr/bin/python3), after
`make` (the DiT stage encodes its clips with Kinema's build/kinema_vae_encode).

  train.py tokenizer --out DIR   sentencepiece unigram model on the captions (spm_train)
  train.py vae --out DIR         VAE stage 1: autoencoder on 5-frame clips (vae_stage1.pt)
  train.py vae-time --out DIR    VAE stage 2: 9-frame clips, for the temporal cache (vae_stage2.pt)
  train.py vae-long --out DIR    VAE stage 3: whole 17-frame clips (vae_train.pt)
  train.py dit --out DIR         exports the VAE, encodes the training clips with it, trains the
                                 DiT against a frozen random umT5, exports DiT and umT5 (and
                                 keeps this DiT as DIR/dit_stage.safetensors)
  train.py text --out DIR        fine-tunes the umT5 and the DiT together, from
                                 DIR/dit_stage.safetensors and the random umT5, so that
                                 direction phrases are told apart; exports DiT and umT5
  train.py all --out DIR         all of them in order (not distill)
  train.py distill --out DIR     a 4-step, guidance-1 LoRA for the finished model (distill.py):
                                 DIR/distill-4step.safetensors; --teacher FOLDER takes the
                                 teacher from FOLDER (default DIR)

Everything is seeded and the hyper-parameters are the defaults below; the model card
(models/demo/README.md) gives the measured time of each stage. The output folder holds
dit.safetensors, t5.safetensors, vae.safetensors and spiece.model in the official layout, and
kinema.json (name and generation defaults): a model folder Kinema loads with --model DIR.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "reference"))
sys.path.insert(0, os.path.join(HERE, "..", "scripts"))
import safetensors_reader  # noqa: E402
import synthetic  # noqa: E402
from umt5 import T5Config, random_t5  # noqa: E402
from wan_dit import DiTConfig, WanDiT, rope_frequencies, sinusoidal_embedding  # noqa: E402
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


def kaiming_init(module):
    """He-normal convolutions with zero biases. PyTorch's default (uniform, a=sqrt(5)) is 3x
    narrower, and with it the Wan blocks (RMSNorm, SiLU, conv) learn so slowly that the VAE drops
    the moving object (a few % of the pixels) for hundreds of steps."""
    for m in module.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Conv3d)):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            torch.nn.init.zeros_(m.bias)


def vae_batch(rng, crop, crop_frames, batch):
    """`batch` clips of `crop_frames` frames: `crop`-pixel crops centred on the moving object, or
    whole frames when crop is SIZE."""
    videos = []
    for _ in range(batch):
        clip, _, _ = synthetic.sample_example(rng, SIZE, FRAMES, allow_held_out=True)
        t0 = int(rng.integers(FRAMES - crop_frames + 1))
        y0, x0 = object_crop(clip[t0:t0 + crop_frames], crop, rng)
        videos.append(to_video(clip[t0:t0 + crop_frames, y0:y0 + crop, x0:x0 + crop]))
    return torch.stack(videos)


def vae_latent(vae, x):
    """Chunked causal encode as at inference (frame 0, then 4 at a time) -> latent mean
    [B, 16, T, h, w] before normalisation."""
    cache = FrameCache()
    chunks = [vae.encoder(x[:, :, :1], cache)]
    for start in range(1, x.shape[2], 4):
        chunks.append(vae.encoder(x[:, :, start:start + 4], cache))
    return vae.conv1(torch.cat(chunks, 2)).chunk(2, dim=1)[0]


def vae_reconstruct(vae, mu):
    """Chunked causal decode (one latent frame per chunk) of an unnormalised latent, no clamp."""
    x = vae.conv2(mu)
    cache = FrameCache()
    return torch.cat([vae.decoder(x[:, :, i:i + 1], cache) for i in range(x.shape[2])], dim=2)


def vae_step(vae, opt, sched, x, latent_noise):
    """One optimisation step on clips x: encode, add `latent_noise` (relative to each channel's
    spread) to the latent, decode, L1 + MSE. Returns the reconstruction loss."""
    mu = vae_latent(vae, x)
    scale = mu.detach().std(dim=(0, 2, 3, 4), keepdim=True)
    recon = vae_reconstruct(vae, mu + latent_noise * scale * torch.randn_like(mu))
    rec = F.l1_loss(recon, x) + F.mse_loss(recon, x)
    opt.zero_grad()
    rec.backward()
    opt.step()
    sched.step()
    return rec.item()


def train_vae(out, steps, lr=1e-3, latent_noise=0.1, crop=64, crop_frames=5):
    """A deterministic autoencoder (the latent mean, no sampling), with a little noise on the
    latent so the decoder tolerates the DiT's errors. The VAE is fully convolutional and causal
    in time: steps train on 4 crops of `crop` pixels centred on the object, or on one
    whole frame (the border, and the middle attention at full size) every 8th step; crops cost
    a quarter of a whole frame per clip with PyTorch's CPU conv3d. After training, the latent
    is standardised (standardise_latent) so the Wan normalisation gives ~N(0, 1) latents."""
    torch.manual_seed(1)
    rng = np.random.default_rng(1)
    vae = WanVAE(VAE_CONFIG)
    kaiming_init(vae)
    opt = torch.optim.Adam(vae.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 50) * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * s / steps))))
    for step in range(steps):
        x = vae_batch(rng, crop, crop_frames, 4) if step % 8 else \
            vae_batch(rng, SIZE, crop_frames, 1)
        rec = vae_step(vae, opt, sched, x, latent_noise)
        # Crops and whole frames differ a lot: log running means.
        avg_rec = rec if step == 0 else 0.98 * avg_rec + 0.02 * rec
        if step % 50 == 0 or step == steps - 1:
            log(f"vae step {step}/{steps}: recon {avg_rec:.4f} (running mean)")
    standardise_latent(vae, rng)
    torch.save(vae.state_dict(), os.path.join(out, "vae_stage1.pt"))
    return vae


def train_vae_time(out, steps, crop_frames, batch, source, target, seed, lr=3e-4,
                   latent_noise=0.1, crop=64):
    """Later VAE stages, on longer clips. With 5-frame clips the decoder's temporal upsampling
    never runs with a real history: its second chunk starts from zeros (as in the official code)
    and there is no third, so frames 5 and later come out wrong. 9-frame clips (three chunks)
    teach the cached history; whole 17-frame clips (five chunks) then stop the colours drifting
    over the later chunks. Starts from DIR/`source`, ends standardised in DIR/`target`."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    vae = WanVAE(VAE_CONFIG)
    vae.load_state_dict(torch.load(os.path.join(out, source)))
    opt = torch.optim.Adam(vae.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 20) * (0.1 + 0.45 * (1 + np.cos(np.pi * s / steps))))
    for step in range(steps):
        x = vae_batch(rng, crop, crop_frames, batch)
        rec = vae_step(vae, opt, sched, x, latent_noise)
        avg_rec = rec if step == 0 else 0.98 * avg_rec + 0.02 * rec
        if step % 25 == 0 or step == steps - 1:
            log(f"vae ({crop_frames} frames) step {step}/{steps}: recon {avg_rec:.4f} "
                "(running mean)")
    standardise_latent(vae, rng)
    torch.save(vae.state_dict(), os.path.join(out, target))
    return vae


def standardise_latent(vae, rng, clips=32):
    """Folds a per-channel affine map into the encoder's output conv and its inverse into the
    decoder's input conv, so that the Wan-normalised latents of the training clips have zero mean
    and unit variance per channel (what the DiT's flow matching assumes). Reconstructions are
    unchanged."""
    with torch.no_grad():
        mus = torch.cat([vae_latent(vae, torch.stack([to_video(synthetic.sample_example(
            rng, SIZE, FRAMES, allow_held_out=True)[0]) for _ in range(8)]))
            for _ in range(clips // 8)])
        m = mus.mean(dim=(0, 2, 3, 4))
        s = mus.std(dim=(0, 2, 3, 4))
        target_std = 1.0 / vae.inv_std
        a = target_std / s                      # new mu = a * mu + b
        b = vae.mean - a * m
        z = vae.cfg.z_dim
        w1, b1 = vae.conv1.weight, vae.conv1.bias  # [2z, 2z, 1, 1, 1]: first z rows are mu
        w1[:z] *= a.view(-1, 1, 1, 1, 1)
        b1[:z] = a * b1[:z] + b
        w2, b2 = vae.conv2.weight, vae.conv2.bias  # decoder input: mu = (mu' - b) / a
        b2 += -(w2[:, :, 0, 0, 0] @ (b / a))
        w2 /= a.view(1, -1, 1, 1, 1)
    log(f"latent standardised: channel std was {s.min():.3f}..{s.max():.3f}")


def random_umt5():
    """The random text encoder (seed 2), its weights rounded to bf16 as they ship, so the caption
    features the DiT trains on are the ones Kinema computes. The dit stage keeps it frozen; the
    text stage trains it from here."""
    t5 = random_t5(T5_CONFIG, 2)
    with torch.no_grad():
        for p in t5.parameters():
            p.copy_(p.to(torch.bfloat16).float())
    return t5


def caption_ids(spiece, captions):
    """Token ids (+ the end token 1) of each caption, one spm_encode run for all of them."""
    lines = subprocess.run(["spm_encode", f"--model={spiece}", "--output_format=id"],
                           input="\n".join(captions) + "\n", capture_output=True, text=True,
                           check=True).stdout.split("\n")
    return [torch.tensor([int(p) for p in line.split()][:511] + [1])
            for line in lines[:len(captions)]]


def encode_caption(t5, spiece, text):
    with torch.no_grad():
        return t5(caption_ids(spiece, [text])[0]).to(torch.bfloat16).float()


def object_mask(clip, background):
    """Where the object is on the latent grid [1, T', H/8, W/8]: a latent cell is set when any pixel
    it covers (latent frame 0: frame 0; latent frame k: frames 4k-3..4k) differs from the
    background, widened by one cell for the VAE's reach."""
    bg = np.asarray(synthetic.BACKGROUNDS[background], dtype=np.int16)
    hit = np.abs(clip.astype(np.int16) - bg).max(axis=-1) > 0  # [F, H, W]
    frames, h, w = hit.shape
    groups = [hit[:1]] + [hit[4 * k - 3:4 * k + 1] for k in range(1, (frames - 1) // 4 + 1)]
    cells = np.stack([g.any(axis=0).reshape(h // 8, 8, w // 8, 8).any(axis=(1, 3))
                      for g in groups]).astype(np.float32)
    m = torch.from_numpy(cells)[None]
    return F.max_pool3d(m[None], (1, 3, 3), stride=1, padding=(0, 1, 1))[0]


def latent_dataset(out, encoder, t5, count, batch=50):
    """`count` training clips (held-out combinations excluded): their latents from the shipped
    VAE file (DIR/vae.safetensors), encoded by Kinema's own VAE (`encoder`, the kinema_vae_encode
    tool, about 8x faster than PyTorch's CPU conv3d here), their caption features, captions and
    object masks (object_mask). Cached in DIR/latents.pt; a larger `count` encodes only the clips
    that are new (the clips come from one seeded stream, so the first ones are the same)."""
    path = os.path.join(out, "latents.pt")
    data = {"latents": [], "contexts": [], "captions": [], "masks": []}
    if os.path.exists(path):
        data = torch.load(path)
        data.setdefault("masks", [])
        if len(data["latents"]) >= count and len(data["masks"]) >= count:
            return data
    rng = np.random.default_rng(4)
    spiece = os.path.join(out, "spiece.model")
    vae_file = os.path.join(out, "vae.safetensors")
    masks = []
    latent_shape = (16, (FRAMES - 1) // 4 + 1, SIZE // 8, SIZE // 8)
    for first in range(0, count, batch):
        n = min(batch, count - first)
        clips = []
        for i in range(n):
            clip, text, labels = synthetic.sample_example(rng, SIZE, FRAMES)
            masks.append(object_mask(clip, labels["background"]))
            if first + i < len(data["latents"]):
                assert data["captions"][first + i] == text, "latents.pt is from another stream"
                continue
            clips.append(clip)
            data["contexts"].append(encode_caption(t5, spiece, text))
            data["captions"].append(text)
        if clips:
            raw = subprocess.run([encoder, vae_file, str(len(clips)), str(FRAMES), str(SIZE),
                                  str(SIZE), str(torch.get_num_threads())],
                                 input=np.stack(clips).tobytes(), capture_output=True,
                                 check=True).stdout
            z = torch.from_numpy(np.frombuffer(raw, dtype=np.float32).copy())
            data["latents"].extend(z.view(len(clips), *latent_shape).unbind(0))
            log(f"latents {first + n}/{count}")
    data["masks"] = masks
    torch.save(data, path + ".tmp")
    os.replace(path + ".tmp", path)
    return data


def rope_tables(grid, head_dim):
    """cos, sin [L, 1, d/2] of Wan's 3-D RoPE for a (T, H, W) token grid (as rope_apply)."""
    t_len, h_len, w_len = grid
    ft, fh, fw = rope_frequencies(head_dim)
    freqs = torch.cat([
        ft[:t_len].view(t_len, 1, 1, -1).expand(t_len, h_len, w_len, ft.shape[1]),
        fh[:h_len].view(1, h_len, 1, -1).expand(t_len, h_len, w_len, fh.shape[1]),
        fw[:w_len].view(1, 1, w_len, -1).expand(t_len, h_len, w_len, fw.shape[1]),
    ], dim=-1).reshape(t_len * h_len * w_len, 1, -1)
    return freqs.real.float(), freqs.imag.float()


def _rope(x, cos, sin):
    """x [B, L, N, d]: rotates the (even, odd) pairs."""
    pairs = x.unflatten(-1, (-1, 2))
    a, b = pairs[..., 0], pairs[..., 1]
    return torch.stack([a * cos - b * sin, a * sin + b * cos], dim=-1).flatten(-2)


def _rms(z, norm):
    return z * torch.rsqrt(z.pow(2).mean(dim=-1, keepdim=True) + norm.eps) * norm.weight


def _attention(q, k, v, heads, bias=None):
    """q [B, Lq, D], k/v [B, Lk, D], bias [B, Lk] added to the logits -> [B, Lq, D]."""
    b, lq, dim = q.shape
    d = dim // heads
    q, k, v = (t.view(b, -1, heads, d).transpose(1, 2) for t in (q, k, v))
    logits = q @ k.transpose(-1, -2) / d**0.5
    if bias is not None:
        logits = logits + bias[:, None, None, :]
    a = torch.softmax(logits, dim=-1) @ v
    return a.transpose(1, 2).reshape(b, lq, dim)


def dit_forward_batch(dit, x, t, context, lengths):
    """The reference DiT's f32 forward over a batch (training only; the reference runs one
    sample): x [B, 16, T, H, W], t [B] integer timesteps, context [B, L, text_dim] (the real
    tokens' features, zero rows after `lengths` [B]) -> velocity [B, 16, T, H, W].

    Wan pads the context to text_len (512) zero rows, and the cross-attention attends to all of
    them. The padding rows embed to one and the same key and value, so here they are one extra
    key whose logit gets log(512 - length): the same softmax, at a 20th of the cost. Checked
    against WanDiT.forward by check_batch_forward before training."""
    cfg = dit.cfg
    bsz = x.shape[0]
    pt, ph, pw = cfg.patch_size
    grid = (x.shape[2] // pt, x.shape[3] // ph, x.shape[4] // pw)
    tokens = dit.patch_embedding(x).flatten(2).transpose(1, 2)  # [B, L, D]
    e = dit.time_embedding(sinusoidal_embedding(t, cfg.freq_dim))  # [B, D]
    e0 = dit.time_projection(e).view(bsz, 6, cfg.dim)
    width = context.shape[1]
    pad = dit.text_embedding(torch.zeros(1, 1, cfg.text_dim)).expand(bsz, 1, cfg.dim)
    ctx = torch.cat([dit.text_embedding(context), pad], dim=1)  # [B, L + 1, D]
    slot = torch.arange(width + 1)[None, :]
    n = lengths[:, None]
    bias = torch.where(slot < n, 0.0, float("-inf"))
    bias = torch.where(slot == width, torch.log((cfg.text_len - n).float()), bias)
    cos, sin = rope_tables(grid, cfg.head_dim)
    ln = lambda h, w=None, b=None: F.layer_norm(h, (cfg.dim,), w, b, cfg.eps)  # noqa: E731
    h = tokens
    for blk in dit.blocks:
        mod = (blk.modulation + e0).unbind(1)
        shift_sa, scale_sa, gate_sa, shift_ffn, scale_ffn, gate_ffn = (m[:, None] for m in mod)
        sa = blk.self_attn
        y = ln(h) * (1 + scale_sa) + shift_sa
        q = _rms(sa.q(y), sa.norm_q).unflatten(-1, (sa.heads, -1))
        k = _rms(sa.k(y), sa.norm_k).unflatten(-1, (sa.heads, -1))
        q, k = _rope(q, cos, sin).flatten(-2), _rope(k, cos, sin).flatten(-2)
        h = h + sa.o(_attention(q, k, sa.v(y), sa.heads)) * gate_sa
        ca = blk.cross_attn
        y = ln(h, blk.norm3.weight, blk.norm3.bias)
        q = _rms(ca.q(y), ca.norm_q)
        h = h + ca.o(_attention(q, _rms(ca.k(ctx), ca.norm_k), ca.v(ctx), ca.heads, bias))
        h = h + blk.ffn(ln(h) * (1 + scale_ffn) + shift_ffn) * gate_ffn
    shift, scale = (dit.head.modulation + e[:, None]).unbind(1)
    out = dit.head.head(ln(h) * (1 + scale[:, None]) + shift[:, None])
    gt, gh, gw = grid
    out = out.view(bsz, gt, gh, gw, pt, ph, pw, cfg.out_dim)
    return out.permute(0, 7, 1, 4, 2, 5, 3, 6).reshape(bsz, cfg.out_dim, gt * pt, gh * ph, gw * pw)


def stack_contexts(features, width=None):
    """Caption features [n_i, text_dim] -> zero-padded [B, width, text_dim] and lengths [B]."""
    width = width or max(f.shape[0] for f in features)
    out = torch.zeros(len(features), width, features[0].shape[1])
    for i, f in enumerate(features):
        out[i, :f.shape[0]] = f
    return out, torch.tensor([f.shape[0] for f in features])


def check_batch_forward(dit, data):
    """The batched training forward must equal the reference forward (what gets exported)."""
    with torch.no_grad():
        x = torch.stack([data["latents"][0], data["latents"][1]])
        feats = [data["contexts"][0], data["contexts"][1][:3]]  # two different lengths
        ctx, lengths = stack_contexts(feats)
        batch = dit_forward_batch(dit, x, torch.tensor([700, 150]), ctx, lengths)
        for i, t in enumerate((700, 150)):
            ref = dit(x[i], t, feats[i], "f32")
            err = (batch[i] - ref).abs().max().item()
            assert err < 1e-4 * max(1.0, ref.abs().max().item()), f"batched forward differs: {err}"


def flow_matching_loss(dit, x0, ctx, ctx_len, mask, rng, shift, fg_weight):
    """Flow matching: x_s = (1 - s) x0 + s eps, target velocity eps - x0; s shifted like the
    sampler's schedule so training sees the noise levels sampling visits. The DiT sees the integer
    timestep int(1000 s), as at inference. Mixed precision: bf16 matrix products (as the shipped
    bf16 weights run at inference) with f32 weights, residual stream and loss; 4x faster than f32
    on this CPU. The object's latent cells (`mask`) weigh 1 + fg_weight."""
    batch = x0.shape[0]
    u = torch.from_numpy(rng.random(batch)).float()
    sigma = shift * u / (1 + (shift - 1) * u)
    timestep = (sigma * 1000).long()
    sigma = sigma.view(-1, 1, 1, 1, 1)
    eps = torch.randn_like(x0)
    xs = (1 - sigma) * x0 + sigma * eps
    with torch.autocast("cpu", dtype=torch.bfloat16):
        v = dit_forward_batch(dit, xs, timestep, ctx, ctx_len).float()
    weight = 1 + fg_weight * mask
    return (weight * (v - (eps - x0)).pow(2)).mean() / weight.mean()


def train_dit(out, steps, encoder, lr=1e-3, batch=16, shift=3.0, uncond_rate=0.1, clips=1200,
              fg_weight=5.0, export_every=0, resume=False):
    """Flow matching on the cached latents, `batch` clips per step, AdamW with warm-up and cosine
    decay, 10% of captions dropped to the empty prompt (for classifier-free guidance). The object
    covers a few percent of the frame, so its latent cells weigh 1 + fg_weight in the loss: with
    plain MSE the background dominates and the object's colour and motion come too late."""
    torch.manual_seed(3)
    rng = np.random.default_rng(3)
    t5 = random_umt5()
    spiece = os.path.join(out, "spiece.model")
    data = latent_dataset(out, encoder, t5, clips)
    dit = WanDiT(DIT_CONFIG)
    check_batch_forward(dit, data)
    opt = torch.optim.AdamW(dit.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 100) * (0.05 + 0.475 * (1 + np.cos(np.pi * s / steps))))
    empty = encode_caption(t5, spiece, "")
    contexts, lengths = stack_contexts(data["contexts"] + [empty])
    empty_ctx, empty_len = contexts[-1], lengths[-1]
    latents = torch.stack(data["latents"][:clips])
    masks = torch.stack(data["masks"][:clips])
    first, avg = 0, 0.0
    state_path = os.path.join(out, "dit_train_state.pt")
    if resume and os.path.exists(state_path):
        state = torch.load(state_path)
        dit.load_state_dict(state["dit"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        rng.bit_generator.state = state["numpy_rng"]
        torch.set_rng_state(state["torch_rng"])
        first, avg = state["step"], state["avg"]
        log(f"resumed at dit step {first}")
    for step in range(first, steps):
        idx = torch.from_numpy(rng.integers(len(latents), size=batch))
        x0 = latents[idx]
        drop = torch.from_numpy(rng.random(batch) < uncond_rate)
        ctx = torch.where(drop[:, None, None], empty_ctx[None], contexts[idx])
        ctx_len = torch.where(drop, empty_len, lengths[idx])
        loss = flow_matching_loss(dit, x0, ctx, ctx_len, masks[idx], rng, shift, fg_weight)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(dit.parameters(), 1.0)
        opt.step()
        sched.step()
        avg = loss.item() if step == 0 else 0.98 * avg + 0.02 * loss.item()
        if step % 50 == 0 or step == steps - 1:
            log(f"dit step {step}/{steps}: loss {avg:.4f} (running mean)")
        if export_every and (step + 1) % export_every == 0 and step + 1 < steps:
            export_checkpoint(out, dit, t5, step + 1)
            # Everything the loop needs to go on exactly as if it had not stopped (--resume).
            torch.save({"dit": dit.state_dict(), "opt": opt.state_dict(),
                        "sched": sched.state_dict(), "numpy_rng": rng.bit_generator.state,
                        "torch_rng": torch.get_rng_state(), "step": step + 1, "avg": avg},
                       state_path + ".tmp")
            os.replace(state_path + ".tmp", state_path)
    return dit, t5


def load_shipped(module, path):
    """Loads a safetensors file this recipe exported (bf16 matrices) into `module` as f32."""
    module.load_state_dict({k: v.float() for k, v in safetensors_reader.load(path).items()})


def train_text(out, steps, lr=2e-4, t5_lr=1e-3, batch=16, shift=3.0, uncond_rate=0.1, clips=1200,
               fg_weight=5.0):
    """Fine-tunes the text encoder and the DiT together, from the DiT stage's result
    (DIR/dit_stage.safetensors) and the random umT5: with a frozen random encoder the DiT often
    draws "moves down" as "moves down and to the left". The encoder runs as Kinema runs it (bf16
    rounding at every step of umT5's reference, gradients straight through the roundings). AdamW
    with warm-up and cosine decay; the small random encoder learns at a higher rate than the
    trained DiT."""
    torch.manual_seed(6)
    rng = np.random.default_rng(6)
    t5 = random_umt5()
    spiece = os.path.join(out, "spiece.model")
    data = torch.load(os.path.join(out, "latents.pt"))
    dit = WanDiT(DIT_CONFIG)
    load_shipped(dit, os.path.join(out, "dit_stage.safetensors"))
    ids = caption_ids(spiece, data["captions"][:clips] + [""])
    empty_ids = ids[-1]
    latents = torch.stack(data["latents"][:clips])
    masks = torch.stack(data["masks"][:clips])
    dit_params, t5_params = list(dit.parameters()), list(t5.parameters())
    params = dit_params + t5_params
    opt = torch.optim.AdamW([{"params": dit_params, "lr": lr}, {"params": t5_params, "lr": t5_lr}],
                            weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 100) * (0.05 + 0.475 * (1 + np.cos(np.pi * s / steps))))
    avg = 0.0
    for step in range(steps):
        idx = rng.integers(len(latents), size=batch)
        drop = rng.random(batch) < uncond_rate
        feats = [t5(empty_ids if d else ids[i]) for i, d in zip(idx, drop)]
        ctx, ctx_len = stack_contexts(feats)
        rows = torch.from_numpy(idx)
        loss = flow_matching_loss(dit, latents[rows], ctx, ctx_len, masks[rows], rng, shift,
                                  fg_weight)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        avg = loss.item() if step == 0 else 0.98 * avg + 0.02 * loss.item()
        if step % 50 == 0 or step == steps - 1:
            log(f"text step {step}/{steps}: loss {avg:.4f} (running mean)")
        if (step + 1) % 500 == 0 and step + 1 < steps:
            export_checkpoint(out, dit, t5, step + 1, prefix="text-step")
    return dit, t5


def export_checkpoint(out, dit, t5, step, prefix="step"):
    """A complete model folder of the DiT at `step`, in DIR/checkpoints/step-N (to follow
    adherence during a long run)."""
    folder = os.path.join(out, "checkpoints", f"{prefix}-{step}")
    os.makedirs(folder, exist_ok=True)
    export(folder, dit, t5)
    for name in ("vae.safetensors", "spiece.model"):
        shutil.copy(os.path.join(out, name), folder)


def shipped(state):
    """Weights as they ship: bf16 matrices and kernels, f32 vectors."""
    return {k: (v.to(torch.bfloat16) if v.dim() >= 2 else v.float()).contiguous()
            for k, v in state.items()}


def export_vae(out, vae):
    save_safetensors(os.path.join(out, "vae.safetensors"), shipped(vae.state_dict()))


MANIFEST = {
    "name": "kinema-demo-shapes",
    "description": "Kinema's bundled demo model: the Wan2.1 architecture at a tiny size, trained "
                   "on synthetic clips of coloured shapes moving in named directions (see "
                   "README.md here)",
    "custom_sizes": True,
    # What the model was trained for: the clip size, and the sigma shift of the training noise.
    "defaults": {"width": SIZE, "height": SIZE, "frames": FRAMES, "fps": 8, "steps": 20,
                 "guidance": 5.0, "shift": 3.0, "sampler": "unipc", "negative_prompt": ""},
    # What the distill stage's LoRA was trained for, applied whenever it is (--lora FILE).
    "lora_defaults": {"distill-4step.safetensors": {"sampler": "lcm", "steps": 4,
                                                    "guidance": 1.0, "shift": 3.0}},
}


def write_manifest(folder):
    """kinema.json: the name and the generation defaults Kinema uses for this folder."""
    with open(os.path.join(folder, "kinema.json"), "w") as f:
        json.dump(MANIFEST, f, indent=2)
        f.write("\n")


def export(out, dit, t5):
    """The official layout as safetensors; the T5 all bf16, as the official umT5 file."""
    save_safetensors(os.path.join(out, "dit.safetensors"), shipped(dit.state_dict()),
                     {"num_heads": DIT_CONFIG.num_heads})
    save_safetensors(os.path.join(out, "t5.safetensors"),
                     {k: v.to(torch.bfloat16).contiguous() for k, v in t5.state_dict().items()})
    write_manifest(out)
    log(f"exported to {out}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("stage", choices=["tokenizer", "vae", "vae-time", "vae-long", "dit", "text",
                                      "all", "distill"])
    ap.add_argument("--out", required=True)
    ap.add_argument("--vae-steps", type=int, default=1400)
    ap.add_argument("--vae-time-steps", type=int, default=450, help="steps on 9-frame clips")
    ap.add_argument("--vae-long-steps", type=int, default=250, help="steps on 17-frame clips")
    ap.add_argument("--dit-steps", type=int, default=8000)
    ap.add_argument("--text-steps", type=int, default=8000,
                    help="steps of the text encoder and DiT fine-tune")
    ap.add_argument("--clips", type=int, default=1200, help="encoded clips the DiT trains on")
    ap.add_argument("--export-every", type=int, default=0,
                    help="also export a model folder every N DiT steps (DIR/checkpoints) and "
                         "the training state (DIR/dit_train_state.pt)")
    ap.add_argument("--resume", action="store_true",
                    help="continue the DiT from DIR/dit_train_state.pt")
    ap.add_argument("--teacher", help="distill: the 20-step model folder (default: --out)")
    ap.add_argument("--distill-steps", type=int, default=1000)
    ap.add_argument("--distill-rank", type=int, default=16)
    ap.add_argument("--distill-alpha", type=float, default=8.0)
    ap.add_argument("--distill-pairs", type=int, default=256,
                    help="teacher samples the distillation regresses on")
    ap.add_argument("--distill-batch", type=int, default=8)
    ap.add_argument("--distill-export-every", type=int, default=0,
                    help="distill: also write the LoRA every N steps (DIR/checkpoints)")
    ap.add_argument("--distill-check", action="store_true",
                    help="distill: measure adherence in PyTorch at the end (slow)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--encoder", default=os.path.join(HERE, "..", "build", "kinema_vae_encode"),
                    help="Kinema's kinema_vae_encode tool (built by make)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    if args.stage in ("tokenizer", "all"):
        train_tokenizer(args.out)
    if args.stage in ("vae", "all"):
        train_vae(args.out, args.vae_steps)
    if args.stage in ("vae-time", "all"):
        train_vae_time(args.out, args.vae_time_steps, 9, 4, "vae_stage1.pt", "vae_stage2.pt", 2)
    if args.stage in ("vae-long", "all"):
        train_vae_time(args.out, args.vae_long_steps, FRAMES, 2, "vae_stage2.pt", "vae_train.pt",
                       5, lr=2e-4)
    if args.stage in ("dit", "all"):
        vae = WanVAE(VAE_CONFIG)
        vae.load_state_dict(torch.load(os.path.join(args.out, "vae_train.pt")))
        export_vae(args.out, vae)
        dit, t5 = train_dit(args.out, args.dit_steps, args.encoder, clips=args.clips,
                            export_every=args.export_every, resume=args.resume)
        export(args.out, dit, t5)
        shutil.copy(os.path.join(args.out, "dit.safetensors"),
                    os.path.join(args.out, "dit_stage.safetensors"))
    if args.stage in ("text", "all"):
        dit, t5 = train_text(args.out, args.text_steps, clips=args.clips)
        export(args.out, dit, t5)
    if args.stage == "distill":
        import distill
        distill.run(args)


if __name__ == "__main__":
    main()
