import math

import numpy as np
import pytest
import torch

from lightfmp.train import EvalResult, NonFiniteLossError, TrainConfig, evaluate, fit
from lightfmp.train.batching import DeviceBatches
from lightfmp.train.optim import build_optimizer

from tests.train.conftest import TinyCTR


@pytest.mark.parametrize("sparse", [True, False])
def test_fit_converges_on_separable_data(tiny, splits, sparse):
    train, valid, test = splits
    cfg = TrainConfig(lr=1e-2, batch_size=256, epochs=8, patience=2, sparse_embeddings=sparse)
    res = fit(tiny, train, valid, cfg, progress=False)
    ev = evaluate(tiny, *test)
    assert isinstance(ev, EvalResult)
    assert ev.auc > 0.97, (sparse, res.history)
    assert res.best_val_auc > 0.97
    assert 1 <= res.best_epoch <= res.epochs_run <= 8
    assert res.train_seconds > 0 and res.eval_seconds > 0
    assert res.total_seconds >= res.train_seconds + res.eval_seconds
    assert res.samples_per_second == pytest.approx(3000 * res.epochs_run / res.train_seconds)
    # fit restores the tables' sparse flags it found
    assert tiny.embedding.sparse is False


def test_sparse_mode_uses_row_adam_and_dense_mode_does_not(tiny):
    opt = build_optimizer(tiny, TrainConfig(sparse_embeddings=True))
    kinds = [type(o).__name__ for o in opt.optimizers]
    assert kinds == ["Adam", "RowAdam"]
    assert tiny.embedding.sparse and tiny.linear.sparse
    n_dense = sum(p.numel() for g in opt.optimizers[0].param_groups for p in g["params"])
    assert n_dense == sum(p.numel() for p in tiny.mlp.parameters())
    opt = build_optimizer(tiny, TrainConfig(sparse_embeddings=False))
    assert [type(o).__name__ for o in opt.optimizers] == ["Adam"]
    assert not tiny.embedding.sparse


def test_default_picks_dense_adam_for_small_tables_and_row_adam_for_large_ones():
    from lightfmp.models import ModelConfig, build_model
    small = build_model("deepfm", [50, 50], ModelConfig(embed_dim=4, hidden=(8,)))
    opt = build_optimizer(small, TrainConfig())
    assert [type(o).__name__ for o in opt.optimizers] == ["Adam"]
    assert not small.embedding.sparse and not small.linear.sparse
    # 300,000 rows x 4 = 1.2M embedding parameters: row-wise; the 300,000-row linear table stays dense
    big = build_model("deepfm", [150_000, 150_000], ModelConfig(embed_dim=4, hidden=(8,)))
    opt = build_optimizer(big, TrainConfig())
    assert [type(o).__name__ for o in opt.optimizers] == ["Adam", "RowAdam"]
    assert big.embedding.sparse and not big.linear.sparse
    build_optimizer(big, TrainConfig(device="cuda"))
    assert big.embedding.sparse is False  # CUDA default: dense everywhere
    build_optimizer(small, TrainConfig(dense_table_max_params=10))
    assert small.embedding.sparse and small.linear.sparse


def test_sparse_update_leaves_untouched_rows_alone(tiny):
    before = tiny.embedding.weight.detach().clone()
    X = np.zeros((64, 3), dtype=np.int32)  # touches row 0 of each field only
    y = np.ones(64, dtype=np.float32)
    fit(tiny, (X, y), None, TrainConfig(epochs=1, batch_size=64, embed_l2=1e-3), progress=False)
    after = tiny.embedding.weight.detach()
    touched = tiny.embedding.offsets
    changed = (after != before).any(1)
    assert changed[touched].all()
    changed[touched] = False
    assert not changed.any()


def test_early_stopping_restores_best_state(tiny, splits, monkeypatch):
    import lightfmp.train.trainer as trainer

    train, valid, _ = splits
    scores = iter([0.6, 0.9, 0.7, 0.65, 0.95])  # best at epoch 2, patience 2 stops after epoch 4
    snapshots = {}

    def fake_evaluate(model, rows, batch_size, device):
        epoch = len(snapshots) + 1
        snapshots[epoch] = {k: v.clone() for k, v in model.state_dict().items()}
        return EvalResult(auc=next(scores), logloss=0.5, seconds=0.0, samples_per_second=0.0)

    monkeypatch.setattr(trainer, "evaluate_rows", fake_evaluate)
    res = fit(tiny, train, valid, TrainConfig(lr=1e-2, batch_size=512, epochs=5, patience=2), progress=False)
    assert res.best_epoch == 2 and res.epochs_run == 4 and res.best_val_auc == 0.9
    assert [h["val_auc"] for h in res.history] == [0.6, 0.9, 0.7, 0.65]
    for k, v in tiny.state_dict().items():
        torch.testing.assert_close(v, snapshots[2][k])
        if k == "embedding.weight":
            assert not torch.equal(v, snapshots[4][k])


def test_nan_loss_names_epoch_and_step(tiny, splits):
    train, valid, _ = splits
    calls = {"n": 0}

    def explode():
        calls["n"] += 1
        return torch.tensor(float("nan") if calls["n"] == 3 else 0.0)

    with pytest.raises(NonFiniteLossError, match=r"epoch 1, step 3 of 6"):
        fit(tiny, train, valid, TrainConfig(batch_size=512, epochs=2), extra_loss=explode, progress=False)


def test_extra_loss_and_ascent_group(tiny, splits):
    """A negative-lr group rises along its gradient; a positive one descends."""
    train, _, _ = splits
    up = torch.nn.Parameter(torch.zeros(()))
    down = torch.nn.Parameter(torch.zeros(()))
    res = fit(tiny, train, None, TrainConfig(batch_size=512, epochs=1),
              extra_loss=lambda: up * 1.0 + down * 1.0,
              extra_param_groups=[{"params": [up], "lr": -0.1}, {"params": [down], "lr": 0.1}], progress=False)
    assert res.epochs_run == 1 and math.isnan(res.best_val_auc)
    assert up.item() > 0.3 and down.item() < -0.3  # 6 Adam steps of ~0.1 each


def test_gate_params_in_model_are_not_stepped_twice(tiny, splits):
    tiny.gate = torch.nn.Linear(1, 1)  # stands in for a gate module holding parameters
    extra = [{"params": list(tiny.gate.parameters()), "lr": 0.5}]
    opt = build_optimizer(tiny, TrainConfig(), extra)
    seen = [id(p) for o in opt.optimizers for g in o.param_groups for p in g["params"]]
    assert len(seen) == len(set(seen)) == len(list(tiny.parameters()))
    assert opt.optimizers[0].param_groups[1]["lr"] == 0.5


def test_seeded_fit_is_deterministic(splits):
    train, valid, test = splits
    outs = []
    for _ in range(2):
        torch.manual_seed(1)
        m = TinyCTR([20, 20, 20])
        fit(m, train, valid, TrainConfig(batch_size=512, epochs=2, seed=7), progress=False)
        outs.append(evaluate(m, *test).logloss)
    assert outs[0] == outs[1]


def test_batches_cover_every_row_once_per_epoch():
    X = np.arange(10, dtype=np.int32).reshape(10, 1)
    y = np.arange(10, dtype=np.float32)
    b = DeviceBatches(X, y, batch_size=4, seed=3)
    assert len(b) == 3
    got = torch.cat([xb[:, 0] for xb, _ in b])
    assert sorted(got.tolist()) == list(range(10)) and got.tolist() != list(range(10))
    for xb, yb in b:
        assert xb.dtype == torch.int32 and torch.equal(xb[:, 0].float(), yb)


def test_evaluate_keeps_training_mode_and_matches_sklearn(tiny, splits):
    from sklearn.metrics import log_loss, roc_auc_score

    _, _, (X, y) = splits
    tiny.train()
    ev = evaluate(tiny, X, y, batch_size=len(X))  # one batch: the same float32 logits as below
    assert tiny.training
    with torch.no_grad():
        tiny.eval()
        logits = tiny(torch.from_numpy(X)).double().numpy()
    p = 1.0 / (1.0 + np.exp(-logits))
    assert ev.auc == pytest.approx(roc_auc_score(y, p), abs=1e-6)
    assert ev.logloss == pytest.approx(log_loss(y, p), abs=1e-6)
