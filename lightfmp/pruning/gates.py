"""The hard-concrete field mask of Light-FMP (paper Section 2.3, Eq. 2-3; Louizos et al. 2017).

One gate per input field sits after the embedding layer; the backbone multiplies each field's
embedding (and its per-field linear term) by the gate value z_f (Eq. 2, ``e' = e * z``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn


@dataclass(frozen=True)
class GateConfig:
    """Hard-concrete settings; the defaults are the paper's (Section 2.3).

    Args:
        beta: temperature of Eq. 3 (paper 0.83; Sheared-LLaMA uses 2/3).
        zeta: upper stretch bound, > 1 (paper 1.1).
        gamma: lower stretch bound, < 0 (paper -0.1).
        init_mean, init_std: the paper's alpha ~ N(0.5, 0.0625), i.e. std 0.25. See ``init_space``.
        init_space: ``"log_alpha"`` (default) draws log(alpha) from N(init_mean, init_std^2), as
            Sheared-LLaMA initialises ``z_loga`` directly; ``"alpha"`` draws alpha itself and takes
            its log, clipping alpha at 1e-2 first, since about 2% of N(0.5, 0.0625) draws are <= 0.
        eps: u is drawn from U(eps, 1 - eps) so that log(u / (1 - u)) stays finite (Shearing: 1e-6).
        log_alpha_min, log_alpha_max: log(alpha) is clamped to [ln 0.01, ln 100] after every step
            (``constrain_``), as Shearing's ``constrain_parameters`` does, so no gate saturates
            beyond recovery.
    """

    beta: float = 0.83
    zeta: float = 1.1
    gamma: float = -0.1
    init_mean: float = 0.5
    init_std: float = 0.25
    init_space: str = "log_alpha"
    eps: float = 1e-6
    log_alpha_min: float = math.log(1e-2)
    log_alpha_max: float = math.log(1e2)

    def __post_init__(self) -> None:
        if not (self.gamma < 0.0 < 1.0 < self.zeta):
            raise ValueError(f"need gamma < 0 < 1 < zeta, got gamma={self.gamma}, zeta={self.zeta}")
        if self.beta <= 0 or self.init_std < 0:
            raise ValueError("beta must be > 0 and init_std >= 0")
        if self.init_space not in ("log_alpha", "alpha"):
            raise ValueError(f"init_space must be 'log_alpha' or 'alpha', got {self.init_space!r}")


class HardConcreteGate(nn.Module):
    """A field mask z in [0, 1]^m from the hard-concrete distribution (paper Eq. 3, Algorithm 1).

    Training (``self.training``): u ~ U(eps, 1-eps), s = sigmoid((log(u/(1-u)) + log_alpha)/beta),
    s_bar = s (zeta - gamma) + gamma, z = min(1, max(0, s_bar)); one u per field per forward pass
    (one mask per mini-batch, as in Algorithm 1), gradients reach log_alpha by reparameterisation.

    Evaluation: the deterministic estimator of Louizos et al. (their Eq. 13),
    z = min(1, max(0, sigmoid(log_alpha)(zeta - gamma) + gamma)), i.e. u = 1/2 and beta = 1.
    Pruning (phase 2) does not use it: it ranks fields by ``keep_probability`` and thresholds to a
    strictly binary mask (``binary_mask``), the paper's "final thresholding step".

    Called as ``gate(x, e)`` (the backbone's gate slot); x and e are ignored and z has shape [m].

    Example:
        >>> gate = HardConcreteGate(4)
        >>> gate(None, None).shape
        torch.Size([4])
    """

    def __init__(self, num_fields: int, cfg: GateConfig | None = None, generator: torch.Generator | None = None):
        super().__init__()
        self.cfg = cfg or GateConfig()
        c = self.cfg
        init = torch.randn(num_fields, generator=generator) * c.init_std + c.init_mean
        if c.init_space == "alpha":
            init = torch.log(init.clamp_min(1e-2))
        self.log_alpha = nn.Parameter(init.clamp(c.log_alpha_min, c.log_alpha_max))

    @property
    def num_fields(self) -> int:
        return self.log_alpha.numel()

    def _log_alpha(self) -> torch.Tensor:
        return self.log_alpha

    @torch.no_grad()
    def constrain_(self) -> None:
        """Clamp log_alpha into [log_alpha_min, log_alpha_max] in place, after each optimiser step.

        Shearing's ``constrain_parameters``; done on the data rather than in the forward pass so
        that a gate at the bound still gets a gradient pulling it back inside.
        """
        self.log_alpha.clamp_(self.cfg.log_alpha_min, self.cfg.log_alpha_max)

    def sample(self) -> torch.Tensor:
        """A reparameterised sample z [m] (Eq. 3)."""
        c = self.cfg
        u = torch.rand_like(self.log_alpha).clamp(c.eps, 1.0 - c.eps)
        s = torch.sigmoid((torch.log(u) - torch.log1p(-u) + self._log_alpha()) / c.beta)
        return (s * (c.zeta - c.gamma) + c.gamma).clamp(0.0, 1.0)

    def deterministic(self) -> torch.Tensor:
        """The evaluation-time z [m] (Louizos et al. Eq. 13)."""
        c = self.cfg
        return (torch.sigmoid(self._log_alpha()) * (c.zeta - c.gamma) + c.gamma).clamp(0.0, 1.0)

    def mean(self, points: int = 256) -> torch.Tensor:
        """E[z] [m] under the hard-concrete distribution, by the midpoint rule over u (``points`` values of
        u in (0, 1), deterministic). What a sampled gate passes on average: joint pruning's eval-time
        value and the value folded into the compact model (``lightfmp.pruning.structure``), since the
        deterministic estimator is 0 for every gate with log_alpha below about -2.4 although such a gate
        is open in training with probability up to about 0.4."""
        c = self.cfg
        u = (torch.arange(points, dtype=self.log_alpha.dtype, device=self.log_alpha.device) + 0.5) / points
        logit_u = (torch.log(u) - torch.log1p(-u)).unsqueeze(1)
        s = torch.sigmoid((logit_u + self._log_alpha().unsqueeze(0)) / c.beta)
        return (s * (c.zeta - c.gamma) + c.gamma).clamp(0.0, 1.0).mean(dim=0)

    def keep_probability(self) -> torch.Tensor:
        """P(z_f > 0) [m] from the hard-concrete CDF: 1 - sigmoid(beta ln(-gamma/zeta) - log_alpha).

        This is the expected gate (L0) score that the constraint of Eq. 4 uses, not the samples.
        """
        c = self.cfg
        p = torch.sigmoid(self._log_alpha() - c.beta * math.log(-c.gamma / c.zeta))
        return p.clamp(c.eps, 1.0 - c.eps)

    def expected_sparsity(self) -> torch.Tensor:
        """s_hat = 1 - mean_f P(z_f > 0): the expected fraction of pruned fields (a scalar)."""
        return 1.0 - self.keep_probability().mean()

    def binary_mask(self, num_pruned: int, keep: Sequence[int] = ()) -> torch.Tensor:
        """1 for kept, 0 for the ``num_pruned`` fields with the lowest keep probability (ties: lower index kept).

        ``keep``: positions kept whatever their score (``LightFMP(keep_fields=...)``); the other kept
        slots go to the highest-scored remaining fields, so ``num_pruned`` fields are still zero.
        """
        m = self.num_fields
        if not 0 <= num_pruned <= m - len(set(keep)):
            raise ValueError(f"num_pruned must be in 0..{m - len(set(keep))}, got {num_pruned}")
        score = self.keep_probability().detach().clone()
        score[list(keep)] = math.inf  # ranked first, whatever the mask learned
        order = torch.argsort(score, descending=True, stable=True)
        mask = torch.zeros(m)
        mask[order[: m - num_pruned]] = 1.0
        return mask

    def forward(self, x: torch.Tensor | None = None, e: torch.Tensor | None = None) -> torch.Tensor:
        return self.sample() if self.training else self.deterministic()


class FixedMask(nn.Module):
    """A constant field mask [m] in the gate slot: used to check the compact model against the
    pretrained model "under the binary mask" (paper Section 2.4)."""

    def __init__(self, mask: torch.Tensor):
        super().__init__()
        self.register_buffer("mask", mask.detach().float().clone())

    def forward(self, x: torch.Tensor | None = None, e: torch.Tensor | None = None) -> torch.Tensor:
        return self.mask
