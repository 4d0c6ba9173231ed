"""PyTorch reference of the Wan2.1 causal video VAE, written for Kinema's parity tests.

Module paths equal the official `Wan2.1_VAE.pth` keys. Encoding and decoding run chunk by chunk
with a per-conv frame cache, exactly as the official code does (wan-spec section 5.5): frame 0
alone, then 4 frames per chunk when encoding; one latent frame per chunk when decoding. The cache
lives in a `FrameCache` object passed down the modules. Everything runs in float32.
"""
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

LATENT_MEAN = [-0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508,
               0.4134, -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921]
LATENT_STD = [2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743,
              3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.9160]


@dataclass
class VAEConfig:
    base_dim: int = 96
    z_dim: int = 16
    dim_mult: list = field(default_factory=lambda: [1, 2, 4, 4])
    num_res_blocks: int = 2
    temporal_downsample: list = field(default_factory=lambda: [False, True, True])


WAN21_VAE = VAEConfig()


class FrameCache:
    """The temporal state of one encode or decode: per causal conv, the input frames it will
    need as history for the next chunk. Slots are keyed by the module object."""

    def __init__(self):
        self.slots = {}


class CausalConv3d(nn.Conv3d):
    """Conv3d whose temporal padding is 2*pt zero frames in front (none behind); cached frames
    from the previous chunk replace that many of the zeros."""

    def __init__(self, cin, cout, kernel, stride=1, padding=0):
        super().__init__(cin, cout, kernel, stride=stride, padding=0)
        pad = padding if isinstance(padding, tuple) else (padding,) * 3
        self.time_pad = 2 * pad[0]
        self.space_pad = (pad[2], pad[2], pad[1], pad[1])

    def forward(self, x, history=None):
        front = self.time_pad
        if history is not None and front > 0:
            x = torch.cat([history, x], dim=2)
            front -= history.shape[2]
        x = F.pad(x, self.space_pad + (front, 0))
        return super().forward(x)

    def cached(self, x, cache):
        """Runs on one chunk and records the last two input frames as the next chunk's history."""
        if cache is None:
            return self(x)
        history = cache.slots.get(self)
        keep = x[:, :, -2:]
        if keep.shape[2] < 2 and history is not None:
            keep = torch.cat([history[:, :, -1:], keep], dim=2)
        out = self(x, history)
        cache.slots[self] = keep
        return out


class RMSNorm(nn.Module):
    """L2-normalise over channels (clamped at 1e-12), times sqrt(C) and gamma."""

    def __init__(self, dim, images):
        super().__init__()
        shape = (dim, 1, 1) if images else (dim, 1, 1, 1)
        self.scale = dim**0.5
        self.gamma = nn.Parameter(torch.ones(shape))

    def forward(self, x):
        return F.normalize(x, dim=1) * self.scale * self.gamma


class ResidualBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.residual = nn.Sequential(RMSNorm(cin, False), nn.SiLU(),
                                      CausalConv3d(cin, cout, 3, padding=1),
                                      RMSNorm(cout, False), nn.SiLU(), nn.Dropout(0.0),
                                      CausalConv3d(cout, cout, 3, padding=1))
        self.shortcut = CausalConv3d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, cache):
        h = self.shortcut(x)
        for layer in self.residual:
            x = layer.cached(x, cache) if isinstance(layer, CausalConv3d) else layer(x)
        return x + h


class AttentionBlock(nn.Module):
    """Single-head self-attention over the H*W positions of each frame."""

    def __init__(self, dim):
        super().__init__()
        self.norm = RMSNorm(dim, True)
        self.to_qkv = nn.Conv2d(dim, dim * 3, 1)
        self.proj = nn.Conv2d(dim, dim, 1)

    def forward(self, x, cache):
        b, c, t, h, w = x.shape
        identity = x
        x = x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)
        qkv = self.to_qkv(self.norm(x)).reshape(b * t, 3 * c, h * w).transpose(1, 2)
        q, k, v = qkv.chunk(3, dim=-1)
        a = torch.softmax(q @ k.transpose(1, 2) / c**0.5, dim=-1) @ v  # [bt, hw, c]
        x = self.proj(a.transpose(1, 2).reshape(b * t, c, h, w))
        return x.reshape(b, t, c, h, w).permute(0, 2, 1, 3, 4) + identity


class Resample(nn.Module):
    """up_dim: the upsample conv's output width (Wan2.1 halves it; Wan2.2 keeps `dim`)."""

    def __init__(self, dim, mode, up_dim=None):
        super().__init__()
        self.mode = mode
        if mode in ("upsample2d", "upsample3d"):
            up_dim = dim // 2 if up_dim is None else up_dim
            self.resample = nn.Sequential(nn.Upsample(scale_factor=(2.0, 2.0), mode="nearest"),
                                          nn.Conv2d(dim, up_dim, 3, padding=1))
        else:
            self.resample = nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)),
                                          nn.Conv2d(dim, dim, 3, stride=2))
        if mode == "upsample3d":
            self.time_conv = CausalConv3d(dim, dim * 2, (3, 1, 1), padding=(1, 0, 0))
        elif mode == "downsample3d":
            self.time_conv = CausalConv3d(dim, dim, (3, 1, 1), stride=(2, 1, 1))

    def per_frame(self, x):
        b, c, t, h, w = x.shape
        y = self.resample(x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w))
        return y.reshape(b, t, *y.shape[1:]).permute(0, 2, 1, 3, 4)

    def forward(self, x, cache):
        if self.mode == "upsample3d":
            x = self.upsample_time(x, cache)
        x = self.per_frame(x)
        if self.mode == "downsample3d":
            x = self.downsample_time(x, cache)
        return x

    def upsample_time(self, x, cache):
        """The first chunk passes untouched; later chunks run time_conv with a history that starts
        from zeros (frame 0 never enters it). Each frame becomes two, channels [0,C) then [C,2C)."""
        state = cache.slots.get(self, "first")
        if isinstance(state, str) and state == "first":
            cache.slots[self] = "zeros"
            return x
        history = None if isinstance(state, str) else state
        keep = x[:, :, -2:]
        if keep.shape[2] < 2:
            prev = torch.zeros_like(keep) if history is None else history[:, :, -1:]
            keep = torch.cat([prev, keep], dim=2)
        y = self.time_conv(x, history)
        cache.slots[self] = keep
        b, c2, t, h, w = y.shape
        y = y.reshape(b, 2, c2 // 2, t, h, w)
        return torch.stack([y[:, 0], y[:, 1]], dim=3).reshape(b, c2 // 2, 2 * t, h, w)

    def downsample_time(self, x, cache):
        """The first chunk's frame passes untouched and is cached; later chunks run the stride-2
        time_conv on [last cached frame, chunk]."""
        history = cache.slots.get(self)
        cache.slots[self] = x[:, :, -1:]
        if history is None:
            return x
        return self.time_conv(torch.cat([history[:, :, -1:], x], dim=2))


def _run(modules, x, cache):
    for m in modules:
        x = m(x, cache) if isinstance(m, (ResidualBlock, AttentionBlock, Resample)) else \
            (m.cached(x, cache) if isinstance(m, CausalConv3d) else m(x))
    return x


class Encoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        dims = [cfg.base_dim * u for u in [1] + cfg.dim_mult]
        self.conv1 = CausalConv3d(3, dims[0], 3, padding=1)
        blocks = []
        for i, (cin, cout) in enumerate(zip(dims[:-1], dims[1:])):
            for _ in range(cfg.num_res_blocks):
                blocks.append(ResidualBlock(cin, cout))
                cin = cout
            if i != len(cfg.dim_mult) - 1:
                mode = "downsample3d" if cfg.temporal_downsample[i] else "downsample2d"
                blocks.append(Resample(cout, mode))
        self.downsamples = nn.ModuleList(blocks)
        top = dims[-1]
        self.middle = nn.ModuleList([ResidualBlock(top, top), AttentionBlock(top),
                                     ResidualBlock(top, top)])
        self.head = nn.Sequential(RMSNorm(top, False), nn.SiLU(),
                                  CausalConv3d(top, cfg.z_dim * 2, 3, padding=1))

    def forward(self, x, cache):
        x = self.conv1.cached(x, cache)
        x = _run(self.downsamples, x, cache)
        x = _run(self.middle, x, cache)
        return _run(self.head, x, cache)


class Decoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        mult = cfg.dim_mult
        dims = [cfg.base_dim * u for u in [mult[-1]] + mult[::-1]]
        temporal_upsample = cfg.temporal_downsample[::-1]
        self.conv1 = CausalConv3d(cfg.z_dim, dims[0], 3, padding=1)
        self.middle = nn.ModuleList([ResidualBlock(dims[0], dims[0]), AttentionBlock(dims[0]),
                                     ResidualBlock(dims[0], dims[0])])
        blocks = []
        for i, (cin, cout) in enumerate(zip(dims[:-1], dims[1:])):
            if i > 0:
                cin //= 2  # the previous upsample's conv halved the channels
            for _ in range(cfg.num_res_blocks + 1):
                blocks.append(ResidualBlock(cin, cout))
                cin = cout
            if i != len(mult) - 1:
                mode = "upsample3d" if temporal_upsample[i] else "upsample2d"
                blocks.append(Resample(cout, mode))
        self.upsamples = nn.ModuleList(blocks)
        self.head = nn.Sequential(RMSNorm(dims[-1], False), nn.SiLU(),
                                  CausalConv3d(dims[-1], 3, 3, padding=1))

    def forward(self, x, cache):
        x = self.conv1.cached(x, cache)
        x = _run(self.middle, x, cache)
        x = _run(self.upsamples, x, cache)
        return _run(self.head, x, cache)


class WanVAE(nn.Module):
    def __init__(self, cfg: VAEConfig = WAN21_VAE):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.conv1 = CausalConv3d(cfg.z_dim * 2, cfg.z_dim * 2, 1)
        self.conv2 = CausalConv3d(cfg.z_dim, cfg.z_dim, 1)
        self.decoder = Decoder(cfg)
        self.register_buffer("mean", torch.tensor(LATENT_MEAN[:cfg.z_dim]), persistent=False)
        self.register_buffer("inv_std", 1.0 / torch.tensor(LATENT_STD[:cfg.z_dim]),
                             persistent=False)

    def encode(self, video):
        """video: [3, F, H, W] in [-1, 1], F = 4n+1 -> normalised latent mean [z, n+1, H/8, W/8]."""
        x = video[None].float()
        cache = FrameCache()
        frames = x.shape[2]
        chunks = [self.encoder(x[:, :, :1], cache)]
        for start in range(1, frames, 4):
            chunks.append(self.encoder(x[:, :, start:start + 4], cache))
        mu = self.conv1(torch.cat(chunks, dim=2)).chunk(2, dim=1)[0]
        return ((mu - self.mean.view(1, -1, 1, 1, 1)) * self.inv_std.view(1, -1, 1, 1, 1))[0]

    def decode(self, z, clamp=True):
        """z: normalised latent [z, T, h, w] -> video [3, 4(T-1)+1, 8h, 8w] clamped to [-1, 1]
        (clamp=False for training: the clamp would zero the gradient of saturated pixels)."""
        z = z[None].float() / self.inv_std.view(1, -1, 1, 1, 1) + self.mean.view(1, -1, 1, 1, 1)
        x = self.conv2(z)
        cache = FrameCache()
        out = torch.cat([self.decoder(x[:, :, i:i + 1], cache) for i in range(x.shape[2])], dim=2)
        return (out.clamp(-1, 1) if clamp else out)[0]


def to_uint8_frames(video):
    """[3, F, H, W] in [-1, 1] -> [F, H, W, 3] uint8, truncating as the reference does."""
    x = (video.clamp(-1, 1) + 1) / 2 * 255
    return x.permute(1, 2, 3, 0).to(torch.uint8)


def randomize_norms_and_biases(model):
    """Fresh random norm scales and biases (the constructors make ones and zeros), so a parity
    test exercises them; the convs keep their random init."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("gamma"):
                param.uniform_(0.5, 1.5)
            elif name.endswith("bias"):
                param.uniform_(-0.05, 0.05)
    return model.eval()


def random_vae(cfg, seed):
    torch.manual_seed(seed)
    return randomize_norms_and_biases(WanVAE(cfg))
