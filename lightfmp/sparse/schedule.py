"""When masks change and by how much: the update interval Delta-T and the cosine-decayed update rate d_t.

DSL (`Masking` with `CosineDecay` in each backbone's ``utils/core.py``) steps a ``CosineAnnealingLR`` every
iteration from ``death_rate`` 0.5 to ``eta_min`` 0.005 over ``T_max = batches per epoch x epochs`` and reads it
at each mask update: ``d_t = end + (start - end) * (1 + cos(pi * t / T)) / 2``. With early stopping the run
may end before T, so the rate then never reaches its floor; T is the planned total, as in DSL.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


def cosine_rate(step: int, total_steps: int, start: float = 0.5, end: float = 0.005) -> float:
    """d_t at ``step`` of ``total_steps`` (clamped to [0, total]): ``start`` at 0, ``end`` at the total."""
    if total_steps <= 0:
        return float(end)
    t = min(max(int(step), 0), int(total_steps))
    return float(end) + (float(start) - float(end)) * (1.0 + math.cos(math.pi * t / int(total_steps))) / 2.0


@dataclass(frozen=True)
class UpdateSchedule:
    """Update masks every ``interval`` optimizer steps (Delta-T), removing and regrowing ``ceil(d_t * nnz)``
    per tensor with d_t = `cosine_rate` from ``start`` to ``end``.

    DSL's defaults: interval 100 (MultVAE; 2,000 for NeuMF, 3,000 for LightGCN, per its README), start 0.5,
    end 0.005. No update at step 0 or at the last step (a change there could never be trained)."""

    interval: int = 100
    start: float = 0.5
    end: float = 0.005

    def __post_init__(self) -> None:
        if int(self.interval) < 1:
            raise ValueError(f"the update interval must be >= 1 step, got {self.interval}")
        if not 0.0 <= self.end <= self.start <= 1.0:
            raise ValueError(f"update rates must satisfy 0 <= end <= start <= 1, got {self.start}, {self.end}")

    def due(self, step: int, total_steps: int) -> bool:
        """Whether the masks change after optimizer step ``step`` (1-based) of ``total_steps``."""
        return step > 0 and step % int(self.interval) == 0 and (total_steps <= 0 or step < total_steps)

    def rate(self, step: int, total_steps: int) -> float:
        return cosine_rate(step, total_steps, self.start, self.end)
