"""The six backbones and their registry.

``build_model(name, vocab_sizes, cfg)`` builds one; ``from_build_args(model.build_args())`` rebuilds
it (then load the state dict), which is how a run folder stores a model.
"""
from __future__ import annotations

from typing import Any, Sequence

from lightfmp.models.base import CTRModel
from lightfmp.models.config import ModelConfig
from lightfmp.models.dcn import DCN
from lightfmp.models.deepfm import DeepFM
from lightfmp.models.dnn import DNN
from lightfmp.models.pnn import PNN
from lightfmp.models.wide_deep import WideDeep
from lightfmp.models.xdeepfm import XDeepFM

MODELS: dict[str, type[CTRModel]] = {m.name: m for m in (DNN, WideDeep, DeepFM, XDeepFM, PNN, DCN)}


def build_model(name: str, vocab_sizes: Sequence[int], cfg: ModelConfig = ModelConfig()) -> CTRModel:
    """A fresh backbone by registry name (dnn, widedeep, deepfm, xdeepfm, pnn, dcn)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return MODELS[name](list(vocab_sizes), cfg)


def from_build_args(args: dict[str, Any]) -> CTRModel:
    """Inverse of ``CTRModel.build_args()``: a fresh model with freshly initialised weights."""
    missing = {"name", "vocab_sizes", "cfg"} - set(args)
    if missing:
        raise ValueError(f"model build args miss keys {sorted(missing)}")
    return build_model(args["name"], args["vocab_sizes"], ModelConfig.from_dict(dict(args["cfg"])))


__all__ = [
    "CTRModel",
    "DCN",
    "DNN",
    "DeepFM",
    "MODELS",
    "ModelConfig",
    "PNN",
    "WideDeep",
    "XDeepFM",
    "build_model",
    "from_build_args",
]
