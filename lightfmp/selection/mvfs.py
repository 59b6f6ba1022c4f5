"""MvFS (Lee et al., CIKM 2023), single-stage: multi-view per-sample field gates, trained jointly.

Follows ERASE's `models/fs/mvfs.py` (../shared/docs/methods.md Sec. 5):
- K = 6 sub-networks, each Linear(F*D -> F) on the flattened embeddings, softmax over fields: C_k[b, :].
- Gating network: r = softmax(W_g concat_k(C_k) + b_g) over the K views; I = sum_k r_k C_k.
- Gate: s = 0.5 * (1 + tanh(tau * (I - l))) with l = 0.2; tau = 5 while t < 5, then tau = t, where t
  grows by 0.001 per training forward call. s multiplies each field's embedding (and linear term),
  per sample.
- Trained jointly with the backbone (`lightfmp.train.fit`, early stopping); the final model is the
  gated model with every field (paper: MvFS is run without a fixed prune ratio, Table 2 caption).
- ERASE pitfalls not copied: its W_g/b_g are uninitialised tensors (ours use nn.Linear's init) and
  its unused parameter W is absent (so no dead parameters).
- Field ranking (scores_): the mean gate s over the validation split.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from lightfmp.selection.adafs import mean_gate_weight
from lightfmp.selection.base import FieldSelector, SelectorConfig
from lightfmp.selection.deep import build_backbone, train_config


class MvFSGate(nn.Module):
    """s[b, f] = 0.5 (1 + tanh(tau (I[b, f] - l))), I the gated mixture of K softmax views."""

    def __init__(self, num_fields: int, dim: int, views: int = 6, l: float = 0.2):
        super().__init__()
        self.views = nn.Linear(num_fields * dim, views * num_fields)  # the K sub-networks, stacked
        self.gating = nn.Linear(views * num_fields, views)
        self.k, self.f, self.l = views, num_fields, float(l)
        self.t = 0.0

    @property
    def tau(self) -> float:
        return 5.0 if self.t < 5.0 else self.t

    def forward(self, x: Tensor, e: Tensor) -> Tensor:
        b = e.shape[0]
        c = torch.softmax(self.views(e.reshape(b, -1)).reshape(b, self.k, self.f), dim=-1)  # C_k [B, K, F]
        r = torch.softmax(self.gating(c.reshape(b, -1)), dim=-1)  # [B, K]
        importance = (r.unsqueeze(-1) * c).sum(1)  # I [B, F]
        s = 0.5 * (1.0 + torch.tanh(self.tau * (importance - self.l)))
        if self.training:
            self.t += 0.001
        return s


class MvFSSelector(FieldSelector):
    """MvFS trained jointly with the backbone; ``model_`` is the final (all-field, gated) model."""

    @dataclass(frozen=True)
    class Params:
        """The hyper-parameters (typed; `FieldSelector.__init__` refuses unknown ones)."""

        views: int = 6
        l: float = 0.2

    name = "mvfs"
    stage = "single-stage"

    def _fit(self, data: Any, cfg: SelectorConfig) -> np.ndarray:
        from lightfmp.train import fit

        tcfg = train_config(cfg)
        schema = data.schema
        model = build_backbone(cfg.model_name, schema.vocab_sizes, cfg)
        model.gate = MvFSGate(schema.num_fields, model.embed_dim, self.params.views, self.params.l)
        self.fit_result_ = fit(model, data.split("train"), data.split("valid"), tcfg, progress=False,
                               log_epochs=cfg.log_epochs)
        self.model_ = model
        return mean_gate_weight(model, data.split("valid")[0], tcfg.device)
