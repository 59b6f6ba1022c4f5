"""Joint pruning end to end (issue 25): phase 1 with field, unit and map gates under one budget on D_S,
the compact model within budget, the per-layer report, rebuilding M_P from its state (resume), and the
field-only default untouched."""
import numpy as np
import pytest
import torch

from lightfmp.data.dataset import PreparedData
from lightfmp.models import ModelConfig, build_model
from lightfmp.pruning.cost import count
from lightfmp.pruning.lightfmp import LightFMP
from lightfmp.pruning.pretrain import PretrainConfig, pretrain
from lightfmp.pruning.steps import count_params
from lightfmp.train import TrainConfig

SMALL = ModelConfig(embed_dim=8, hidden=(64, 32), cin_layers=(16, 16))
FAST = TrainConfig(epochs=1, batch_size=2048)
QUICK = PretrainConfig(max_steps=240, min_steps=64, warmup_steps=64, batch_size=128)


@pytest.fixture(scope="module")
def synth(synthetic_data):
    return PreparedData.load(synthetic_data)


@pytest.fixture(scope="module")
def joint(synth):
    return LightFMP("dnn", 0.5, model_config=SMALL, train_config=FAST, pretrain_config=QUICK, seed=0,
                    budget="flops=0.2").fit(synth)


def test_joint_pretraining_meets_the_budget_and_the_compact_model_is_within_it(joint, synth):
    pre = joint.pretrain_
    shares = [h["expected_share"] for h in pre.history]
    assert shares[0] > 0.5 and min(shares) < 0.2 * (1 + QUICK.budget_rtol)  # the constraint drove it down
    s = joint.report_extra()["structure"]
    assert 0.19 < s["flops_share"] <= 0.2 + 1e-12  # the budget used up, never exceeded
    widths = {r["name"]: r["width_after"] for r in s["layers"]}
    assert widths["mlp.layers.0"] == len(joint.units_["mlp.layers.0"]) == joint.model_.cfg.hidden[0] < 64
    assert widths["embedding"] == len(joint.support_) == joint.model_.num_fields
    assert s["params_after"] == count_params(joint.model_) and s["params_before"] == joint.params_before_
    # what phase 1 learned: the planted main-effect fields outrank the noise (the unit gates did not stop it)
    scores = np.array([joint.mask_scores_[n] for n in synth.schema.names])
    planted = [synth.schema.names.index(f) for f in synth.truth["informative"]]
    assert np.median(scores[planted]) > np.median(np.delete(scores, planted))


def test_compact_model_rebuilds_from_its_state_as_a_resume_does(joint, synth):
    """The pipeline's resume rebuilds M_P from (kept fields, compact config) and loads its state."""
    est = LightFMP("dnn", 0.5, model_config=SMALL, budget="flops=0.2")
    est._chosen(synth.schema, joint.support_, joint.pretrain_)
    assert est.units_ == joint.units_
    m = build_model("dnn", [synth.schema.vocab_sizes[i] for i in est.support_], est.compact_model_config())
    m.load_state_dict(joint.model_.state_dict())
    X = torch.as_tensor(np.asarray(synth.split("test")[0])[:64][:, est.support_], dtype=torch.long)
    torch.testing.assert_close(m.eval()(X), joint.model_.eval()(X))


def test_scratch_control_has_the_same_architecture_fresh_weights(joint, synth):
    """Control (a): init="scratch" gives the same fields and widths, freshly initialised."""
    est = LightFMP("dnn", 0.5, model_config=SMALL, init="scratch", seed=0, budget="flops=0.2")
    est._chosen(synth.schema, joint.support_, joint.pretrain_)
    est.pretrained_model_ = build_model("dnn", synth.schema.vocab_sizes, SMALL)
    est.pretrain_seconds_ = 0.0
    m = est.cut().model_
    assert m.cfg == joint.model_.cfg and m.vocab_sizes == joint.model_.vocab_sizes


def test_xdeepfm_maps_are_gated_and_pruned_under_a_params_budget():
    """Phase 1 alone on a small planted set: CIN maps and MLP units get gates and the expected parameter
    share is driven to the budget."""
    rng = np.random.default_rng(0)
    X = rng.integers(2, 20, size=(1200, 5)).astype(np.int32)
    y = (rng.random(1200) < 1 / (1 + np.exp(-(X[:, 0] % 2 * 2.0 - 1.0)))).astype(np.float32)
    torch.manual_seed(0)
    model = build_model("xdeepfm", [20] * 5, SMALL)
    cfg = PretrainConfig(max_steps=300, min_steps=40, warmup_steps=40, batch_size=64, rare_min_count=1,
                         budget="params=0.5")
    gates, res = pretrain(model, X, y, cfg, seed=0)
    assert set(res.unit_keep_probability) == {"mlp.layers.0", "mlp.layers.2", "cin.weights.0", "cin.weights.1"}
    assert abs(res.expected_share - 0.5) <= 0.1 * 0.5 + 0.02
    full = count("xdeepfm", SMALL, [20] * 5).params
    assert full == count_params(model)


def test_fields_only_stays_the_default():
    est = LightFMP("dnn", 0.5)
    assert est.budget is None and PretrainConfig().budget is None
    assert LightFMP("dnn", 0.5, budget="FLOPS=0.10").pretrain_config.budget == "flops=0.1"
