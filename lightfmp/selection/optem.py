"""OptEm / OptEmbed (Lyu et al., CIKM 2022), two-stage: learnable per-field thresholds prune feature values.

Follows `fuyuanlyu/OptEmbed` `models/modules.py` (../shared/docs/methods.md Sec. 2), the feature-mask part:
- Per value v of field f: z_v = BinaryStep(||e_v||_1 - t_f), a learnable threshold per field (the
  code's per-field option), initialised to ``t_init`` 0 (every value kept at the start).
- BinaryStep: forward 1[x > 0]; backward the code's piecewise surrogate gradient
  2 - 4|x| for |x| <= 0.4, 0.4 for 0.4 < |x| <= 1, 0 beyond. The gradient reaches both the threshold
  and the embeddings (through the norm), as in the code.
- Regulariser: ``alpha * sum_f exp(-t_f)`` (pushes thresholds up, pruning small-norm values).
- Thresholds get their own Adam param group at ``threshold_lr`` (default 1e-2), no weight decay.
- Field score: the training-frequency-weighted fraction of the field's values kept (||e_v||_1 > t_f)
  plus 1e-3 * tanh(weighted mean margin (||e_v||_1 - t_f)), which only breaks ties between fields whose
  values are all kept (or all pruned). ``kept_fraction_`` reports the fraction alone.
- Retraining from scratch (OptEmbed retrains with the searched mask): a fresh backbone on the top
  fields, with the frozen binary value mask on their values.
NOT implemented (say it plainly): OptEmbed's embedding-DIMENSION search, i.e. the supernet that samples
a random dimension prefix per field and sample while training and the evolutionary search that then
picks one dimension per field. Every kept field keeps the backbone's full dimension D; only the
feature (value) mask and the field ranking derived from it are OptEmbed's. Defaults: alpha 1e-4,
t_init 0, threshold_lr 1e-2.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from lightfmp.selection.base import FieldSelector, SelectorConfig
from lightfmp.selection.deep import ValueMask, build_backbone, kept_rows, train_config
from lightfmp.selection.search import search, value_frequencies, weighted_field_mean


class BinaryStep(torch.autograd.Function):
    """1[x > 0] forward; OptEmbed's piecewise surrogate gradient backward."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        a = x.abs()
        surrogate = torch.where(a <= 0.4, 2.0 - 4.0 * a, torch.where(a <= 1.0, torch.full_like(a, 0.4),
                                                                     torch.zeros_like(a)))
        return grad * surrogate


class OptEmGate(nn.Module):
    """z[b, f] = BinaryStep(||e[b, f]||_1 - t_f): a value is kept when its embedding's L1 norm beats t_f."""

    def __init__(self, num_fields: int, t_init: float = 0.0):
        super().__init__()
        self.threshold = nn.Parameter(torch.full((num_fields,), float(t_init)))

    def forward(self, x: Tensor, e: Tensor) -> Tensor:
        return BinaryStep.apply(e.abs().sum(-1) - self.threshold)

    def penalty(self) -> Tensor:
        return torch.exp(-self.threshold).sum()


class OptEmSelector(FieldSelector):
    """OptEmbed's threshold feature mask; scores = frequency-weighted kept fraction per field."""

    @dataclass(frozen=True)
    class Params:
        """The hyper-parameters (typed; `FieldSelector.__init__` refuses unknown ones)."""

        t_init: float = 0.0
        alpha: float = 1e-4
        threshold_lr: float = 1e-2

    name = "optem"
    stage = "two-stage"

    def _fit(self, data: Any, cfg: SelectorConfig) -> np.ndarray:
        tcfg = train_config(cfg)
        vocab = data.schema.vocab_sizes
        Xtr, ytr = data.split("train")
        model = build_backbone(cfg.model_name, vocab, cfg)
        gate = OptEmGate(len(vocab), self.params.t_init)
        model.gate = gate
        alpha = float(self.params.alpha)
        self.search_ = search(model, (Xtr, ytr), tcfg, cfg.search_epochs, extra_loss=lambda: alpha * gate.penalty(),
                              extra_param_groups=[{"params": [gate.threshold],
                                                   "lr": self.params.threshold_lr, "weight_decay": 0.0}],
                              log_epochs=cfg.log_epochs)
        with torch.no_grad():
            norms = model.embedding.weight.detach().abs().sum(-1).cpu().numpy().astype(np.float64)
            t = gate.threshold.detach().cpu().numpy().astype(np.float64)
        margin = norms - np.repeat(t, vocab)
        self.value_mask_ = margin > 0
        self.thresholds_ = t
        self.model_name_, self.cfg_ = cfg.model_name, cfg
        freq = value_frequencies(Xtr, vocab)
        self.kept_fraction_ = weighted_field_mean(self.value_mask_.astype(np.float64), freq, vocab)
        return self.kept_fraction_ + 1e-3 * np.tanh(weighted_field_mean(margin, freq, vocab))

    def retrain_model(self, data: Any, keep: Sequence[int]) -> nn.Module:
        """A fresh backbone on ``keep`` with the frozen binary value mask (retrain from scratch)."""
        vocab = data.schema.vocab_sizes
        sub = [vocab[f] for f in sorted(keep)]
        model = build_backbone(self.model_name_, sub, self.cfg_)
        model.gate = ValueMask(sub, self.value_mask_[kept_rows(vocab, keep)])
        return model
