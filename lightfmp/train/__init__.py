"""Training: batching, the optimizer, the one training loop, evaluation, and `fit` with early stopping."""
from lightfmp.train.config import TrainConfig
from lightfmp.train.loop import (EvalResult, LoopState, NonFiniteLossError, evaluate, predict_logits, train_epoch,
                                 train_loop, train_step)
from lightfmp.train.trainer import FitResult, fit, seed_everything

__all__ = ["TrainConfig", "EvalResult", "FitResult", "LoopState", "NonFiniteLossError", "evaluate", "fit",
           "predict_logits", "seed_everything", "train_epoch", "train_loop", "train_step"]
