"""SparseTraining through a training loop: exact density after every step, regrown at zero, the
Adam-moment switch, the sparse-gradient (RowAdam) path, and fit's on_step hook."""
import numpy as np
import pytest
import torch
from torch import nn

from lightfmp.errors import InputError
from lightfmp.nn.embedding import FieldEmbedding
from lightfmp.sparse import SparseTraining, UpdateSchedule, active_count
from lightfmp.train import TrainConfig, fit
from lightfmp.train.optim import build_optimizer
from lightfmp.train.row_adam import RowAdam


class Tiny(nn.Module):
    def __init__(self, vocab=(30, 30, 30), dim=4):
        super().__init__()
        self.embedding = FieldEmbedding(list(vocab), dim, init_std=0.1)
        self.mlp = nn.Sequential(nn.Linear(dim * len(vocab), 16), nn.ReLU(), nn.Linear(16, 1))

    def forward(self, x):
        return self.mlp(self.embedding(x).flatten(1)).squeeze(-1)


def _data(n=2000, seed=0):
    r = np.random.default_rng(seed)
    X = r.integers(0, 30, (n, 3)).astype(np.int32)
    y = ((X[:, 0] % 2) == (X[:, 1] % 2)).astype(np.float32)
    return X, y


def _steps(model, opt, st, n_steps, batch=64, seed=0):
    X, y = _data(seed=seed)
    X, y = torch.from_numpy(X).long(), torch.from_numpy(y)
    for step in range(1, n_steps + 1):
        i = (step * batch) % (len(y) - batch)
        loss = nn.functional.binary_cross_entropy_with_logits(model(X[i:i + batch]), y[i:i + batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
        before = {n: m.clone() for n, m in st.masks.items()}
        changed = st.after_step(step, n_steps, opt)
        yield step, before, changed


@pytest.mark.parametrize("variant", ["dsl", "set", "static", "magnitude-init"])
def test_density_exact_after_every_step(variant):
    torch.manual_seed(0)
    model = Tiny()
    st = SparseTraining(model, 0.2, variant=variant, schedule=UpdateSchedule(interval=3))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    want = {n: active_count(p.numel(), 0.2) for n, p in st.params.items()}
    updates = 0
    for _, _, changed in _steps(model, opt, st, 30):
        updates += changed
        for n, p in st.params.items():
            assert int(st.masks[n].sum()) == want[n]
            assert not p[~st.masks[n]].any()  # every inactive weight is exactly zero
            assert int((p != 0).sum()) <= want[n]
    assert updates == (9 if variant in ("dsl", "set") else 0)
    assert all(not n.endswith("bias") for n in st.names)


def test_regrown_weights_start_at_zero_and_masks_move():
    torch.manual_seed(0)
    model = Tiny()
    st = SparseTraining(model, 0.3, schedule=UpdateSchedule(interval=5))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    grown_total = 0
    for _, before, changed in _steps(model, opt, st, 20):
        if changed:
            for n, p in st.params.items():
                grown = st.masks[n] & ~before[n]
                grown_total += int(grown.sum())
                assert not p[grown].any()  # regrown at zero
    assert grown_total > 0 and st.updates == 3
    assert st.stats()["fired_ratio"] > 0.3


@pytest.mark.parametrize("mask_moments", [False, True])
def test_adam_moment_switch(mask_moments):
    torch.manual_seed(0)
    model = Tiny()
    st = SparseTraining(model, 0.2, variant="static", mask_moments=mask_moments)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in _steps(model, opt, st, 5):
        pass
    name = "mlp.0.weight"
    p, off = st.params[name], ~st.masks[name]
    m, v = opt.state[p]["exp_avg"], opt.state[p]["exp_avg_sq"]
    if mask_moments:
        assert not m[off].any() and not v[off].any()
    else:  # DSL's code: inactive weights keep their moments
        assert m[off].abs().sum() > 0 and v[off].abs().sum() > 0
    assert m[~off].abs().sum() > 0  # active entries are never touched


def test_row_adam_tables_keep_the_density():
    torch.manual_seed(0)
    model = Tiny()
    opt = build_optimizer(model, TrainConfig(sparse_embeddings=True))
    assert any(isinstance(o, RowAdam) for o in opt.optimizers) and model.embedding.sparse
    st = SparseTraining(model, 0.25, schedule=UpdateSchedule(interval=4), mask_moments=True)
    for _ in _steps(model, opt, st, 16):
        mask = st.masks["embedding.weight"]
        w = model.embedding.weight
        assert int(mask.sum()) == active_count(w.numel(), 0.25) and not w[~mask].any()
    row_state = [o for o in opt.optimizers if isinstance(o, RowAdam)][0].state[model.embedding.weight]
    assert not row_state["exp_avg"][~st.masks["embedding.weight"]].any()
    assert st.updates == 3


def test_fit_hook_gets_the_step_the_total_and_the_optimizer():
    X, y = _data()
    seen = []
    torch.manual_seed(0)
    model = Tiny()
    cfg = TrainConfig(batch_size=100, epochs=2, patience=5)
    fit(model, (X[:1500], y[:1500]), None, cfg, progress=False,
        on_step=lambda st, opt: seen.append((st.step, st.total_steps, hasattr(opt, "optimizers"))))
    assert [s[0] for s in seen] == list(range(1, 31)) and {s[1] for s in seen} == {30} and all(s[2] for s in seen)


def test_fit_with_a_no_op_hook_is_bit_identical():
    X, y = _data()
    outs = []
    for hook in (None, lambda st, opt: None):
        torch.manual_seed(0)
        model = Tiny()
        fit(model, (X[:1500], y[:1500]), (X[1500:], y[1500:]), TrainConfig(batch_size=100, epochs=2), progress=False,
            on_step=hook)
        outs.append({k: v.clone() for k, v in model.state_dict().items()})
    assert all(torch.equal(outs[0][k], outs[1][k]) for k in outs[0])


def test_sync_to_weights_after_a_restored_best_epoch():
    X, y = _data()
    torch.manual_seed(0)
    model = Tiny()
    st = SparseTraining(model, 0.2, schedule=UpdateSchedule(interval=5))
    fit(model, (X[:1500], y[:1500]), (X[1500:], y[1500:]), TrainConfig(batch_size=50, epochs=4, patience=1),
        progress=False, on_step=st.fit_hook())
    st.sync_to_weights()
    for n, p in st.params.items():
        assert int(st.masks[n].sum()) == active_count(p.numel(), 0.2) and not p[~st.masks[n]].any()


def test_bad_density_and_names_are_one_line_errors():
    with pytest.raises(InputError, match="density"):
        SparseTraining(Tiny(), 0.0)
    with pytest.raises(InputError, match="no parameter named"):
        SparseTraining(Tiny(), 0.5, names=["nope.weight"])


def test_state_dict_restores_the_masks_for_a_resume():
    torch.manual_seed(0)
    model = Tiny()
    st = SparseTraining(model, 0.3, schedule=UpdateSchedule(interval=2), seed=1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in _steps(model, opt, st, 6):
        pass
    saved = st.state_dict()
    other = SparseTraining(Tiny(), 0.3, seed=2)  # different first masks
    other.load_state_dict(saved)
    assert all(torch.equal(other.masks[n], st.masks[n]) for n in st.names) and other.updates == st.updates == 2
    assert all(not p[~other.masks[n]].any() for n, p in other.params.items())


def test_erk_allocation_holds_each_tensors_count():
    torch.manual_seed(0)
    model = Tiny()
    st = SparseTraining(model, 0.2, allocation="erk", schedule=UpdateSchedule(interval=3))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    want = {n: active_count(p.numel(), st.densities[n]) for n, p in st.params.items()}
    assert st.densities["embedding.weight"] > st.densities["mlp.0.weight"]
    assert abs(sum(want.values()) - 0.2 * sum(p.numel() for p in st.params.values())) <= len(want)
    for _ in _steps(model, opt, st, 12):
        assert all(int(st.masks[n].sum()) == want[n] for n in st.names)
    with pytest.raises(InputError, match="allocation"):
        SparseTraining(Tiny(), 0.2, allocation="nope")
