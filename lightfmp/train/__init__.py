"""Training: batching, the optimizer, the one training loop, evaluation, and `fit` with early stopping.

`TrainConfig` is torch-free and imported at once (the CLI reads its fields for its options); the rest
loads on first use.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

from lightfmp.train.config import TrainConfig

_LAZY = {"EvalResult": "loop", "LoopState": "loop", "NonFiniteLossError": "loop", "evaluate": "loop",
         "predict_logits": "loop", "train_epoch": "loop", "train_loop": "loop", "train_step": "loop",
         "FitResult": "trainer", "fit": "trainer", "seed_everything": "trainer"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(f"lightfmp.train.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'lightfmp.train' has no attribute {name!r}")


__all__ = ["TrainConfig", *_LAZY]
