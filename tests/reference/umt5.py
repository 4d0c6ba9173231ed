"""PyTorch reference of the umT5 encoder as Wan2.1 runs it (bf16 weights and activations, no
autocast), written for Kinema's parity tests. Module paths equal the keys of Wan's
`models_t5_umt5-xxl-enc-bf16.pth`. See wan-spec section 4.

Every bf16 rounding point of the reference is explicit: tensors are kept in float32 storage and
rounded with `bf()` where the reference produces a bf16 tensor.
"""
import math
from dataclasses import dataclass

import torch
import torch.nn as nn


@dataclass
class T5Config:
    vocab: int = 256384
    dim: int = 4096
    ffn_dim: int = 10240
    num_heads: int = 64
    head_dim: int = 64
    num_layers: int = 24
    num_buckets: int = 32
    max_distance: int = 128
    eps: float = 1e-6


UMT5_XXL = T5Config()


# False runs the same graph in f32 with no rounding at all (Kinema's --precision f32 umT5).
ROUND = True


def bf(x):
    return x.to(torch.bfloat16).float() if ROUND else x


def set_rounding(enabled):
    """bf16 rounding points on (the official bf16 encoder) or off (the f32 encoder)."""
    global ROUND
    ROUND = enabled


def relative_bucket(rel, num_buckets, max_distance):
    """Bidirectional T5 bucket of key-minus-query offsets (fp32 log, truncation)."""
    half = num_buckets // 2
    base = (rel > 0).long() * half
    a = rel.abs()
    max_exact = half // 2
    large = max_exact + (torch.log(a.float().clamp(min=1) / max_exact) /
                         math.log(max_distance / max_exact) * (half - max_exact)).long()
    large = torch.clamp(large, max=half - 1)
    return base + torch.where(a < max_exact, a, large)


def t5_gelu(x):
    """wan/modules/t5.py's hand-written tanh GELU. With rounding it is evaluated exactly as the
    official code runs on the CPU: on bf16 tensors, where every operation rounds to bf16, the
    Python constants 0.044715 and sqrt(2/pi) are rounded to bf16 first, and torch.pow(x, 3) is
    (x * x) * x with a rounding after each product."""
    if ROUND:
        x = x.bfloat16()
    y = 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))
    return y.float()


class T5Norm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        r = x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + self.eps)
        return bf(bf(r) * bf(self.weight))


class T5Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        inner = cfg.num_heads * cfg.head_dim
        self.heads = cfg.num_heads
        self.q = nn.Linear(cfg.dim, inner, bias=False)
        self.k = nn.Linear(cfg.dim, inner, bias=False)
        self.v = nn.Linear(cfg.dim, inner, bias=False)
        self.o = nn.Linear(inner, cfg.dim, bias=False)

    def forward(self, x, bias):
        """x: [L, dim] bf16 values, bias: [heads, L, L] bf16 values (mask folded in)."""
        seq = x.shape[0]
        lin = lambda layer, h: bf(h @ bf(layer.weight).T)
        q = lin(self.q, x).view(seq, self.heads, -1).transpose(0, 1)
        k = lin(self.k, x).view(seq, self.heads, -1).transpose(0, 1)
        v = lin(self.v, x).view(seq, self.heads, -1).transpose(0, 1)
        s = bf(bf(q @ k.transpose(1, 2)) + bias)  # no 1/sqrt(d) scaling in T5
        a = bf(torch.softmax(s, dim=-1))
        out = bf(a @ v).transpose(0, 1).reshape(seq, -1)
        return lin(self.o, out)


class RelativeBias(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.embedding = nn.Embedding(cfg.num_buckets, cfg.num_heads)

    def forward(self, seq):
        pos = torch.arange(seq)
        rel = pos[None, :] - pos[:, None]  # key - query
        buckets = relative_bucket(rel, self.cfg.num_buckets, self.cfg.max_distance)
        return bf(self.embedding.weight)[buckets].permute(2, 0, 1)  # [heads, Lq, Lk]


class T5FeedForward(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.gate = nn.Sequential(nn.Linear(cfg.dim, cfg.ffn_dim, bias=False))
        self.fc1 = nn.Linear(cfg.dim, cfg.ffn_dim, bias=False)
        self.fc2 = nn.Linear(cfg.ffn_dim, cfg.dim, bias=False)

    def forward(self, x):
        g = t5_gelu(bf(x @ bf(self.gate[0].weight).T))
        h = bf(bf(x @ bf(self.fc1.weight).T) * g)
        return bf(h @ bf(self.fc2.weight).T)


class T5Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.norm1 = T5Norm(cfg.dim, cfg.eps)
        self.attn = T5Attention(cfg)
        self.norm2 = T5Norm(cfg.dim, cfg.eps)
        self.ffn = T5FeedForward(cfg)
        self.pos_embedding = RelativeBias(cfg)

    def forward(self, x, mask_bias):
        bias = bf(self.pos_embedding(x.shape[0]) + mask_bias)
        x = bf(x + self.attn(self.norm1(x), bias))
        return bf(x + self.ffn(self.norm2(x)))


class UMT5Encoder(nn.Module):
    def __init__(self, cfg: T5Config):
        super().__init__()
        self.cfg = cfg
        self.token_embedding = nn.Embedding(cfg.vocab, cfg.dim)
        self.blocks = nn.ModuleList([T5Block(cfg) for _ in range(cfg.num_layers)])
        self.norm = T5Norm(cfg.dim, cfg.eps)

    def forward(self, ids, real_len=None):
        """ids: [L] int64 (padded or not) -> [real_len, dim]: the rows Wan keeps."""
        seq = ids.shape[0]
        real_len = seq if real_len is None else real_len
        key_mask = torch.arange(seq) >= real_len
        mask_bias = torch.zeros(seq, seq)
        mask_bias[:, key_mask] = float(torch.finfo(torch.bfloat16).min)
        x = bf(self.token_embedding.weight)[ids]
        for block in self.blocks:
            x = block(x, mask_bias[None])
        return self.norm(x)[:real_len]


def random_t5(cfg, seed):
    torch.manual_seed(seed)
    model = UMT5Encoder(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm1.weight") or name.endswith("norm2.weight") or name == "norm.weight":
                p.uniform_(0.5, 1.5)
            elif p.dim() == 2 and "embedding" not in name:
                p.normal_(0.0, 1.0 / math.sqrt(p.shape[1]))
        # bf16 parameters, as the official checkpoint stores them
        for p in model.parameters():
            p.copy_(bf(p))
    return model.eval()
