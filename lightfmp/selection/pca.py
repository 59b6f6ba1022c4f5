"""PCA field selector (shallow; paper Sec. 3.2 "PCA [Pearson, 1901]").

ERASE (../shared/docs/methods.md Sec. 4) fits ``PCA(n_components=k)`` on label-encoded columns and
ranks fields by |first component|. Label-encoded ids make the variance (and so the components) an
artefact of the id order and of the vocabulary size, so we fit on the one-hot ids instead. Choices:
- Design: one-hot ids of at most ``cfg.max_rows`` training rows; PCA centres implicitly (scikit-learn's
  sparse PCA with the ARPACK solver), so the sparse matrix is never densified.
- Components: ``n_components`` (default min(F, 10)) leading components.
- Field score: sum over components c of explained_variance_ratio[c] * sum_{v in field} |loading[c, v]|:
  the |loadings| aggregated per field, each component weighted by the variance it explains (with one
  component this is ERASE's rule up to a constant).
- PCA ignores the label (the paper's "feature decorrelation"); it is unsupervised by design.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.decomposition import PCA

from lightfmp.selection.base import FieldSelector, SelectorConfig, sample_rows
from lightfmp.selection.onehot import one_hot, per_field_sum


class PCASelector(FieldSelector):
    """Variance-weighted |loadings| of the leading principal components, summed per field."""

    @dataclass(frozen=True)
    class Params:
        """The hyper-parameters (typed; `FieldSelector.__init__` refuses unknown ones)."""

        n_components: int | None = None

    name = "pca"
    stage = "shallow"

    def _fit(self, data: Any, cfg: SelectorConfig) -> np.ndarray:
        X, y = data.split("train")
        seed = int(getattr(cfg.train_cfg, "seed", 0) or 0)
        X, _ = sample_rows(X, y, cfg.max_rows, seed)
        vocab = data.schema.vocab_sizes
        design = one_hot(X, vocab)
        # ARPACK needs k < min(n_rows, n_cols).
        wanted = self.params.n_components if self.params.n_components is not None else min(len(vocab), 10)
        k = int(min(wanted, min(design.shape) - 1))
        pca = PCA(n_components=max(k, 1), svd_solver="arpack", random_state=seed)
        pca.fit(design)
        weighted = np.abs(pca.components_) * pca.explained_variance_ratio_[:, None]
        self.explained_variance_ratio_ = pca.explained_variance_ratio_
        return per_field_sum(weighted.sum(axis=0), vocab)
