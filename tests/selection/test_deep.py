"""The deep selectors on tiny planted data: finite scores, the right support size, the retrain model."""
import numpy as np
import pytest
import torch

from lightfmp.models.config import ModelConfig
from lightfmp.selection import SELECTORS, SelectorConfig
from lightfmp.selection.optem import BinaryStep
from lightfmp.train.config import TrainConfig

DEEP = ["autofield", "adafs", "mvfs", "optfs", "optem", "lightfmp"]


def small_cfg(**kw):
    return SelectorConfig(model_name="dnn", model_cfg=ModelConfig(embed_dim=4, hidden=(16,)),
                          train_cfg=TrainConfig(lr=3e-3, batch_size=256, epochs=2, patience=1, seed=0),
                          prune_ratio=0.5, search_epochs=2, **kw)


@pytest.fixture(scope="module")
def fitted(planted):
    from lightfmp.pruning.pretrain import PretrainConfig

    quick = PretrainConfig(max_steps=60, min_steps=20, warmup_steps=10)
    opts = {"lightfmp": {"pretrain_size": 500, "pretrain_config": quick}}
    return {m: SELECTORS[m](**opts.get(m, {})).fit(planted, cfg=small_cfg()) for m in DEEP}


@pytest.mark.parametrize("method", DEEP)
def test_scores_finite_and_support(fitted, method):
    sel = fitted[method]
    assert sel.scores_.shape == (6,) and np.all(np.isfinite(sel.scores_))
    assert len(sel.get_support(0.5)) == 3
    assert sel.stage in ("two-stage", "single-stage")


@pytest.mark.parametrize("method", ["optfs", "optem"])
def test_value_methods_retrain_model_masks_values(fitted, planted, method):
    sel = fitted[method]
    keep = sel.get_support(0.5)
    model = sel.retrain_model(planted, keep)
    X = torch.as_tensor(planted.split("test")[0][:, keep], dtype=torch.long)
    model.eval()
    out = model(X)
    assert out.shape == (X.shape[0],) and torch.isfinite(out).all()
    z = model.gate(X, model.embedding(X))
    assert set(torch.unique(z).tolist()) <= {0.0, float(model.gate.mask.max())}


@pytest.mark.parametrize("method", ["adafs", "mvfs"])
def test_single_stage_model_keeps_every_field(fitted, planted, method):
    sel = fitted[method]
    assert sel.model_.num_fields == 6 and sel.model_.gate is not None
    X = torch.as_tensor(planted.split("test")[0], dtype=torch.long)
    sel.model_.eval()
    z = sel.model_.gate(X, sel.model_.embedding(X))
    assert z.shape == X.shape  # per-sample gates


def test_adafs_hard_keeps_k_per_sample(fitted, planted):
    model = fitted["adafs"].model_
    X = torch.as_tensor(planted.split("test")[0], dtype=torch.long)
    model.eval()
    z = model.gate(X, model.embedding(X))
    assert torch.all((z > 0).sum(1) == 3)


def test_autofield_learns_informative_fields(planted):
    from dataclasses import replace

    # 8 search epochs: from the default N(0, 1e-4) embeddings the gates' gradient (proportional to the
    # embedding) is small at first; 4 epochs were enough from Xavier (std ~0.07 here), not from 1e-4.
    sel = SELECTORS["autofield"](arch_lr=3e-2, update_frequency=1).fit(planted, cfg=replace(small_cfg(), search_epochs=8))
    assert set(sel.get_support(2 / 3)) == {0, 1}, sel.scores_


def test_binary_step_surrogate_gradient():
    x = torch.tensor([-2.0, -0.5, -0.1, 0.0, 0.2, 0.7, 1.5], requires_grad=True)
    y = BinaryStep.apply(x)
    assert y.tolist() == [0, 0, 0, 0, 1, 1, 1]
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0, 0.4, 1.6, 2.0, 1.2, 0.4, 0], atol=1e-6)
