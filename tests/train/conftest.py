"""Tiny stand-ins for tests of the trainer: a 3-field model and separable synthetic ids."""
import numpy as np
import pytest
import torch
from torch import nn

from lightfmp.nn.embedding import FieldEmbedding, FieldLinear


class TinyCTR(nn.Module):
    """Embeddings + per-field linear terms + a small MLP: the shape of every backbone, in 10 lines."""

    def __init__(self, vocab_sizes, dim=4):
        super().__init__()
        self.embedding = FieldEmbedding(vocab_sizes, dim)
        self.linear = FieldLinear(vocab_sizes)
        self.mlp = nn.Sequential(nn.Linear(dim * len(vocab_sizes), 16), nn.ReLU(), nn.Linear(16, 1))
        self.gate = None

    def forward(self, x):
        return self.mlp(self.embedding(x).flatten(1)).squeeze(-1) + self.linear(x).sum(1)


def separable(n, seed=0, vocab=20):
    """Label = parity of field 0 equals parity of field 1 (an interaction); field 2 is noise."""
    r = np.random.default_rng(seed)
    X = r.integers(0, vocab, (n, 3)).astype(np.int32)
    y = ((X[:, 0] % 2) == (X[:, 1] % 2)).astype(np.float32)
    return X, y


@pytest.fixture
def tiny():
    torch.manual_seed(0)
    return TinyCTR([20, 20, 20])


@pytest.fixture
def splits():
    X, y = separable(5000)
    return (X[:3000], y[:3000]), (X[3000:4000], y[3000:4000]), (X[4000:], y[4000:])
