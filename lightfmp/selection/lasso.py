"""Lasso field selector (shallow; paper Sec. 3.2 "Lasso [Tibshirani, 1996]").

Follows ERASE `utils/utils.py` (../shared/docs/methods.md Sec. 4): scikit-learn ``Lasso(alpha=1e-3)``
on the 0/1 label, importance = |coef|. Choices:
- Design matrix: the one-hot ids of the training rows (`onehot.one_hot`), not ERASE's label-encoded
  integers, whose coefficients depend on an arbitrary id order. A field's score is the sum of |coef|
  over its values, so a field whose every value is shrunk to zero scores 0.
- Rows: at most ``cfg.max_rows`` training rows (seeded sample), to bound coordinate-descent time.
- Options: ``alpha`` (1e-3), ``max_iter`` (1000), ``tol`` (1e-4).
- Ties (e.g. several all-zero fields) fall to the shared rule: the earlier field wins.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.linear_model import Lasso

from lightfmp.selection.base import FieldSelector, SelectorConfig, sample_rows
from lightfmp.selection.onehot import one_hot, per_field_sum


class LassoSelector(FieldSelector):
    """Sum of |Lasso coefficient| over each field's one-hot columns."""

    @dataclass(frozen=True)
    class Params:
        """The hyper-parameters (typed; `FieldSelector.__init__` refuses unknown ones)."""

        alpha: float = 1e-3
        max_iter: int = 1000
        tol: float = 1e-4

    name = "lasso"
    stage = "shallow"

    def _fit(self, data: Any, cfg: SelectorConfig) -> np.ndarray:
        X, y = data.split("train")
        X, y = sample_rows(X, y, cfg.max_rows, _seed(cfg))
        vocab = data.schema.vocab_sizes
        model = Lasso(alpha=self.params.alpha, max_iter=self.params.max_iter,
                      tol=self.params.tol)
        model.fit(one_hot(X, vocab), np.asarray(y, dtype=np.float64))
        self.coef_ = model.coef_
        return per_field_sum(np.abs(model.coef_), vocab)


def _seed(cfg: SelectorConfig) -> int:
    return int(getattr(cfg.train_cfg, "seed", 0) or 0)
