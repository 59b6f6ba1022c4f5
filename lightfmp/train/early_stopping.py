"""`EarlyStopping`: keep the best epoch's weights by a validation score, stop after `patience` epochs
without improvement, restore the best weights at the end.

For every task's trainer (the CTR `fit` has the same rule inline, with ties on AUC broken by logloss:
pass a tuple key for that). The best weights are a CPU copy of the state dict, never a file; the
object's `state_dict()` is what a checkpoint stores to resume.
"""
from __future__ import annotations

import math
from typing import Any

from torch import Tensor, nn


def state_copy(model: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


class EarlyStopping:
    """Track a validation score (higher is better; a float or a tuple compared lexicographically)."""

    def __init__(self, patience: int) -> None:
        self.patience = int(patience)
        self.best_key: tuple[float, ...] = (-math.inf,)
        self.best_epoch = 0
        self.best_state: dict[str, Tensor] | None = None
        self.since_best = 0
        self.stopped = False

    def update(self, epoch: int, key: float | tuple[float, ...], model: nn.Module) -> bool:
        """Record epoch ``epoch``'s score; True when it is the best so far (its weights copied). A NaN
        score never improves."""
        key = tuple(key) if isinstance(key, tuple) else (float(key),)
        if not any(math.isnan(k) for k in key) and key > self.best_key:
            self.best_key, self.best_epoch, self.best_state, self.since_best = key, epoch, state_copy(model), 0
            return True
        self.since_best += 1
        self.stopped = self.since_best >= self.patience
        return False

    def restore(self, model: nn.Module) -> None:
        """Load the best epoch's weights (nothing to do when no epoch improved)."""
        if self.best_state is not None:
            model.load_state_dict(self.best_state)

    def state_dict(self) -> dict[str, Any]:
        return {"best_key": list(self.best_key), "best_epoch": self.best_epoch, "best_state": self.best_state,
                "since_best": self.since_best, "stopped": self.stopped}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best_key, self.best_epoch = tuple(state["best_key"]), int(state["best_epoch"])
        self.best_state, self.since_best, self.stopped = state["best_state"], int(state["since_best"]), state["stopped"]
