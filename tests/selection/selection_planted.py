"""Tiny planted data for the selector tests: a stand-in with PreparedData's interface.

Fields 0 and 1 carry the label signal (a logistic model on per-value effects); fields 2..5 are pure
noise, two of them high-cardinality (most values rare), the trap ../shared/docs/methods.md describes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from lightfmp.data.schema import CATEGORICAL, FieldSpec, Schema

INFORMATIVE = (0, 1)


@dataclass
class PlantedData:
    schema: Schema
    arrays: dict
    pretrain_index: np.ndarray

    def split(self, name: str):
        return self.arrays[name]

    def pretrain(self):
        X, y = self.arrays["train"]
        return X[self.pretrain_index], y[self.pretrain_index]

    def continued(self):
        X, y = self.arrays["train"]
        rest = np.setdiff1d(np.arange(len(y)), self.pretrain_index)
        return X[rest], y[rest]


def make_planted(n: int = 3000, seed: int = 0) -> PlantedData:
    rng = np.random.default_rng(seed)
    vocab = [6, 8, 5, 12, 400, 800]  # ids 0/1 reserved (OOV, missing); values start at 2
    X = np.stack([rng.integers(2, v, size=n) for v in vocab], axis=1).astype(np.int32)
    effects = [rng.normal(0, 1.6, size=v) for v in vocab[:2]]
    logit = -0.8 + effects[0][X[:, 0]] + effects[1][X[:, 1]]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.float32)
    schema = Schema(fields=tuple(FieldSpec(f"f{i}", CATEGORICAL, v) for i, v in enumerate(vocab)),
                    dataset="planted")
    a, b = int(0.8 * n), int(0.9 * n)
    arrays = {"train": (X[:a], y[:a]), "valid": (X[a:b], y[a:b]), "test": (X[b:], y[b:])}
    return PlantedData(schema, arrays, np.sort(rng.choice(a, size=min(500, a), replace=False)))

