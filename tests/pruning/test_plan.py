"""PruningPlan: validation, hidden-unit slicing of every backbone's MLP, DCN's folded cross biases and
dropped cross layers. Each compact model is checked against the original with the same cuts made by
masking: a binary field gate for fields, zeroed outgoing weights for dropped units (a dropped unit's
activation then reaches nothing, which is what zeroing the activation does), identity for dropped
cross layers."""
import copy
import json

import pytest
import torch
from torch import nn

from lightfmp.models import MODELS, ModelConfig, build_model, from_build_args
from lightfmp.pruning.plan import PruningPlan, hidden_linears
from lightfmp.pruning.slicing import SLICERS, apply_plan, prune_fields

VOCAB = [5, 3, 7, 2, 4, 6]
KEEP = [0, 2, 3, 5]
NAMES = sorted(MODELS)
CFGS = {
    "plain": ModelConfig(embed_dim=4, hidden=(16, 8), cin_layers=(6, 4), cross_layers=3),
    "bn_dropout": ModelConfig(embed_dim=4, hidden=(16, 8, 6), cin_layers=(6, 4), batch_norm=True, dropout=0.3),
}


class FixedGate(nn.Module):
    def __init__(self, z):
        super().__init__()
        self.register_buffer("z", torch.as_tensor(z, dtype=torch.float32))

    def forward(self, x, e):
        return self.z


def _ids(n=50, seed=3, vocab=VOCAB):
    g = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randint(0, v, (n,), generator=g) for v in vocab], 1)


def _mask(keep):
    z = torch.zeros(len(VOCAB))
    z[list(keep)] = 1.0
    return z


def _trained(name, cfg, keep=KEEP, seed=0, steps=5):
    """A few Adam steps with the field mask on, so weights, cross biases and BN stats are non-trivial."""
    torch.manual_seed(seed)
    m = build_model(name, VOCAB, cfg)
    with torch.no_grad():
        for t in m.field_tables():
            t.weight.normal_(0, 0.1)
    m.gate = FixedGate(_mask(keep))
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    x, y = _ids(64, seed=1), torch.randint(0, 2, (64,), generator=torch.Generator().manual_seed(2)).float()
    m.train()
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.binary_cross_entropy_with_logits(m(x), y).backward()
        opt.step()
    return m.eval()


def _units(m, seed=0):
    """A random proper subset of units for every hidden Linear."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for path, lin in hidden_linears(m).items():
        n = lin.out_features
        out[path] = sorted(torch.randperm(n, generator=g)[: max(1, n // 2)].tolist())
    return out


def _zero_outgoing(m, units):
    """The masked reference: each dropped unit's column in the layer that reads it (next Linear, or the
    head, after DCN's cross part) set to zero, in a copy of m."""
    m = copy.deepcopy(m)
    paths = list(hidden_linears(m))
    with torch.no_grad():
        for path, keep in units.items():
            i = paths.index(path)
            if i + 1 < len(paths):
                consumer, offset = m.get_submodule(paths[i + 1]), 0
            else:
                consumer = m.head
                offset = m.num_fields * m.embed_dim if m.name == "dcn" else 0
            dropped = sorted(set(range(m.get_submodule(path).out_features)) - set(keep))
            consumer.weight[:, [offset + d for d in dropped]] = 0.0
    return m


@pytest.mark.parametrize("cfg_name", list(CFGS))
@pytest.mark.parametrize("name", NAMES)
def test_hidden_units_sliced_equal_the_units_masked(name, cfg_name):
    m = _trained(name, CFGS[cfg_name])
    m.gate = None
    units = _units(m)
    x = _ids()
    p = apply_plan(m, PruningPlan(units=units))
    assert list(p.cfg.hidden) == [len(u) for u in units.values()] and p.vocab_sizes == VOCAB
    torch.testing.assert_close(p(x), _zero_outgoing(m, units)(x), rtol=1e-6, atol=1e-6)
    # guard: the units matter (unless a few Adam steps left every last-layer ReLU dead, which float rounding
    # under another thread count can do for PNN with BatchNorm: then the output is the head's bias alone)
    if float(m(x).std()) > 1e-6:
        assert not torch.allclose(p(x), m(x), atol=1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_fields_and_units_together(name):
    m = _trained(name, CFGS["bn_dropout"])
    units = {p: u for p, u in list(_units(m, seed=1).items())[:2]}  # the last Linear keeps all
    x = _ids()
    p = apply_plan(m, PruningPlan(fields=KEEP, units=units))
    torch.testing.assert_close(p(x[:, KEEP]), _zero_outgoing(m, units)(x), rtol=1e-5, atol=1e-5)
    # the compact model is rebuilt from its build args (a run folder stores it so)
    q = from_build_args(json.loads(json.dumps(p.build_args())))
    q.load_state_dict(p.state_dict())
    torch.testing.assert_close(q.eval()(x[:, KEEP]), p(x[:, KEEP]), rtol=0, atol=0)


def test_prune_fields_is_the_field_only_plan():
    m = _trained("deepfm", CFGS["plain"])
    x = _ids()
    a, b = prune_fields(m, KEEP), apply_plan(m, PruningPlan(fields=KEEP))
    torch.testing.assert_close(a(x[:, KEEP]), b(x[:, KEEP]), rtol=0, atol=0)


# ---- DCN -------------------------------------------------------------------------------------------


def test_dcn_fold_is_needed_and_exact():
    m = _trained("dcn", CFGS["plain"])
    assert all(layer.bias.abs().max() > 1e-3 for layer in m.cross.layers)  # trained biases: nonzero constants
    x = _ids()
    p = prune_fields(m, KEEP)
    torch.testing.assert_close(p(x[:, KEEP]), m(x), rtol=1e-5, atol=1e-5)
    # the folded constants are really there: without them the compact model is off
    assert all(float(layer.scalar_bias) != 0.0 for layer in list(p.cross.layers)[1:])
    with torch.no_grad():
        for layer in p.cross.layers:
            layer.scalar_bias.zero_()
        p.head.bias.copy_(m.head.bias)
    assert not torch.allclose(p(x[:, KEEP]), m(x), atol=1e-4)


@pytest.mark.parametrize("keep", [[2], [0, 1, 2, 3, 4, 5], [1, 4]])
def test_dcn_field_pruning_any_keep(keep):
    m = _trained("dcn", CFGS["bn_dropout"], keep=keep)
    x = _ids()
    torch.testing.assert_close(prune_fields(m, keep)(x[:, keep]), m(x), rtol=1e-5, atol=1e-5)


def test_dcn_drop_cross_layers_equals_identity_layers():
    m = _trained("dcn", CFGS["plain"])
    x = _ids()
    plan = PruningPlan(fields=KEEP, drop=("cross.layers.1",), units={"mlp.layers.0": [1, 3, 4, 9]})
    p = apply_plan(m, plan)
    assert p.cfg.cross_layers == 2 and len(p.cross.layers) == 2
    ref = _zero_outgoing(m, plan.units)
    ref.cross.layers[1].register_forward_hook(lambda mod, inp, out: inp[1])  # x_{l+1} = x_l
    torch.testing.assert_close(p(x[:, KEEP]), ref(x), rtol=1e-5, atol=1e-5)
    assert not torch.allclose(p(x[:, KEEP]), m(x), atol=1e-4)
    # every cross layer dropped: the cross part is x_0
    p0 = apply_plan(m, PruningPlan(drop=tuple(m.droppable_blocks())))
    ref0 = copy.deepcopy(m)
    ref0.gate = None  # no fields pruned: the compact model is the ungated one
    for layer in ref0.cross.layers:
        layer.register_forward_hook(lambda mod, inp, out: inp[1])
    torch.testing.assert_close(p0(x), ref0(x), rtol=1e-5, atol=1e-5)


def test_dcn_honours_the_gate_contract():
    m = build_model("dcn", VOCAB, CFGS["plain"])
    with torch.no_grad():
        for layer in m.cross.layers:
            layer.bias.normal_()
    x = _ids(8)
    m.gate = FixedGate(torch.zeros(len(VOCAB)))
    out = m(x)
    torch.testing.assert_close(out, out[:1].expand(8), rtol=0, atol=1e-6)


# ---- validation ------------------------------------------------------------------------------------


def test_plan_normalises_and_refuses_bad_entries_in_one_line():
    plan = PruningPlan(fields=[3, 0], units={"mlp.layers.0": [5, 1]}, drop=["cross.layers.0"])
    assert plan.fields == (0, 3) and plan.units == {"mlp.layers.0": (1, 5)} and plan.drop == ("cross.layers.0",)
    bad = [
        dict(fields=[]), dict(fields=[1, 1]), dict(fields=[-1]),
        dict(units={"mlp.layers.0": []}), dict(heads={"att": [0, 0]}),
        dict(drop=("a", "a")), dict(scale=[1.0]), dict(fields=[0, 1], scale=[1.0]),
    ]
    for kwargs in bad:
        with pytest.raises(ValueError) as err:
            PruningPlan(**kwargs)
        assert "\n" not in str(err.value)


@pytest.mark.parametrize("name", NAMES)
def test_plan_is_validated_against_the_model(name):
    m = build_model(name, VOCAB, CFGS["bn_dropout"])
    cases = [
        (PruningPlan(fields=[6]), "fields"),
        (PruningPlan(units={"head": [0]}), "not a hidden Linear"),
        (PruningPlan(units={"mlp.layers.1": [0]}), "not a hidden Linear"),  # the BatchNorm
        (PruningPlan(units={"mlp.layers.0": [16]}), r"0\.\.15"),
        (PruningPlan(heads={"mlp": [0]}), "no attention heads"),
        (PruningPlan(drop=("mlp.layers.0",)), "not a droppable block"),
    ]
    if name == "xdeepfm":
        cases.append((PruningPlan(drop=("cin",)), "droppable: none"))
    for plan, msg in cases:
        with pytest.raises(ValueError, match=msg) as err:
            apply_plan(m, plan)
        assert "\n" not in str(err.value)


def test_every_backbone_has_a_slicer_and_the_cli_lists_every_backbone():
    from lightfmp.cli.common import MODEL_NAMES

    assert set(SLICERS) == set(MODELS) == set(MODEL_NAMES)
