"""The six backbones and their registry.

``build_model(name, vocab_sizes, cfg)`` builds one; ``from_build_args(model.build_args())`` rebuilds
it (then load the state dict), which is how a run folder stores a model. The registry names each
backbone's module and class (`BACKBONES`), so the names are known without importing torch (the CLI's
choices, `prepare` and every --help); the classes load on first use.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any, Sequence

from lightfmp.models.config import ModelConfig

# name -> (module under lightfmp.models, class): one line adds a backbone
BACKBONES: dict[str, Any] = {
    "dnn": ("dnn", "DNN"), "widedeep": ("wide_deep", "WideDeep"), "deepfm": ("deepfm", "DeepFM"),
    "xdeepfm": ("xdeepfm", "XDeepFM"), "pnn": ("pnn", "PNN"), "dcn": ("dcn", "DCN"),
}
MODEL_NAMES = tuple(BACKBONES)


def model_class(name: str) -> Any:
    """The backbone class registered as ``name``."""
    if name not in BACKBONES:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(BACKBONES)}")
    entry = BACKBONES[name]
    if not isinstance(entry, tuple):  # a class registered directly (tests, user extensions)
        return entry
    module, cls = entry
    return getattr(import_module(f"lightfmp.models.{module}"), cls)


def build_model(name: str, vocab_sizes: Sequence[int], cfg: ModelConfig = ModelConfig()) -> Any:
    """A fresh backbone by registry name (dnn, widedeep, deepfm, xdeepfm, pnn, dcn)."""
    return model_class(name)(list(vocab_sizes), cfg)


def from_build_args(args: dict[str, Any]) -> Any:
    """Inverse of ``CTRModel.build_args()``: a fresh model with freshly initialised weights."""
    missing = {"name", "vocab_sizes", "cfg"} - set(args)
    if missing:
        raise ValueError(f"model build args miss keys {sorted(missing)}")
    return build_model(args["name"], args["vocab_sizes"], ModelConfig.from_dict(dict(args["cfg"])))


def __getattr__(name: str) -> Any:  # the torch parts, loaded on first use
    if name == "MODELS":
        return {n: model_class(n) for n in BACKBONES}
    if name == "CTRModel":
        return import_module("lightfmp.models.base").CTRModel
    for n, entry in BACKBONES.items():
        if isinstance(entry, tuple) and entry[1] == name:
            return model_class(n)
    raise AttributeError(f"module 'lightfmp.models' has no attribute {name!r}")


__all__ = ["BACKBONES", "CTRModel", "DCN", "DNN", "DeepFM", "MODELS", "MODEL_NAMES", "ModelConfig", "PNN",
           "WideDeep", "XDeepFM", "build_model", "from_build_args", "model_class"]
