"""The sparsity constraint of Light-FMP (paper Eq. 4-5) with learned Lagrange multipliers."""
from __future__ import annotations

import torch
from torch import nn


class LagrangianConstraint(nn.Module):
    """L~(lambda, phi) = lambda (s_hat - t) + phi (s_hat - t)^2 (paper Eq. 4), added to the model loss (Eq. 5).

    Choices, following LLM-Shearing's ``lagrangian_regularization`` (see ../shared/docs/methods.md):

    * s_hat is the *expected* sparsity ``1 - mean_f P(z_f > 0)`` from the hard-concrete CDF
      (``HardConcreteGate.expected_sparsity``), not the mean of sampled z. The paper writes
      ``mean(z) - tau`` with tau a *pruning* ratio; comparing a keep fraction with a prune fraction
      would only agree at tau = 0.5, so both sides are sparsities here.
    * lambda and phi are parameters initialised at 0 and raised by gradient *ascent*: put them in an
      optimiser param group with a negative learning rate (``param_group``). Then d/dlambda =
      (s_hat - t) drives lambda until the gate logits meet the target, and d/dphi = (s_hat - t)^2 >= 0
      only ever grows phi while the constraint is violated (a min-max game with the mask).
    * The target t warms up linearly from 0 to tau over ``warmup_steps`` (Shearing's
      ``lagrangian_warmup_steps``; 0 means tau from step 0), so the backbone sees every field,
      and interactions between fields, before the sparsity pressure starts.

    Example:
        >>> lag = LagrangianConstraint(target=0.5, warmup_steps=10)
        >>> float(lag.target_at(5))
        0.25
    """

    def __init__(self, target: float, warmup_steps: int = 0):
        super().__init__()
        if not 0.0 <= target < 1.0:
            raise ValueError(f"target sparsity must be in [0, 1), got {target}")
        self.target = float(target)
        self.warmup_steps = int(warmup_steps)
        self.lambda_1 = nn.Parameter(torch.zeros(()))
        self.lambda_2 = nn.Parameter(torch.zeros(()))

    def target_at(self, step: int) -> float:
        """The warmed-up target sparsity at optimiser step ``step`` (0-based)."""
        if self.warmup_steps <= 0 or step >= self.warmup_steps:
            return self.target
        return self.target * step / self.warmup_steps

    def forward(self, expected_sparsity: torch.Tensor, step: int) -> torch.Tensor:
        gap = expected_sparsity - self.target_at(step)
        return self.lambda_1 * gap + self.lambda_2 * gap * gap

    def param_group(self, lr: float) -> dict:
        """An optimiser param group that performs gradient ascent on (lambda, phi)."""
        return {"params": [self.lambda_1, self.lambda_2], "lr": -abs(lr), "weight_decay": 0.0}
