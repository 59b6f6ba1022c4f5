"""Helpers shared by the deep selectors: building the backbone, configs, and the frozen value mask.

`ValueMask` is the retraining-time gate of the value-level methods (OptFS's ``ticket=True`` mask,
OptEm's binary feature mask): a fixed 0/1 (times a constant) per table row, looked up with the same
per-field offsets as the embedding, so z is float[B, F] and a pruned value contributes nothing.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from lightfmp.selection.base import SelectorConfig


def model_config(cfg: SelectorConfig) -> Any:
    from lightfmp.models.config import ModelConfig

    return cfg.model_cfg if cfg.model_cfg is not None else ModelConfig()


def train_config(cfg: SelectorConfig) -> Any:
    from lightfmp.train.config import TrainConfig

    return cfg.train_cfg if cfg.train_cfg is not None else TrainConfig()


def build_backbone(name: str, vocab_sizes: Sequence[int], cfg: SelectorConfig, seed: int | None = None) -> nn.Module:
    """A fresh backbone, seeded so that the same seed gives the same initial weights."""
    from lightfmp.models import build_model
    from lightfmp.train.trainer import seed_everything

    seed_everything(int(train_config(cfg).seed if seed is None else seed))
    return build_model(name, list(vocab_sizes), model_config(cfg))


def row_offsets(vocab_sizes: Sequence[int]) -> Tensor:
    return torch.tensor([0] + list(np.cumsum(vocab_sizes)[:-1]), dtype=torch.long)


def kept_rows(vocab_sizes: Sequence[int], keep: Sequence[int]) -> np.ndarray:
    """Table rows of the kept fields, in schema order (to slice a per-row vector to a compact model)."""
    offsets = np.concatenate([[0], np.cumsum(vocab_sizes)[:-1]]).astype(np.int64)
    return np.concatenate([np.arange(offsets[f], offsets[f] + vocab_sizes[f]) for f in sorted(keep)])


class ValueMask(nn.Module):
    """A frozen per-value gate: z[b, f] = scale * mask[offset_f + x[b, f]].

    Args:
        vocab_sizes: rows per field of the model it gates.
        mask: 0/1 per table row (length sum(vocab_sizes)).
        scale: constant multiplying kept values (OptFS's 1/sigmoid(0.5); 1 for OptEm).
    """

    def __init__(self, vocab_sizes: Sequence[int], mask: np.ndarray, scale: float = 1.0):
        super().__init__()
        mask = np.asarray(mask, dtype=np.float32).reshape(-1)
        if mask.shape[0] != int(sum(vocab_sizes)):
            raise ValueError(f"mask has {mask.shape[0]} rows, vocab has {sum(vocab_sizes)}")
        self.register_buffer("mask", torch.from_numpy(mask * float(scale)))
        self.register_buffer("offsets", row_offsets(vocab_sizes), persistent=False)

    def forward(self, x: Tensor, e: Tensor) -> Tensor:
        return self.mask[x.long() + self.offsets]
