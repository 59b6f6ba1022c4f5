"""The top-K backbones by name: ``lightgcn``, ``bpr-mf`` (LightGCN with 0 layers: matrix factorisation with
the same BPR loss and L2), ``multvae``, ``neumf``; each with its paper's training defaults."""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Union

import torch
from torch import nn

from lightfmp.errors import InputError
from lightfmp.topk.config import LIGHTGCN_FIT, MULTVAE_FIT, NEUMF_FIT, TopKFitConfig
from lightfmp.topk.data import InteractionData
from lightfmp.topk.lightgcn import LightGCN, LightGCNConfig
from lightfmp.topk.multvae import MultVAE, MultVAEConfig
from lightfmp.topk.neumf import NeuMF, NeuMFConfig
from lightfmp.topk.protocols import LeaveOneOutData

TOPK_MODELS = ("lightgcn", "bpr-mf", "multvae", "neumf")
_CONFIGS: dict[str, Any] = {"lightgcn": LightGCNConfig(), "bpr-mf": LightGCNConfig(layers=0),
                            "multvae": MultVAEConfig(), "neumf": NeuMFConfig()}
_FITS = {"lightgcn": LIGHTGCN_FIT, "bpr-mf": LIGHTGCN_FIT, "multvae": MULTVAE_FIT, "neumf": NEUMF_FIT}


def _check(name: str) -> None:
    if name not in TOPK_MODELS:
        raise InputError(f"unknown top-K model {name!r}: expected one of {', '.join(TOPK_MODELS)}")


def build_topk_model(name: str, data: Union[InteractionData, LeaveOneOutData], seed: int | None = None,
                     **overrides: Any) -> nn.Module:
    """A fresh model for ``data``'s id spaces and training graph; ``overrides`` replace config fields.
    ``seed`` makes the initialisation reproducible without touching the global torch generator."""
    _check(name)
    cfg = replace(_CONFIGS[name], **overrides)
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        if name in ("lightgcn", "bpr-mf"):
            return LightGCN(data.train, data.num_items, cfg)
        if name == "multvae":
            return MultVAE(data.train, data.num_items, cfg)
        return NeuMF(data.num_users, data.num_items, cfg)


def paper_fit_config(name: str, **overrides: Any) -> TopKFitConfig:
    """The paper's training defaults for ``name`` (`lightfmp.topk.config`), with ``overrides``."""
    _check(name)
    return replace(_FITS[name], **overrides)
