"""`TopKFitConfig`: how `fit_topk` trains and selects, and the papers' training defaults per model."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TopKFitConfig:
    """Training and model selection for the top-K task.

    Attributes:
        epochs: the epoch budget.
        lr, weight_decay: Adam's (weight decay 0 in all three papers' code; LightGCN's L2 is in its loss).
        batch_size: training pairs (LightGCN, NeuMF) or users (MultVAE) per step.
        eval_every: validate every this many epochs (and after the last); patience counts validations.
        patience: stop after this many validations without a better ``select_on``.
        select_on: the validation metric that picks the best epoch (`lightfmp.tasks.TOPK.select_on`).
        ks: the cut-offs of the ranking metrics.
        seed: seeds torch (initialisation, dropout, VAE noise) and numpy (shuffles, negatives).
        device: where the model trains and scores.
        eval_batch_size: users scored at a time.
    """

    epochs: int = 100
    lr: float = 1e-3
    batch_size: int = 2048
    weight_decay: float = 0.0
    eval_every: int = 1
    patience: int = 10
    select_on: str = "recall@20"
    ks: tuple[int, ...] = (20,)
    seed: int = 2020
    device: str = "cpu"
    eval_batch_size: int = 1024


# The papers' training defaults (what `paper_fit_config` returns); a CPU bench shortens `epochs`.
# LightGCN: Adam 1e-3, batch 2048, 1000 epochs (its PyTorch code; DSL: 1e-2 cosine-decayed, batch 1024).
LIGHTGCN_FIT = TopKFitConfig(epochs=1000, lr=1e-3, batch_size=2048, eval_every=10, patience=5)
# MultVAE: Adam 1e-3, 500 users a batch, 200 epochs, best validation NDCG@100 in the paper (Recall@20 here).
MULTVAE_FIT = TopKFitConfig(epochs=200, lr=1e-3, batch_size=500, eval_every=1, patience=20)
# NeuMF: Adam 1e-3 (NCF; DSL's 1e-4 is ten times slower), batch 512 (DSL), 200 epochs validated every 5 (DSL).
NEUMF_FIT = TopKFitConfig(epochs=200, lr=1e-3, batch_size=512, eval_every=5, patience=5)
