"""XGBoost field selector (shallow; paper Sec. 3.2: "ranks features based on how much they improve the
final model performance").

ERASE (../shared/docs/methods.md Sec. 4) uses ``XGBClassifier(n_estimators=10).feature_importances_``
on label-encoded columns. Choices:
- Each field is one *categorical* feature (XGBoost's native categorical splits, ``feature_types="c"``),
  so a split partitions the field's ids instead of thresholding an arbitrary id order.
- Importance: ``total_gain`` per field (the loss reduction the field's splits bring, summed), not the
  average gain, which favours a field used once by a lucky split; fields never split score 0.
- Trees: ``n_estimators`` 50, ``max_depth`` 6, ``learning_rate`` 0.3, ``hist`` method, logistic loss,
  ``max_cat_to_onehot`` 1 (partition splits); at most ``cfg.max_rows`` training rows; seeded.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import xgboost as xgb

from lightfmp.selection.base import FieldSelector, SelectorConfig, sample_rows


class XGBoostSelector(FieldSelector):
    """Total split gain per field of a gradient-boosted tree ensemble on categorical field ids."""

    @dataclass(frozen=True)
    class Params:
        """The hyper-parameters (typed; `FieldSelector.__init__` refuses unknown ones)."""

        max_depth: int = 6
        learning_rate: float = 0.3
        nthread: int = 2
        n_estimators: int = 50

    name = "xgboost"
    stage = "shallow"

    def _fit(self, data: Any, cfg: SelectorConfig) -> np.ndarray:
        X, y = data.split("train")
        seed = int(getattr(cfg.train_cfg, "seed", 0) or 0)
        X, y = sample_rows(X, y, cfg.max_rows, seed)
        f = X.shape[1]
        names = [f"f{i}" for i in range(f)]
        dm = xgb.DMatrix(np.asarray(X, dtype=np.float32), label=np.asarray(y, dtype=np.float32),
                         feature_names=names, feature_types=["c"] * f, enable_categorical=True, nthread=2)
        params = {
            "objective": "binary:logistic", "tree_method": "hist", "max_depth": self.params.max_depth,
            "eta": self.params.learning_rate, "max_cat_to_onehot": 1, "seed": seed,
            "nthread": self.params.nthread, "verbosity": 0,
        }
        booster = xgb.train(params, dm, num_boost_round=self.params.n_estimators)
        gain = booster.get_score(importance_type="total_gain")
        return np.array([gain.get(n, 0.0) for n in names], dtype=np.float64)
