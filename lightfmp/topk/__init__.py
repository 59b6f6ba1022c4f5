"""Top-K recommendation from implicit feedback (DSL's setting): data, protocols, dense backbones, training.

The pipeline calls::

    from lightfmp.topk import load_movielens_100k, build_topk_model, paper_fit_config, fit_topk, evaluate_topk
    data = load_movielens_100k("../shared/data/movielens_100k")
    model = build_topk_model("lightgcn", data)
    fit = fit_topk(model, data, paper_fit_config("lightgcn"))
    test = evaluate_topk(model, data, "test")          # recall@20, ndcg@20
"""
from __future__ import annotations

from lightfmp.topk.config import TopKFitConfig
from lightfmp.topk.data import InteractionData, Interactions, load_gowalla, load_movielens_100k, random_split
from lightfmp.topk.lightgcn import LightGCN, LightGCNConfig
from lightfmp.topk.models import TOPK_MODELS, build_topk_model, paper_fit_config
from lightfmp.topk.multvae import MultVAE, MultVAEConfig
from lightfmp.topk.neumf import NeuMF, NeuMFConfig
from lightfmp.topk.protocols import LeaveOneOutData, leave_one_out, strong_generalisation
from lightfmp.topk.train import TopKFit, evaluate_topk, fit_topk

__all__ = ["InteractionData", "Interactions", "LeaveOneOutData", "LightGCN", "LightGCNConfig", "MultVAE",
           "MultVAEConfig", "NeuMF", "NeuMFConfig", "TOPK_MODELS", "TopKFit", "TopKFitConfig", "build_topk_model",
           "evaluate_topk", "fit_topk", "leave_one_out", "load_gowalla", "load_movielens_100k", "paper_fit_config",
           "random_split", "strong_generalisation"]
