"""AutoField (Wang et al., WWW 2022), two-stage: a learnable keep/drop gate per field, then retraining.

Follows ERASE's `models/fs/autofield.py` + `fs_trainer.py` (../shared/docs/methods.md Sec. 5):
- Gate: two logits per field, [drop, keep], both initialised to 0.5. While training, the field weight
  is ``gumbel_softmax(logits, tau, hard=False)[:, keep]`` (one sample per mini-batch), which scales the
  field's embedding (and its linear term: the backbone's gate slot). Evaluation uses the noiseless
  ``softmax(logits)[:, keep]``.
- Temperature: tau starts at 1 and drops by 5e-5 per training forward call, floored at 0.01.
- Bi-level, first-order DARTS: the backbone takes an Adam step on every training batch (the gate
  logits excluded); every ``update_frequency`` (10) steps the gate takes one step of its own Adam
  (``arch_lr``) on one validation batch, the backbone untouched.
- Selection: fields ranked by P(keep) = softmax(logits)[:, keep] (ERASE ranks by the raw keep logit;
  the probability also uses the drop logit, which moves too), top-k kept by the shared rule, and the
  model is retrained from scratch without gates on the kept fields (the experiment's retraining).
Choices: ``search_epochs`` passes over train (cfg); ``arch_lr`` default 3e-3 (the gate gets only one
step per 10 batches, and our samples give few batches); validation batches cycle in a seeded order.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from lightfmp.selection.base import FieldSelector, SelectorConfig
from lightfmp.selection.deep import build_backbone, train_config
from lightfmp.selection.search import search
from lightfmp.train.batching import to_tensors


class AutoFieldGate(nn.Module):
    """z[F] = gumbel_softmax([drop, keep] logits, tau)[:, keep] (train) or softmax(...)[:, keep] (eval)."""

    def __init__(self, num_fields: int, tau0: float = 1.0, tau_step: float = 5e-5, tau_min: float = 0.01):
        super().__init__()
        self.logits = nn.Parameter(torch.full((num_fields, 2), 0.5))
        self.tau, self.tau_step, self.tau_min = float(tau0), float(tau_step), float(tau_min)

    def keep_probability(self) -> Tensor:
        return torch.softmax(self.logits, dim=-1)[:, 1]

    def forward(self, x: Tensor, e: Tensor) -> Tensor:
        if not self.training:
            return self.keep_probability()
        z = nn.functional.gumbel_softmax(self.logits, tau=self.tau, hard=False)[:, 1]
        self.tau = max(self.tau_min, self.tau - self.tau_step)
        return z


class AutoFieldSelector(FieldSelector):
    """AutoField's field gates searched DARTS-style; scores = P(keep) per field."""

    @dataclass(frozen=True)
    class Params:
        """The hyper-parameters (typed; `FieldSelector.__init__` refuses unknown ones)."""

        arch_lr: float = 3e-3
        update_frequency: int = 10

    name = "autofield"
    stage = "two-stage"

    def _fit(self, data: Any, cfg: SelectorConfig) -> np.ndarray:
        tcfg = train_config(cfg)
        schema = data.schema
        model = build_backbone(cfg.model_name, schema.vocab_sizes, cfg)
        gate = AutoFieldGate(schema.num_fields)
        model.gate = gate
        model.to(tcfg.device)
        arch_opt = torch.optim.Adam([gate.logits], lr=self.params.arch_lr)
        Xv, yv = to_tensors(*data.split("valid"), tcfg.device)
        gen = torch.Generator().manual_seed(int(tcfg.seed))
        vb = min(tcfg.batch_size, int(Xv.shape[0]))
        every = int(self.params.update_frequency)

        def arch_step(step: int) -> None:
            if step % every:
                return
            idx = torch.randint(0, Xv.shape[0], (vb,), generator=gen).to(tcfg.device)
            loss = nn.functional.binary_cross_entropy_with_logits(model(Xv[idx]), yv[idx])
            arch_opt.zero_grad()
            gate.logits.grad = torch.autograd.grad(loss, gate.logits)[0]
            arch_opt.step()

        self.search_ = search(model, data.split("train"), tcfg, cfg.search_epochs,
                              frozen=[gate.logits], after_step=arch_step, log_epochs=cfg.log_epochs)
        with torch.no_grad():
            self.logits_ = gate.logits.detach().cpu().numpy()
            return gate.keep_probability().cpu().numpy()
