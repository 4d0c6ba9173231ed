"""PyTorch reference of the Wan2.2 VAE (48 latent channels, 4x16x16), for Kinema's parity tests.

Written from the official code (Wan-Video/Wan2.2 @ 42bf4cfa, wan/modules/vae2_2.py; described
in docs/wan22-spec.md section 4). Module paths equal the official `Wan2.2_VAE.pth` keys. The
causal conv, RMS norm, residual, attention and resample blocks and the FrameCache are the Wan2.1
reference's (wan_vae.py); what is new here:

* a 2x2 space-to-channel patchify of the pixels (3 -> 12 channels) and its inverse;
* encoder and decoder stages that are residual around a parameter-free shortcut: the encoder's
  averages groups of space/time positions into channels (avg_down), the decoder's repeats
  channels into space/time positions (dup_up), dropping the first frame of the first chunk;
* the upsample conv keeps the width; the decoder has its own base width.

Encoding runs frame 0 alone, then 4 frames per chunk; decoding one latent frame per chunk, as the
official code does. Everything runs in float32.
"""
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from wan_vae import (AttentionBlock, CausalConv3d, FrameCache, Resample, ResidualBlock, RMSNorm,
                     randomize_norms_and_biases)

# Wan2_2_VAE.__init__ (vae2_2.py lines 904-1012), per channel.
LATENT_MEAN = [-0.2289, -0.0052, -0.1323, -0.2339, -0.2799, 0.0174, 0.1838, 0.1557,
               -0.1382, 0.0542, 0.2813, 0.0891, 0.1570, -0.0098, 0.0375, -0.1825,
               -0.2246, -0.1207, -0.0698, 0.5109, 0.2665, -0.2108, -0.2158, 0.2502,
               -0.2055, -0.0322, 0.1109, 0.1567, -0.0729, 0.0899, -0.2799, -0.1230,
               -0.0313, -0.1649, 0.0117, 0.0723, -0.2839, -0.2083, -0.0520, 0.3748,
               0.0152, 0.1957, 0.1433, -0.2944, 0.3573, -0.0548, -0.1681, -0.0667]
LATENT_STD = [0.4765, 1.0364, 0.4514, 1.1677, 0.5313, 0.4990, 0.4818, 0.5013,
              0.8158, 1.0344, 0.5894, 1.0901, 0.6885, 0.6165, 0.8454, 0.4978,
              0.5759, 0.3523, 0.7135, 0.6804, 0.5833, 1.4146, 0.8986, 0.5659,
              0.7069, 0.5338, 0.4889, 0.4917, 0.4069, 0.4999, 0.6866, 0.4093,
              0.5709, 0.6065, 0.6415, 0.4944, 0.5726, 1.2042, 0.5458, 1.6887,
              0.3971, 1.0600, 0.3943, 0.5537, 0.5444, 0.4089, 0.7468, 0.7744]


@dataclass
class VAE22Config:
    encoder_dim: int = 160
    decoder_dim: int = 256
    z_dim: int = 48
    dim_mult: list = field(default_factory=lambda: [1, 2, 4, 4])
    num_res_blocks: int = 2
    temporal_downsample: list = field(default_factory=lambda: [False, True, True])


WAN22_VAE = VAE22Config()
PATCH = 2


def patchify(x):
    """[B, 3, T, H, W] -> [B, 12, T, H/2, W/2]; channel c*4 + 2*column offset + row offset."""
    b, c, t, h, w = x.shape
    x = x.reshape(b, c, t, h // PATCH, PATCH, w // PATCH, PATCH)  # dims: row off 4, col off 6
    return x.permute(0, 1, 6, 4, 2, 3, 5).reshape(b, c * PATCH * PATCH, t, h // PATCH, w // PATCH)


def unpatchify(x):
    """The inverse of patchify: [B, 12, T, h, w] -> [B, 3, T, 2h, 2w]."""
    b, c, t, h, w = x.shape
    x = x.reshape(b, c // (PATCH * PATCH), PATCH, PATCH, t, h, w)  # (c, col off, row off)
    return x.permute(0, 1, 4, 5, 3, 6, 2).reshape(b, c // (PATCH * PATCH), t, h * PATCH, w * PATCH)


def avg_down(x, cout, ft, fs):
    """The encoder stages' shortcut: zero frames in front up to a multiple of ft, then each
    (ft, fs, fs) cell becomes ft*fs*fs*C values ordered (c, t offset, row offset, col offset),
    averaged in consecutive groups down to `cout` channels."""
    x = F.pad(x, (0, 0, 0, 0, (-x.shape[2]) % ft, 0))
    b, c, t, h, w = x.shape
    x = x.reshape(b, c, t // ft, ft, h // fs, fs, w // fs, fs).permute(0, 1, 3, 5, 7, 2, 4, 6)
    return x.reshape(b, cout, c * ft * fs * fs // cout, t // ft, h // fs, w // fs).mean(dim=2)


def dup_up(x, cout, ft, fs, first_chunk):
    """The decoder stages' shortcut: each channel repeated, the copies laid out as `cout`
    channels of (ft, fs, fs) cells; the first chunk drops its first ft-1 frames."""
    b, c, t, h, w = x.shape
    x = x.repeat_interleave(cout * ft * fs * fs // c, dim=1)
    x = x.reshape(b, cout, ft, fs, fs, t, h, w).permute(0, 1, 5, 2, 6, 3, 7, 4)
    x = x.reshape(b, cout, t * ft, h * fs, w * fs)
    return x[:, :, ft - 1:] if first_chunk else x


def _step(m, x, cache):
    if isinstance(m, CausalConv3d):
        return m.cached(x, cache)
    if isinstance(m, (ResidualBlock, AttentionBlock, Resample)):
        return m(x, cache)
    return m(x)


class DownStage(nn.Module):
    """Residual blocks, then (except the last stage) a downsample; plus the avg_down shortcut."""

    def __init__(self, cin, cout, num_res_blocks, temporal, down):
        super().__init__()
        self.cout, self.ft, self.fs = cout, 2 if temporal else 1, 2 if down else 1
        blocks = []
        for _ in range(num_res_blocks):
            blocks.append(ResidualBlock(cin, cout))
            cin = cout
        if down:
            blocks.append(Resample(cout, "downsample3d" if temporal else "downsample2d"))
        self.downsamples = nn.ModuleList(blocks)

    def forward(self, x, cache):
        h = x
        for m in self.downsamples:
            h = m(h, cache)
        return h + avg_down(x, self.cout, self.ft, self.fs)


class UpStage(nn.Module):
    """Residual blocks, then (except the last stage) an upsample keeping the width, plus the
    dup_up shortcut; the last stage has no shortcut at all."""

    def __init__(self, cin, cout, num_res_blocks, temporal, up):
        super().__init__()
        self.cout, self.ft, self.up = cout, 2 if temporal else 1, up
        blocks = []
        for _ in range(num_res_blocks + 1):
            blocks.append(ResidualBlock(cin, cout))
            cin = cout
        if up:
            blocks.append(Resample(cout, "upsample3d" if temporal else "upsample2d", up_dim=cout))
        self.upsamples = nn.ModuleList(blocks)

    def forward(self, x, cache, first_chunk):
        h = x
        for m in self.upsamples:
            h = m(h, cache)
        return h + dup_up(x, self.cout, self.ft, 2, first_chunk) if self.up else h


class Encoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        dims = [cfg.encoder_dim * u for u in [1] + cfg.dim_mult]
        stages = len(cfg.dim_mult)
        self.conv1 = CausalConv3d(3 * PATCH * PATCH, dims[0], 3, padding=1)
        self.downsamples = nn.ModuleList([
            DownStage(cin, cout, cfg.num_res_blocks,
                      i < len(cfg.temporal_downsample) and cfg.temporal_downsample[i],
                      i != stages - 1)
            for i, (cin, cout) in enumerate(zip(dims[:-1], dims[1:]))])
        top = dims[-1]
        self.middle = nn.ModuleList([ResidualBlock(top, top), AttentionBlock(top),
                                     ResidualBlock(top, top)])
        self.head = nn.Sequential(RMSNorm(top, False), nn.SiLU(),
                                  CausalConv3d(top, cfg.z_dim * 2, 3, padding=1))

    def forward(self, x, cache):
        x = self.conv1.cached(x, cache)
        for stage in self.downsamples:
            x = stage(x, cache)
        for m in list(self.middle) + list(self.head):
            x = _step(m, x, cache)
        return x


class Decoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        mult = cfg.dim_mult
        dims = [cfg.decoder_dim * u for u in [mult[-1]] + mult[::-1]]
        temporal_up = cfg.temporal_downsample[::-1]
        stages = len(mult)
        self.conv1 = CausalConv3d(cfg.z_dim, dims[0], 3, padding=1)
        self.middle = nn.ModuleList([ResidualBlock(dims[0], dims[0]), AttentionBlock(dims[0]),
                                     ResidualBlock(dims[0], dims[0])])
        self.upsamples = nn.ModuleList([
            UpStage(cin, cout, cfg.num_res_blocks,
                    i < len(temporal_up) and temporal_up[i], i != stages - 1)
            for i, (cin, cout) in enumerate(zip(dims[:-1], dims[1:]))])
        self.head = nn.Sequential(RMSNorm(dims[-1], False), nn.SiLU(),
                                  CausalConv3d(dims[-1], 3 * PATCH * PATCH, 3, padding=1))

    def forward(self, x, cache, first_chunk):
        x = self.conv1.cached(x, cache)
        for m in self.middle:
            x = _step(m, x, cache)
        for stage in self.upsamples:
            x = stage(x, cache, first_chunk)
        for m in self.head:
            x = _step(m, x, cache)
        return x


class WanVAE22(nn.Module):
    def __init__(self, cfg: VAE22Config = WAN22_VAE):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.conv1 = CausalConv3d(cfg.z_dim * 2, cfg.z_dim * 2, 1)
        self.conv2 = CausalConv3d(cfg.z_dim, cfg.z_dim, 1)
        self.decoder = Decoder(cfg)
        self.register_buffer("mean", torch.tensor(LATENT_MEAN), persistent=False)
        self.register_buffer("inv_std", 1.0 / torch.tensor(LATENT_STD), persistent=False)

    def encode(self, video):
        """video: [3, F, H, W] in [-1, 1], F = 4n+1, H, W multiples of 16
        -> normalised latent mean [48, n+1, H/16, W/16]."""
        x = patchify(video[None].float())
        cache = FrameCache()
        chunks = [self.encoder(x[:, :, :1], cache)]
        for start in range(1, x.shape[2], 4):
            chunks.append(self.encoder(x[:, :, start:start + 4], cache))
        mu = self.conv1(torch.cat(chunks, dim=2)).chunk(2, dim=1)[0]
        return ((mu - self.mean.view(1, -1, 1, 1, 1)) * self.inv_std.view(1, -1, 1, 1, 1))[0]

    def decode(self, z):
        """z: normalised latent [48, T, h, w] -> video [3, 4(T-1)+1, 16h, 16w] in [-1, 1]."""
        z = z[None].float() / self.inv_std.view(1, -1, 1, 1, 1) + self.mean.view(1, -1, 1, 1, 1)
        x = self.conv2(z)
        cache = FrameCache()
        out = torch.cat([self.decoder(x[:, :, i:i + 1], cache, i == 0)
                         for i in range(x.shape[2])], dim=2)
        return unpatchify(out).clamp(-1, 1)[0]


def random_vae22(cfg, seed):
    torch.manual_seed(seed)
    return randomize_norms_and_biases(WanVAE22(cfg))
