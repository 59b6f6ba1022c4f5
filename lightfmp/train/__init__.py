"""Training: batching, the optimizer, one epoch, evaluation, and `fit` with early stopping."""
from lightfmp.train.config import TrainConfig
from lightfmp.train.loop import EvalResult, NonFiniteLossError, evaluate, predict_logits, train_epoch
from lightfmp.train.trainer import FitResult, fit, seed_everything

__all__ = ["TrainConfig", "EvalResult", "FitResult", "NonFiniteLossError", "evaluate", "fit", "predict_logits",
           "seed_everything", "train_epoch"]
