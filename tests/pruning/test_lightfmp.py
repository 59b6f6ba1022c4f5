"""The Light-FMP pipeline (paper Sections 2.3-2.6) on small prepared data."""
import numpy as np
import pytest
import torch

from lightfmp.data.dataset import PreparedData
from lightfmp.data.schema import OOV_ID
from lightfmp.models import ModelConfig
from lightfmp.pruning.gates import FixedMask
from lightfmp.pruning.lightfmp import LightFMP, count_params, num_pruned_fields
from lightfmp.pruning.pretrain import rare_values_to_oov
from lightfmp.pruning.steps import cut
from lightfmp.train import TrainConfig

SMALL = ModelConfig(embed_dim=8, hidden=(64, 32))
FAST = TrainConfig(epochs=1, batch_size=2048)


def test_num_pruned_fields_rounds_half_up_and_keeps_one():
    assert num_pruned_fields(39, 0.5) == 20 and num_pruned_fields(39, 0.25) == 10
    assert num_pruned_fields(24, 0.5) == 12 and num_pruned_fields(4, 0.0) == 0
    assert num_pruned_fields(3, 0.99) == 2
    with pytest.raises(ValueError):
        num_pruned_fields(3, 1.0)


def test_rare_values_to_oov_counts_inside_the_subset():
    X = np.array([[2, 1], [2, 5], [3, 5], [4, 1]], dtype=np.int32)
    out = rare_values_to_oov(X, min_count=2)
    assert out.tolist() == [[2, 1], [2, 5], [OOV_ID, 5], [OOV_ID, 1]]  # missing (1) is never remapped
    assert rare_values_to_oov(X, 1).tolist() == X.tolist()
    assert X[2, 0] == 3  # input untouched


@pytest.fixture(scope="module")
def synth(synthetic_data):
    return PreparedData.load(synthetic_data)


@pytest.fixture(scope="module")
def fitted(synth):
    return LightFMP("dnn", 0.5, model_config=SMALL, train_config=FAST, seed=0).fit(synth)


def test_pretraining_reaches_target_and_prunes_exactly(fitted, synth):
    m = synth.schema.num_fields
    pre = fitted.pretrain_
    assert abs(pre.expected_sparsity - 0.5) <= fitted.pretrain_config.tolerance + 1e-9
    assert pre.converged and pre.steps <= fitted.pretrain_config.max_steps
    assert len(fitted.pruned_fields_) == round(0.5 * m + 1e-9) == 20
    assert len(fitted.selected_fields_) == m - 20 == fitted.model_.num_fields
    # kept = the highest mask scores
    scores = np.array([fitted.mask_scores_[n] for n in synth.schema.names])
    assert scores[fitted.support_].min() >= np.delete(scores, fitted.support_).max()
    assert fitted.params_after_ < fitted.params_before_ == count_params(fitted.pretrained_model_)
    t = fitted.timings_
    assert t["total_seconds"] == pytest.approx(t["pretrain_seconds"] + t["continued_seconds"])


def test_compact_model_predicts_from_kept_fields_only(fitted, synth):
    X, y = synth.split("test")
    p_full = fitted.predict_proba(X[:500])
    p_kept = fitted.predict_proba(np.asarray(X[:500])[:, fitted.support_])
    assert np.allclose(p_full, p_kept) and ((p_full > 0) & (p_full < 1)).all()
    # changing a pruned column changes nothing
    X2 = np.array(X[:500])
    pruned = [i for i in range(X2.shape[1]) if i not in fitted.support_]
    X2[:, pruned] = 0
    assert np.allclose(fitted.predict_proba(X2), p_full)
    with pytest.raises(ValueError):
        fitted.predict_proba(X2[:, :3])


def test_a_selector_in_the_scikit_learn_sense(fitted, synth):
    X = np.asarray(synth.split("test")[0][:50])
    assert fitted.get_support() == fitted.support_
    assert fitted.get_support(indices=False).sum() == len(fitted.support_)
    assert np.array_equal(fitted.transform(X), X[:, fitted.support_])


@pytest.mark.parametrize("tau", [0.25, 0.75])
def test_exact_count_other_ratios(synth, tau):
    est = LightFMP("dnn", tau, model_config=SMALL, train_config=FAST, seed=1)
    full, res = est.pretrain(synth)
    k = num_pruned_fields(39, tau)
    assert int(full.gate.binary_mask(k).sum()) == 39 - k
    assert abs(res.expected_sparsity - tau) < 0.05


def test_pretrained_init_copies_weights_and_scratch_does_not(synth):
    est = LightFMP("dnn", 0.5, model_config=SMALL, train_config=FAST, seed=2)
    full, _ = est.pretrain(synth)
    mask = full.gate.binary_mask(num_pruned_fields(39, 0.5))
    keep = torch.nonzero(mask).flatten().tolist()
    x = torch.as_tensor(np.array(synth.split("valid")[0][:256]), dtype=torch.long)
    full.gate = FixedMask(mask)
    full.eval()
    with torch.no_grad():
        ref = full(x)
        adapted = cut(full, keep, "pretrained", "dnn", SMALL, seed=2).eval()(x[:, keep])
        assert full.gate is None  # M_P has no masking layer
        scratch = cut(full, keep, "scratch", "dnn", SMALL, seed=2).eval()(x[:, keep])
    assert torch.allclose(adapted, ref, atol=1e-5)  # domain-adapted: M_P = M_T under the binary mask
    assert not torch.allclose(scratch, ref, atol=1e-3)


def test_planted_main_effect_fields_are_kept(synth):
    """tau = 0.5 on data with known truth: all six planted main-effect fields survive (paper backbone size)."""
    est = LightFMP("dnn", 0.5, train_config=FAST, seed=0)
    full, res = est.pretrain(synth)
    kept = set(np.flatnonzero(full.gate.binary_mask(num_pruned_fields(39, 0.5)).numpy()))
    names = synth.schema.names
    planted = synth.truth["informative"]
    assert all(names.index(f) in kept for f in planted), {f: names.index(f) in kept for f in planted}


def test_bad_pretrain_size_is_refused(synth):
    from lightfmp.errors import InputError

    with pytest.raises(InputError, match="pretrain-size"):
        LightFMP("dnn", 0.5, pretrain_size=5000, model_config=SMALL, train_config=FAST).fit(synth)
    with pytest.raises(ValueError):
        LightFMP("dnn", 0.5, init="random")


def test_keep_fields_are_kept_and_the_count_still_follows_tau(synth):
    """The interaction-only pair, which the mask ranks near the bottom, is kept when named; the
    remaining slots go to the best-scored fields and round(tau * m) fields are still pruned."""
    pair = list(synth.truth["interaction"][0])
    est = LightFMP("dnn", 0.5, model_config=SMALL, train_config=FAST, seed=0, keep_fields=pair + pair[:1])
    est.fit(synth)
    names = synth.schema.names
    assert set(pair) <= set(est.selected_fields_) and len(est.pruned_fields_) == 20
    others = [names.index(f) for f in est.selected_fields_ if f not in pair]
    scores = np.array([est.mask_scores_[n] for n in names])
    dropped = [i for i in range(len(names)) if names[i] in est.pruned_fields_]
    assert scores[others].min() >= scores[dropped].max()  # the rest is still the mask's choice
    assert est.report_extra()["keep_fields"] == pair and est.config()["keep_fields"] == pair


def test_bad_keep_fields_fail_before_training(synth):
    from lightfmp.errors import InputError

    with pytest.raises(InputError, match="no field named 'C99'"):
        LightFMP("dnn", 0.5, model_config=SMALL, train_config=FAST, keep_fields=["C1", "C99"]).fit(synth)
    with pytest.raises(InputError, match="keeps only 2 of 39"):
        LightFMP("dnn", 0.95, model_config=SMALL, train_config=FAST, keep_fields=["C1", "C2", "C3"]).fit(synth)


def test_diverged_pretraining_names_phase_and_step():
    """A NaN loss in phase 1 stops with the phase and step named (issue 7)."""
    from lightfmp.errors import NonFiniteLossError
    from lightfmp.models import build_model
    from lightfmp.pruning.pretrain import PretrainConfig, pretrain

    rng = np.random.default_rng(0)
    X = rng.integers(2, 6, size=(256, 4)).astype(np.int32)
    y = np.full(256, np.nan, dtype=np.float32)  # NaN labels make the BCE NaN at the first step
    model = build_model("dnn", [6] * 4)
    with pytest.raises(NonFiniteLossError, match=r"pretraining: the loss is nan at step 1 "):
        pretrain(model, X, y, PretrainConfig(max_steps=5, min_steps=1))
