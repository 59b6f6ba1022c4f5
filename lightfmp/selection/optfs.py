"""OptFS (Lyu et al., WWW 2023), two-stage, per feature VALUE: gates searched, weights rewound, retrain.

Follows `fuyuanlyu/OptFS` `modules/mask.py` + `maskTrainer.py` (../shared/docs/methods.md Sec. 2, 5):
- One gate logit m_v per feature value (table row), initialised to ``mask_init`` 0.5. Search-phase
  gate: ``sigmoid(temp * m_v) / sigmoid(0.5)`` multiplies the value's embedding (and linear term).
- Loss: BCE + ``reg_lambda * sum_v sigmoid(temp * m_v)`` over all values.
- Temperature: 1 at the start, growing geometrically to ``final_temp`` (README 200) by the last
  search epoch (the code multiplies by final_temp**(1/(epochs-1)) per epoch). Choice: we apply the same
  geometric schedule per *step* (temp = final_temp**(t / (T-1)) over T steps), which meets the code's
  value at every epoch boundary and avoids a 200x jump when only two search epochs fit our budget.
- Two optimisers: the backbone's (weights) and a separate Adam for m at ``mask_lr`` without weight
  decay. Choice: mask_lr default 2e-2 (code: the model lr over ~120k steps; our samples give ~100
  steps, and Adam moves a logit ~lr per step, so at 3e-4 no value could ever cross 0).
- Rewind: the backbone's weights are checkpointed at the end of epoch ``rewind_epoch`` (README 1;
  0 = the initialisation); retraining starts from that checkpoint with the frozen binary ticket mask
  ``(m_v > 0) / sigmoid(0.5)`` and BCE only.
- Field score (the shared ranking needs one number per field; OptFS itself keeps values, not
  fields): the training-frequency-weighted mean of sigmoid(m_v) over the field's values, which
  exceeds 1/2 exactly where the value is kept, i.e. the kept *mass* made continuous.
  ``kept_fraction_`` reports the frequency-weighted fraction of kept values (OptFS's "feature remain").
- Retraining (`retrain_model`): the rewound backbone, cut to the top fields (``prune_fields``), with the
  ticket mask on the kept fields' values.
Defaults: reg_lambda 1e-8 (ERASE Criteo), final_temp 200, mask_lr 2e-2, rewind_epoch 1.
"""
from __future__ import annotations

from dataclasses import dataclass

import math
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from lightfmp.selection.base import FieldSelector, SelectorConfig
from lightfmp.selection.deep import ValueMask, build_backbone, kept_rows, row_offsets, train_config
from lightfmp.selection.search import search, value_frequencies, weighted_field_mean

_S05 = 1.0 / (1.0 + math.exp(-0.5))  # sigmoid(0.5)


class OptFSGate(nn.Module):
    """z[b, f] = sigmoid(temp * m[offset_f + x[b, f]]) / sigmoid(0.5)."""

    def __init__(self, vocab_sizes: Sequence[int], mask_init: float = 0.5):
        super().__init__()
        self.m = nn.Parameter(torch.full((int(sum(vocab_sizes)),), float(mask_init)))
        self.register_buffer("offsets", row_offsets(vocab_sizes), persistent=False)
        self.temp = 1.0

    def forward(self, x: Tensor, e: Tensor) -> Tensor:
        return torch.sigmoid(self.temp * self.m[x.long() + self.offsets]) / _S05

    def penalty(self) -> Tensor:
        return torch.sigmoid(self.temp * self.m).sum()


class OptFSSelector(FieldSelector):
    """OptFS's value gates; scores = frequency-weighted keep probability per field."""

    @dataclass(frozen=True)
    class Params:
        """The hyper-parameters (typed; `FieldSelector.__init__` refuses unknown ones)."""

        mask_init: float = 0.5
        reg_lambda: float = 1e-8
        final_temp: float = 200.0
        rewind_epoch: int = 1
        mask_lr: float = 2e-2

    name = "optfs"
    stage = "two-stage"

    def _fit(self, data: Any, cfg: SelectorConfig) -> np.ndarray:
        tcfg = train_config(cfg)
        vocab = data.schema.vocab_sizes
        Xtr, ytr = data.split("train")
        model = build_backbone(cfg.model_name, vocab, cfg)
        gate = OptFSGate(vocab, self.params.mask_init)
        model.gate = gate
        lam = float(self.params.reg_lambda)
        final_temp = float(self.params.final_temp)
        epochs = int(cfg.search_epochs)
        total_steps = epochs * -(-len(ytr) // tcfg.batch_size)
        rewind_epoch = min(int(self.params.rewind_epoch), epochs)
        self.rewind_state_ = _backbone_state(model) if rewind_epoch == 0 else None

        def anneal(step: int) -> None:
            gate.temp = final_temp ** (min(step, total_steps - 1) / max(total_steps - 1, 1))

        def checkpoint(epoch: int) -> None:
            if epoch == rewind_epoch:
                self.rewind_state_ = _backbone_state(model)

        self.search_ = search(model, (Xtr, ytr), tcfg, epochs, extra_loss=lambda: lam * gate.penalty(),
                              extra_param_groups=[{"params": [gate.m], "lr": self.params.mask_lr,
                                                   "weight_decay": 0.0}],
                              after_step=anneal, after_epoch=checkpoint, log_epochs=cfg.log_epochs)
        m = gate.m.detach().cpu().numpy().astype(np.float64)
        self.value_mask_ = m > 0
        self.final_temp_ = gate.temp
        self.model_name_, self.cfg_ = cfg.model_name, cfg
        freq = value_frequencies(Xtr, vocab)
        self.kept_fraction_ = weighted_field_mean(self.value_mask_.astype(np.float64), freq, vocab)
        self.values_remaining_ = float(self.value_mask_.mean())
        return weighted_field_mean(1.0 / (1.0 + np.exp(-m)), freq, vocab)

    def retrain_model(self, data: Any, keep: Sequence[int]) -> nn.Module:
        """The rewound backbone cut to ``keep``, gated by the frozen ticket mask (m > 0) / sigmoid(0.5)."""
        from lightfmp.pruning.slicing import prune_fields

        vocab = data.schema.vocab_sizes
        full = build_backbone(self.model_name_, vocab, self.cfg_)
        full.load_state_dict(self.rewind_state_)
        compact = prune_fields(full, list(keep))
        compact.gate = ValueMask([vocab[f] for f in sorted(keep)], self.value_mask_[kept_rows(vocab, keep)],
                                 scale=1.0 / _S05)
        return compact


def _backbone_state(model: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items() if not k.startswith("gate.")}
