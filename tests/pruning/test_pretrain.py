"""Phase 1 (paper Section 2.3, Algorithm 1): the held-out choice of the backbone weights and the
mask-stability convergence test of ``lightfmp.pruning.pretrain``."""
import numpy as np
import pytest
import torch
from torch.nn.functional import binary_cross_entropy_with_logits as bce

from lightfmp.errors import NonFiniteLossError
from lightfmp.models import ModelConfig, build_model
from lightfmp.pruning.pretrain import PretrainConfig, pretrain

V = 300  # values per field: 600 rows see each about twice, so a fit can only memorise


def _noise(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(2, V, size=(rows, 4)).astype(np.int32), (rng.random(rows) < 0.3).astype(np.float32)


def _pretrain(holdout: float):
    torch.manual_seed(0)
    # Xavier (std ~0.06 here), not the 1e-4 default: this backbone must still be memorising, its loss
    # falling by more than settle_rtol a pass, when the mask settles.
    model = build_model("dnn", [V] * 4, ModelConfig(embed_dim=8, hidden=(64, 32), embed_init_std=None))
    X, y = _noise(600, 0)
    cfg = PretrainConfig(prune_ratio=0.25, lr=1e-2, batch_size=64, max_steps=300, min_steps=40, warmup_steps=20,
                         rare_min_count=1, holdout=holdout)
    _, res = pretrain(model, X, y, cfg, seed=0)
    model.gate = None
    Xf, yf = _noise(2000, 1)
    with torch.no_grad():
        fresh = float(bce(model(torch.as_tensor(Xf, dtype=torch.long)), torch.as_tensor(yf)))
    return res, fresh


def test_heldout_rows_choose_the_backbone_weights_before_memorisation():
    """Labels are pure noise: every step past the first few only memorises D_S. Without the held-out
    choice the returned backbone is overconfident on fresh rows; with it, it is close to the base rate."""
    res, fresh = _pretrain(holdout=0.2)
    held = [h["holdout_loss"] for h in res.history]
    assert res.weights_step == res.history[int(np.argmin(held))]["step"] < res.steps
    res0, fresh0 = _pretrain(holdout=0.0)
    assert res0.weights_step == res0.steps and "holdout_loss" not in res0.history[0]
    base = -(0.3 * np.log(0.3) + 0.7 * np.log(0.7))  # 0.611, the loss of predicting the base rate
    assert fresh < base + 0.05 < fresh0


def test_a_stable_mask_ends_pretraining_while_the_loss_still_falls():
    """The memorising backbone's loss never settles; the kept set does, and that counts as convergence."""
    res, _ = _pretrain(holdout=0.2)
    assert res.converged and res.steps < 300
    kept = [h["kept"] for h in res.history]
    assert kept[-1] == kept[-2] == kept[-3] and len(kept[-1]) == 3  # 4 fields, round(0.25 * 4) = 1 pruned
    losses = [h["loss"] for h in res.history]
    assert abs(losses[-1] - losses[-2]) > PretrainConfig().settle_rtol * losses[-2]  # the loss test did not fire


def test_the_restored_weights_are_those_of_the_chosen_pass_and_unseen_rows_never_move():
    """The held-out snapshot keeps only table rows D_S looks up; that is exact because no other row moves
    (checked here with dense Adam, which would move a row only if it ever had a gradient)."""
    from lightfmp.pruning import pretrain as pt

    torch.manual_seed(0)
    model = build_model("widedeep", [V + 50] * 4, ModelConfig(embed_dim=8, hidden=(16,)))
    init = {k: v.detach().clone() for k, v in model.state_dict().items()}
    X, y = _noise(600, 0)  # ids < V: rows V..V+49 of each field are never looked up
    cfg = PretrainConfig(prune_ratio=0.25, lr=1e-2, batch_size=64, max_steps=120, min_steps=40, warmup_steps=20,
                         rare_min_count=1, holdout=0.2, sparse_embeddings=False)
    snaps = []
    real_snapshot = pt._snapshot

    def spy(m, rows):
        snaps.append({k: v.detach().clone() for k, v in m.state_dict().items() if not k.startswith("gate.")})
        return real_snapshot(m, rows)

    pt._snapshot = spy
    try:
        _, res = pretrain(model, X, y, cfg, seed=0)
    finally:
        pt._snapshot = real_snapshot
    assert res.weights_step < res.steps and snaps
    chosen = snaps[-1]  # the last improvement is the pass whose weights are kept
    after = {k: v for k, v in model.state_dict().items() if not k.startswith("gate.")}
    assert all(torch.equal(after[k], chosen[k]) for k in chosen)
    for name, mod in model.named_modules():
        if hasattr(mod, "offsets") and hasattr(mod, "weight"):
            unseen = torch.cat([torch.arange(o + V, o + V + 50) for o in mod.offsets.tolist()])
            key = f"{name}.weight"
            assert torch.equal(after[key][unseen], init[key][unseen])
            assert not torch.equal(after[key], init[key])


def test_unknown_share_is_what_pretraining_read_as_oov():
    """Per field: rows whose value is OOV in the vocabulary or hidden by the rare-value guard."""
    rows = 200
    unique = np.arange(2, 2 + rows)                      # every value seen once: all hidden at min count 5
    frequent = np.repeat(np.arange(2, 6), rows // 4)     # each value 50 times: none hidden...
    frequent[:20] = 0                                    # ...but 10% of the rows are OOV already
    missing = np.ones(rows, dtype=np.int64)              # the missing id is not an unknown value
    X = np.stack([unique, frequent, missing], axis=1).astype(np.int32)
    y = (np.arange(rows) % 3 == 0).astype(np.float32)
    model = build_model("dnn", [rows + 2, 6, 2], ModelConfig(embed_dim=4, hidden=(8,)))
    cfg = PretrainConfig(prune_ratio=0.34, max_steps=4, min_steps=1, warmup_steps=1, holdout=0.0, rare_min_count=5)
    _, res = pretrain(model, X, y, cfg, seed=0)
    assert np.allclose(res.unknown_share, [1.0, 0.1, 0.0])


def test_max_steps_ends_mid_pass_and_a_bad_loss_names_its_pass():
    """Pretraining runs the shared training loop: `max_steps` cuts a pass short, and the one divergence
    error names the step, the pass (epoch) and its step."""
    X, y = _noise(600, 0)  # 570 rows trained on after the 5% held out: 9 steps of 64 a pass
    cfg = PretrainConfig(batch_size=64, max_steps=12, min_steps=1, warmup_steps=1, rare_min_count=1)
    _, res = pretrain(build_model("dnn", [V] * 4), X, y, cfg, seed=0)
    assert (res.steps, res.converged, [h["step"] for h in res.history]) == (12, False, [9, 12])
    y[:] = np.nan
    with pytest.raises(NonFiniteLossError, match=r"^pretraining: the loss is nan at step 1 \(epoch 1, step 1 of 9\)"):
        pretrain(build_model("dnn", [V] * 4), X, y, cfg, seed=0)
