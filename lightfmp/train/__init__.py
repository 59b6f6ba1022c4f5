"""Training: batching, the optimizer, the one training loop, evaluation, and `fit` with early stopping.

`TrainConfig` is torch-free and imported at once (the CLI reads its fields for its options); the rest
loads on first use.
"""
from __future__ import annotations

from lightfmp.lazy import lazy_exports
from lightfmp.train.config import TrainConfig

_LAZY = {"EvalResult": "loop", "LoopState": "loop", "NonFiniteLossError": "loop", "evaluate": "loop",
         "predict_logits": "loop", "train_epoch": "loop", "train_loop": "loop", "train_step": "loop",
         "FitResult": "trainer", "fit": "trainer", "seed_everything": "trainer"}


__getattr__ = lazy_exports("lightfmp.train", _LAZY, globals())

__all__ = ["TrainConfig", *_LAZY]
