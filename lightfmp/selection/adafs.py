"""AdaFS (Lin et al., KDD 2022), single-stage: a controller gives per-sample field weights, trained jointly.

Follows ERASE's `models/fs/adafs.py` (../shared/docs/methods.md Sec. 5):
- Controller input: the field embeddings after BatchNorm1d over the embedding dimension, flattened
  (F*D); MLP F*D -> 16 (BatchNorm, ReLU, dropout 0.2) -> F; softmax over fields gives w[b, f], which
  multiplies the field's embedding (and linear term) through the backbone's gate slot.
- Trained jointly with the backbone, one optimiser (ERASE's ``optimizer_method='normal'``), with the
  usual early stopping (`lightfmp.train.fit`); the trained gated model is the final model and keeps
  every field at inference (paper Sec. 2.6). There is no retraining stage.
- Per-sample hard selection (AdaFS paper's hard variant), a choice so that the prune ratio tau means
  something for a single-stage method: with ``hard`` (default True when tau > 0) each sample keeps its
  k = m - round(tau*m) highest weights and the others are set to 0, in training and inference; the
  kept weights are not renormalised. ``hard=False`` gives ERASE's soft AdaFS.
- Field ranking (scores_): the mean soft weight over the validation split (AdaFS has no fixed ranking).
Choice: no plain pretraining epochs (ERASE's optional ``pretrain_epoch`` defaults to none).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from lightfmp.selection.base import FieldSelector, SelectorConfig, n_kept
from lightfmp.selection.deep import build_backbone, train_config


class AdaFSGate(nn.Module):
    """w[b, :] = softmax(MLP(flatten(BN(e[b])))) over fields; optional per-sample top-k."""

    def __init__(self, num_fields: int, dim: int, hidden: int = 16, dropout: float = 0.2, k: int | None = None):
        super().__init__()
        self.bn = nn.BatchNorm1d(dim)
        self.mlp = nn.Sequential(nn.Linear(num_fields * dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
                                 nn.Dropout(dropout), nn.Linear(hidden, num_fields))
        self.k = k

    def weights(self, e: Tensor) -> Tensor:
        b, f, d = e.shape
        h = self.bn(e.reshape(b * f, d)).reshape(b, f * d)
        return torch.softmax(self.mlp(h), dim=-1)

    def forward(self, x: Tensor, e: Tensor) -> Tensor:
        w = self.weights(e)
        if self.k is None or self.k >= w.shape[1]:
            return w
        top = torch.topk(w, self.k, dim=1).indices
        return w * torch.zeros_like(w).scatter_(1, top, 1.0)


class AdaFSSelector(FieldSelector):
    """AdaFS trained jointly with the backbone; ``model_`` is the final (all-field, gated) model."""

    @dataclass(frozen=True)
    class Params:
        """The hyper-parameters (typed; `FieldSelector.__init__` refuses unknown ones)."""

        hard: bool | None = None
        hidden: int = 16
        dropout: float = 0.2

    name = "adafs"
    stage = "single-stage"

    def _fit(self, data: Any, cfg: SelectorConfig) -> np.ndarray:
        from lightfmp.train import fit

        tcfg = train_config(cfg)
        schema = data.schema
        model = build_backbone(cfg.model_name, schema.vocab_sizes, cfg)
        hard = bool(self.params.hard if self.params.hard is not None else cfg.prune_ratio > 0)
        k = n_kept(schema.num_fields, cfg.prune_ratio) if hard else None
        model.gate = AdaFSGate(schema.num_fields, model.embed_dim, self.params.hidden,
                               self.params.dropout, k)
        self.fit_result_ = fit(model, data.split("train"), data.split("valid"), tcfg, progress=False,
                               log_epochs=cfg.log_epochs)
        self.model_ = model
        return mean_gate_weight(model, data.split("valid")[0], tcfg.device, soft=True)


@torch.no_grad()
def mean_gate_weight(model: nn.Module, X: Any, device: str, soft: bool = False, batch: int = 8192) -> np.ndarray:
    """Mean over rows of the model's per-sample gate values (eval mode); ``soft`` reads AdaFS's soft weights."""
    from lightfmp.train.batching import to_tensors

    was = model.training
    model.eval()
    total = None
    xt, _ = to_tensors(X, None, device)
    for i in range(0, xt.shape[0], batch):
        xb = xt[i:i + batch]
        e = model.embedding(xb)
        z = model.gate.weights(e) if soft else model.gate(xb, e)
        z = z.expand(xb.shape[0], -1) if z.dim() == 1 else z
        s = z.sum(0)
        total = s if total is None else total + s
    model.train(was)
    return (total / max(int(xt.shape[0]), 1)).cpu().numpy().astype(np.float64)
