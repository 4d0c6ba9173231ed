"""PyTorch reference of the Wan2.1 text-to-video DiT, written for Kinema's parity tests.

Module paths equal the official checkpoint keys (`blocks.0.self_attn.q.weight`, ...), so a state
dict in the official layout loads with `load_state_dict`. Two precision modes:

* "f32":  every operation in float32 (the oracle for Kinema's f32 path).
* "bf16": the official reference's autocast precision map (wan-spec section 2.10) made explicit:
          bf16 rounding points are written out as casts instead of relying on CUDA autocast, so the
          same numbers come out on CPU.

Shapes follow the spec: latent x [16, T, H', W'] f32, integer timestep t, context [Lt, 4096].
"""
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class DiTConfig:
    dim: int = 1536
    ffn_dim: int = 8960
    num_heads: int = 12
    num_layers: int = 30
    in_dim: int = 16
    out_dim: int = 16
    text_dim: int = 4096
    text_len: int = 512
    freq_dim: int = 256
    eps: float = 1e-6
    patch_size: tuple = (1, 2, 2)

    @property
    def head_dim(self):
        return self.dim // self.num_heads


# Official -> Diffusers DiT tensor names, applied in order (scripts/convert_wan_to_diffusers.py;
# norm2 and norm3 swap through a placeholder).
DIFFUSERS_RENAMES = [("time_embedding.0", "condition_embedder.time_embedder.linear_1"),
                     ("time_embedding.2", "condition_embedder.time_embedder.linear_2"),
                     ("text_embedding.0", "condition_embedder.text_embedder.linear_1"),
                     ("text_embedding.2", "condition_embedder.text_embedder.linear_2"),
                     ("time_projection.1", "condition_embedder.time_proj"),
                     ("head.modulation", "scale_shift_table"), ("head.head", "proj_out"),
                     ("modulation", "scale_shift_table"), ("ffn.0", "ffn.net.0.proj"),
                     ("ffn.2", "ffn.net.2"),
                     ("norm2", "@"), ("norm3", "norm2"), ("@", "norm3"),
                     ("self_attn.q.", "attn1.to_q."), ("self_attn.k.", "attn1.to_k."),
                     ("self_attn.v.", "attn1.to_v."), ("self_attn.o.", "attn1.to_out.0."),
                     ("self_attn.norm_", "attn1.norm_"), ("cross_attn.q.", "attn2.to_q."),
                     ("cross_attn.k.", "attn2.to_k."), ("cross_attn.v.", "attn2.to_v."),
                     ("cross_attn.o.", "attn2.to_out.0."), ("cross_attn.norm_", "attn2.norm_")]


WAN21_T2V_1_3B = DiTConfig()
WAN21_T2V_14B = DiTConfig(dim=5120, ffn_dim=13824, num_heads=40, num_layers=40)


class Precision:
    """Rounding helpers: identity in f32 mode, round-to-bf16 (kept as f32 storage) in bf16 mode."""

    def __init__(self, mode):
        assert mode in ("f32", "bf16"), mode
        self.mode = mode

    def round(self, x):
        return x.to(torch.bfloat16).float() if self.mode == "bf16" else x

    def linear(self, x, layer):
        """An autocast bf16 Linear: inputs and weights rounded to bf16, f32 accumulation, one
        rounding of the biased result."""
        if self.mode == "f32":
            return F.linear(x, layer.weight, layer.bias)
        b = None if layer.bias is None else self.round(layer.bias)
        return self.round(F.linear(self.round(x), self.round(layer.weight), b))


def sinusoidal_embedding(t, freq_dim):
    """[cos | sin] of t * 10000^(-k/half), computed in float64 from the integer timestep."""
    half = freq_dim // 2
    t = torch.as_tensor(t, dtype=torch.float64).reshape(-1)
    omega = torch.pow(10000.0, -torch.arange(half, dtype=torch.float64) / half)
    s = t[:, None] * omega[None, :]
    return torch.cat([torch.cos(s), torch.sin(s)], dim=1).float()


def rope_frequencies(head_dim, max_pos=1024):
    """Complex128 tables [max_pos, pairs] for the temporal, height and width bands."""
    d_hw = 2 * (head_dim // 6)
    d_t = head_dim - 2 * d_hw

    def band(d):
        theta = 1.0 / torch.pow(10000.0, torch.arange(0, d, 2, dtype=torch.float64) / d)
        angles = torch.outer(torch.arange(max_pos, dtype=torch.float64), theta)
        return torch.polar(torch.ones_like(angles), angles)

    return band(d_t), band(d_hw), band(d_hw)


def rope_apply(x, grid, tables):
    """x: [L, N, d] f32 -> rotated in float64, returned f32. Rows beyond T*H*W pass through."""
    t_len, h_len, w_len = grid
    seq, heads, d = x.shape
    ft, fh, fw = tables
    n_t, n_h = ft.shape[1], fh.shape[1]
    real = t_len * h_len * w_len
    xc = torch.view_as_complex(x[:real].double().reshape(real, heads, d // 2, 2))
    freqs = torch.cat([
        ft[:t_len].view(t_len, 1, 1, n_t).expand(t_len, h_len, w_len, n_t),
        fh[:h_len].view(1, h_len, 1, n_h).expand(t_len, h_len, w_len, n_h),
        fw[:w_len].view(1, 1, w_len, -1).expand(t_len, h_len, w_len, fw.shape[1]),
    ], dim=-1).reshape(real, 1, d // 2)
    rotated = torch.view_as_real(xc * freqs).reshape(real, heads, d).float()
    return torch.cat([rotated, x[real:]], dim=0)


class RMSNormAcrossHeads(nn.Module):
    """WanRMSNorm over the whole dim: fp32 math on the (bf16) input, rounded, times fp32 weight."""

    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, z, p):
        z = z.float()
        r = z * torch.rsqrt(z.pow(2).mean(dim=-1, keepdim=True) + self.eps)
        return p.round(r) * self.weight


def attention(q, k, v, heads, p):
    """q: [Lq, N*d], k/v: [Lk, N*d] -> [Lq, N*d]; bf16 inputs in bf16 mode, f32 softmax."""
    lq, lk = q.shape[0], k.shape[0]
    d = q.shape[1] // heads
    q = p.round(q).view(lq, heads, d).transpose(0, 1)
    k = p.round(k).view(lk, heads, d).transpose(0, 1)
    v = p.round(v).view(lk, heads, d).transpose(0, 1)
    s = torch.matmul(q, k.transpose(1, 2)) / math.sqrt(d)
    a = torch.matmul(torch.softmax(s, dim=-1), v)
    return p.round(a.transpose(0, 1).reshape(lq, heads * d))


class SelfAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.heads = cfg.num_heads
        self.q = nn.Linear(cfg.dim, cfg.dim)
        self.k = nn.Linear(cfg.dim, cfg.dim)
        self.v = nn.Linear(cfg.dim, cfg.dim)
        self.o = nn.Linear(cfg.dim, cfg.dim)
        self.norm_q = RMSNormAcrossHeads(cfg.dim, cfg.eps)
        self.norm_k = RMSNormAcrossHeads(cfg.dim, cfg.eps)

    def forward(self, h, grid, tables, p):
        seq = h.shape[0]
        d = h.shape[1] // self.heads
        q = self.norm_q(p.linear(h, self.q), p)
        k = self.norm_k(p.linear(h, self.k), p)
        v = p.linear(h, self.v)
        q = rope_apply(q.view(seq, self.heads, d), grid, tables).reshape(seq, -1)
        k = rope_apply(k.view(seq, self.heads, d), grid, tables).reshape(seq, -1)
        return p.linear(attention(q, k, v, self.heads, p), self.o)


class CrossAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.heads = cfg.num_heads
        self.q = nn.Linear(cfg.dim, cfg.dim)
        self.k = nn.Linear(cfg.dim, cfg.dim)
        self.v = nn.Linear(cfg.dim, cfg.dim)
        self.o = nn.Linear(cfg.dim, cfg.dim)
        self.norm_q = RMSNormAcrossHeads(cfg.dim, cfg.eps)
        self.norm_k = RMSNormAcrossHeads(cfg.dim, cfg.eps)

    def forward(self, h, context, p):
        q = self.norm_q(p.linear(h, self.q), p)
        k = self.norm_k(p.linear(context, self.k), p)
        v = p.linear(context, self.v)
        return p.linear(attention(q, k, v, self.heads, p), self.o)


def layer_norm(x, eps, weight=None, bias=None):
    return F.layer_norm(x.float(), (x.shape[-1],), weight, bias, eps)


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.eps = cfg.eps
        self.modulation = nn.Parameter(torch.randn(1, 6, cfg.dim) / cfg.dim**0.5)
        self.self_attn = SelfAttention(cfg)
        self.norm3 = nn.LayerNorm(cfg.dim, eps=cfg.eps, elementwise_affine=True)
        self.cross_attn = CrossAttention(cfg)
        self.ffn = nn.Sequential(nn.Linear(cfg.dim, cfg.ffn_dim), nn.GELU(approximate="tanh"),
                                 nn.Linear(cfg.ffn_dim, cfg.dim))

    def forward(self, x, x_is_bf16, e0, context, grid, tables, p):
        """x: [L, D] f32 storage (bf16 values in block 0 of bf16 mode); e0: [6, D] f32."""
        m = (self.modulation[0] + e0).float()
        shift_sa, scale_sa, gate_sa, shift_ffn, scale_ffn, gate_ffn = m.unbind(0)
        ln1 = layer_norm(x, self.eps)
        if x_is_bf16:
            ln1 = p.round(ln1)  # the LN output takes the dtype of x
        y = self.self_attn(ln1 * (1 + scale_sa) + shift_sa, grid, tables, p)
        x = x + y * gate_sa
        x = x + self.cross_attn(layer_norm(x, self.eps, self.norm3.weight, self.norm3.bias),
                                context, p)
        h = layer_norm(x, self.eps) * (1 + scale_ffn) + shift_ffn
        y = p.linear(p.round(F.gelu(p.linear(h, self.ffn[0]), approximate="tanh")), self.ffn[2])
        return x + y * gate_ffn


class Head(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.eps = cfg.eps
        out = cfg.out_dim * math.prod(cfg.patch_size)
        self.head = nn.Linear(cfg.dim, out)
        self.modulation = nn.Parameter(torch.randn(1, 2, cfg.dim) / cfg.dim**0.5)

    def forward(self, x, e):
        shift, scale = (self.modulation[0] + e).float().unbind(0)
        return F.linear(layer_norm(x, self.eps) * (1 + scale) + shift, self.head.weight,
                        self.head.bias)


class WanDiT(nn.Module):
    def __init__(self, cfg: DiTConfig):
        super().__init__()
        self.cfg = cfg
        self.patch_embedding = nn.Conv3d(cfg.in_dim, cfg.dim, cfg.patch_size, cfg.patch_size)
        self.text_embedding = nn.Sequential(nn.Linear(cfg.text_dim, cfg.dim),
                                            nn.GELU(approximate="tanh"),
                                            nn.Linear(cfg.dim, cfg.dim))
        self.time_embedding = nn.Sequential(nn.Linear(cfg.freq_dim, cfg.dim), nn.SiLU(),
                                            nn.Linear(cfg.dim, cfg.dim))
        self.time_projection = nn.Sequential(nn.SiLU(), nn.Linear(cfg.dim, cfg.dim * 6))
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.num_layers)])
        self.head = Head(cfg)

    def embed_text(self, context, p):
        """context: [Lt, text_dim] (real tokens) -> [text_len, D]; zero rows pad to text_len."""
        ctx = torch.zeros(self.cfg.text_len, self.cfg.text_dim)
        ctx[:context.shape[0]] = p.round(context.float())
        h = p.round(F.gelu(p.linear(ctx, self.text_embedding[0]), approximate="tanh"))
        return p.linear(h, self.text_embedding[2])

    def embed_time(self, t):
        """t: integer timestep -> (e [D], e0 [6, D]) in f32."""
        e = self.time_embedding(sinusoidal_embedding(t, self.cfg.freq_dim))
        e0 = self.time_projection(e).view(6, self.cfg.dim)
        return e[0], e0

    def forward(self, x, t, context, precision="bf16", intermediates=None):
        """x: [16, T, H', W'] f32, t: int, context: [Lt, text_dim] -> velocity [16, T, H', W']."""
        p = Precision(precision)
        cfg = self.cfg
        c, t_len, h, w = x.shape
        pt, ph, pw = cfg.patch_size
        grid = (t_len // pt, h // ph, w // pw)
        weight = self.patch_embedding.weight
        bias = self.patch_embedding.bias
        tokens = p.round(F.conv3d(p.round(x[None]), p.round(weight), p.round(bias),
                                  stride=cfg.patch_size))
        tokens = tokens.flatten(2)[0].transpose(0, 1)  # [L, D]
        e, e0 = self.embed_time(t)
        ctx = self.embed_text(context, p)
        tables = rope_frequencies(cfg.head_dim)
        if intermediates is not None:
            intermediates.update(tokens=tokens, e=e, e0=e0, context=ctx)
        x_tok = tokens
        for i, block in enumerate(self.blocks):
            x_tok = block(x_tok, precision == "bf16" and i == 0, e0, ctx, grid, tables, p)
            if intermediates is not None:
                intermediates[f"block{i}"] = x_tok
        out = self.head(x_tok, e)  # [L, out_dim * 4]
        gt, gh, gw = grid
        out = out.view(gt, gh, gw, pt, ph, pw, cfg.out_dim)
        return out.permute(6, 0, 3, 1, 4, 2, 5).reshape(cfg.out_dim, gt * pt, gh * ph, gw * pw)


def random_dit(cfg, seed):
    """A DiT with fresh random weights scaled so activations stay O(1) through the blocks."""
    torch.manual_seed(seed)
    model = WanDiT(cfg)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("norm_q.weight") or name.endswith("norm_k.weight"):
                param.uniform_(0.5, 1.5)
            elif name.endswith("norm3.weight"):
                param.uniform_(0.5, 1.5)
            elif name.endswith(".bias"):
                param.uniform_(-0.1, 0.1)
    return model.eval()
