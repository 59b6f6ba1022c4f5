"""A decoder-only next-item recommender in the LLaMA style, sized for pruning by PruneRec's stages.

Blocks are pre-norm: ``x + Attn(RMSNorm(x))`` then ``x + SwiGLU(RMSNorm(x))``; attention is causal
multi-head with rotary position embeddings (RoPE, rotate-half form) on q and k; the output head is the
item-embedding table itself (tied), so logits are ``RMSNorm(h) @ E[1:]^T`` over items 1..num_items.

The config carries per-layer head counts and MLP widths, so a pruned model is the same class with a
smaller config (`lightfmp.sequential.prunerec.surgery`). Optional binary masks (``head_mask`` per
attention, ``channel_mask`` per MLP, ``dim_mask`` and ``layer_mask`` on the model) give the masked
model that a physical cut must equal; they are None (not applied) in normal use. With a ``dim_mask``
every RMSNorm averages over the kept dims only, which is what the cut model computes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class TransformerConfig:
    """Sizes of the recommender. ``heads``/``ff`` give per-layer head counts and MLP widths (None:
    ``n_heads``/``d_ff`` in every one of ``n_layers`` layers); a pruned model sets them."""

    num_items: int
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 8
    head_dim: int = 16
    d_ff: int = 512
    max_len: int = 50
    dropout: float = 0.2
    rope_base: float = 10_000.0
    eps: float = 1e-6
    heads: tuple[int, ...] | None = None
    ff: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        for name, default in (("heads", self.n_heads), ("ff", self.d_ff)):
            v = getattr(self, name)
            object.__setattr__(self, name, (default,) * self.n_layers if v is None else tuple(int(x) for x in v))
            if len(getattr(self, name)) != self.n_layers:
                raise ValueError(f"{name} must have one entry per layer ({self.n_layers}), got {v}")
        if self.head_dim % 2:
            raise ValueError(f"head_dim must be even for RoPE, got {self.head_dim}")

    def with_layers(self, heads: tuple[int, ...], ff: tuple[int, ...], d_model: int | None = None) -> "TransformerConfig":
        return replace(self, n_layers=len(heads), heads=tuple(heads), ff=tuple(ff),
                       d_model=self.d_model if d_model is None else d_model)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: Tensor, dim_mask: Tensor | None = None) -> Tensor:
        if dim_mask is None:
            ms = x.pow(2).mean(-1, keepdim=True)
        else:  # x is zero on the masked dims: average over the kept ones, as the cut model does
            ms = x.pow(2).sum(-1, keepdim=True) / dim_mask.sum()
        return x * torch.rsqrt(ms + self.eps) * self.weight


def rope_tables(length: int, head_dim: int, base: float, device: torch.device) -> tuple[Tensor, Tensor]:
    """cos, sin [length, head_dim] of the rotate-half RoPE."""
    inv = 1.0 / base ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim)
    ang = torch.outer(torch.arange(length, device=device, dtype=torch.float32), inv)
    ang = torch.cat([ang, ang], dim=-1)
    return ang.cos(), ang.sin()


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rotated * sin


class Attention(nn.Module):
    """Causal multi-head attention with RoPE; ``n_heads`` may be 0 (the block adds nothing)."""

    def __init__(self, d_model: int, n_heads: int, head_dim: int, dropout: float) -> None:
        super().__init__()
        self.n_heads, self.head_dim, self.dropout = n_heads, head_dim, dropout
        inner = n_heads * head_dim
        self.q = nn.Linear(d_model, inner, bias=False)
        self.k = nn.Linear(d_model, inner, bias=False)
        self.v = nn.Linear(d_model, inner, bias=False)
        self.o = nn.Linear(inner, d_model, bias=False)
        self.head_mask: Tensor | None = None

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        B, T, _ = x.shape
        if self.n_heads == 0:
            return x.new_zeros(B, T, self.o.out_features)
        shape = (B, T, self.n_heads, self.head_dim)
        q = apply_rope(self.q(x).view(shape).transpose(1, 2), cos, sin)
        k = apply_rope(self.k(x).view(shape).transpose(1, 2), cos, sin)
        v = self.v(x).view(shape).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                           dropout_p=self.dropout if self.training else 0.0)  # [B, H, T, hd]
        if self.head_mask is not None:
            y = y * self.head_mask.view(1, -1, 1, 1)
        return self.o(y.transpose(1, 2).reshape(B, T, self.n_heads * self.head_dim))


class SwiGLU(nn.Module):
    """``down(silu(gate(x)) * up(x))``; ``width`` may be 0."""

    def __init__(self, d_model: int, width: int) -> None:
        super().__init__()
        self.gate = nn.Linear(d_model, width, bias=False)
        self.up = nn.Linear(d_model, width, bias=False)
        self.down = nn.Linear(width, d_model, bias=False)
        self.channel_mask: Tensor | None = None

    def forward(self, x: Tensor) -> Tensor:
        if self.up.out_features == 0:
            return torch.zeros_like(x)
        a = F.silu(self.gate(x)) * self.up(x)
        if self.channel_mask is not None:
            a = a * self.channel_mask
        return self.down(a)


class Block(nn.Module):
    def __init__(self, cfg: TransformerConfig, n_heads: int, width: int) -> None:
        super().__init__()
        self.attn_norm = RMSNorm(cfg.d_model, cfg.eps)
        self.attn = Attention(cfg.d_model, n_heads, cfg.head_dim, cfg.dropout)
        self.mlp_norm = RMSNorm(cfg.d_model, cfg.eps)
        self.mlp = SwiGLU(cfg.d_model, width)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, dim_mask: Tensor | None = None) -> Tensor:
        a = self.drop(self.attn(self.attn_norm(x, dim_mask), cos, sin))
        x = x + (a if dim_mask is None else a * dim_mask)
        m = self.drop(self.mlp(self.mlp_norm(x, dim_mask)))
        return x + (m if dim_mask is None else m * dim_mask)


class NextItemTransformer(nn.Module):
    """The recommender: ``hidden(seqs)`` [B, T, d] after the final norm, ``score_next(seqs)`` [B, num_items]
    logits at each row's last real position (column j is item j + 1)."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.item_emb = nn.Embedding(cfg.num_items + 1, cfg.d_model, padding_idx=0)
        self.emb_drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg, h, f) for h, f in zip(cfg.heads, cfg.ff))
        self.norm = RMSNorm(cfg.d_model, cfg.eps)
        self.dim_mask: Tensor | None = None
        self.layer_mask: Tensor | None = None
        self._init_weights()

    def _init_weights(self) -> None:
        # GPT-2 style: N(0, 0.02), residual outputs scaled by 1/sqrt(2 L)
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * max(self.cfg.n_layers, 1)) if name.endswith(("o.weight", "down.weight")) else 0.02
                nn.init.normal_(p, 0.0, std)
        with torch.no_grad():
            self.item_emb.weight[0].zero_()

    def hidden(self, seqs: Tensor) -> Tensor:
        T = seqs.shape[1]
        cos, sin = rope_tables(T, self.cfg.head_dim, self.cfg.rope_base, seqs.device)
        x = self.emb_drop(self.item_emb(seqs))
        dm = self.dim_mask
        if dm is not None:
            x = x * dm
        for i, block in enumerate(self.blocks):
            if self.layer_mask is not None and not bool(self.layer_mask[i]):
                continue
            x = block(x, cos, sin, dm)
        return self.norm(x, dm)

    def item_logits(self, h: Tensor) -> Tensor:
        """Logits over items 1..num_items for hidden states [..., d] (the tied head)."""
        return F.linear(h, self.item_emb.weight[1:])

    def last_hidden(self, seqs: Tensor) -> Tensor:
        """[B, d]: the final hidden state at each row's last real item (right-padded rows)."""
        h = self.hidden(seqs)
        last = (seqs != 0).sum(1).clamp(min=1) - 1
        return h[torch.arange(seqs.shape[0], device=seqs.device), last]

    def score_next(self, seqs: Tensor) -> Tensor:
        return self.item_logits(self.last_hidden(seqs))

    forward = score_next


def non_embedding_params(model: NextItemTransformer) -> int:
    """Parameters outside the (tied) item-embedding table: what PruneRec's "non-embedding" counts."""
    return sum(p.numel() for n, p in model.named_parameters() if not n.startswith("item_emb."))
