"""Joint structured pruning (issue 25): the cost count, the unit/map gates and their hooks, the surgery's
equivalence with the gated model under binary masks for every backbone, the choice within budget, and
the magnitude control."""
import copy

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from lightfmp.errors import InputError
from lightfmp.models import ModelConfig, build_model
from lightfmp.pruning.cost import count, structure_table
from lightfmp.pruning.magnitude import magnitude_plan
from lightfmp.pruning.plan import PruningPlan, prunable_units
from lightfmp.pruning.slicing import apply_plan
from lightfmp.pruning.steps import compact_model_config, count_params
from lightfmp.pruning.structure import StructureGates, choose_structure, parse_budget, plan_cost

VOCAB = [5, 3, 7, 2, 4, 6]
KEEP = [0, 2, 3, 5]
NAMES = ["dnn", "widedeep", "deepfm", "xdeepfm", "pnn", "dcn"]
CFGS = {
    "plain": ModelConfig(embed_dim=4, hidden=(16, 8), cin_layers=(6, 5), cross_layers=2),
    "bn_dropout": ModelConfig(embed_dim=4, hidden=(16, 8, 6), cin_layers=(6, 4, 3), batch_norm=True, dropout=0.3),
}


def _ids(n=50, seed=3):
    g = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randint(0, v, (n,), generator=g) for v in VOCAB], 1)


def _plan(model, seed=0):
    """A random proper subset of every prunable group, fields KEEP."""
    g = torch.Generator().manual_seed(seed)
    units = {p: sorted(torch.randperm(w, generator=g)[: max(1, w // 2)].tolist())
             for p, w in prunable_units(model).items()}
    return PruningPlan(fields=KEEP, units=units)


def _trained_gated(name, cfg, seed=0, steps=5):
    """A backbone with StructureGates attached, a few Adam steps in training mode (sampled gates), so the
    weights, BatchNorm statistics and gate logits are non-trivial."""
    torch.manual_seed(seed)
    m = build_model(name, VOCAB, cfg)
    with torch.no_grad():
        for t in m.field_tables():
            t.weight.normal_(0, 0.1)
    gates = StructureGates(m, "flops", generator=torch.Generator().manual_seed(seed)).attach(m)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    x, y = _ids(64, seed=1), torch.randint(0, 2, (64,), generator=torch.Generator().manual_seed(2)).float()
    m.train()
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.binary_cross_entropy_with_logits(m(x), y).backward()
        opt.step()
    assert all(g.log_alpha.grad is not None and g.log_alpha.grad.abs().sum() > 0 for g in gates.units)
    return m.eval(), gates


# ---- count -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("cfg", list(CFGS), ids=list(CFGS))
@pytest.mark.parametrize("name", NAMES)
def test_count_params_equals_the_models_own_count_before_and_after_pruning(name, cfg):
    m = build_model(name, VOCAB, CFGS[cfg])
    assert count(name, m.cfg, VOCAB).params == count_params(m)
    plan = _plan(m)
    p = apply_plan(m, plan)
    w = [1.0 if i in KEEP else 0.0 for i in range(len(VOCAB))]
    c = count(name, m.cfg, VOCAB, w, hidden=p.cfg.hidden, cin=p.cfg.cin_layers)
    assert c.params == count_params(p)


def _matmul_macs(model, x):
    with FlopCounterMode(display=False) as fc:
        with torch.no_grad():
            model(x)
    return fc.get_total_flops() / 2 / len(x)  # torch counts 2 per multiply-add


@pytest.mark.parametrize("name", ["dnn", "widedeep", "xdeepfm"])
def test_count_flops_matches_torchs_matmul_count(name):
    """Every multiply-add of a DNN is a matmul, so torch's FLOP counter must agree exactly; for xDeepFM the
    matmuls are the MLP, the head and CIN's compressions (H_k H_{k-1} n D), its elementwise parts are not
    counted by torch; Wide & Deep's first-order sum is not a matmul (n adds)."""
    m = build_model(name, VOCAB, CFGS["plain"]).eval()
    p = apply_plan(m, _plan(m))
    x = _ids(32)[:, KEEP]
    c = count(name, m.cfg, VOCAB, [1.0 if i in KEEP else 0.0 for i in range(6)], p.cfg.hidden, p.cfg.cin_layers)
    n, D = len(KEEP), m.cfg.embed_dim
    elementwise = 0.0
    if name == "widedeep":
        elementwise = n
    if name == "xdeepfm":
        maps = p.cfg.cin_layers
        prev = [n] + list(maps[:-1])
        elementwise = n + sum(h_in * n * D + h * D for h, h_in in zip(maps, prev))
    assert c.flops - elementwise == pytest.approx(_matmul_macs(p, x))


def test_count_is_differentiable_and_exact_for_independent_gates():
    """Expected cost at probabilities: a sum over widths of products of expectations, checked against the
    mean over every binary field mask of a 3-field PNN (whose pair count is quadratic in the fields)."""
    cfg = ModelConfig(embed_dim=2, hidden=(3,))
    p = torch.tensor([0.2, 0.7, 0.9], dtype=torch.float64, requires_grad=True)
    c = count("pnn", cfg, [4, 5, 6], p)
    c.flops.backward()
    assert p.grad is not None and (p.grad > 0).all()
    exact = 0.0
    for bits in range(8):
        z = [(bits >> i) & 1 for i in range(3)]
        prob = float(torch.prod(torch.where(torch.tensor(z, dtype=torch.bool), p.detach(), 1 - p.detach())))
        exact += prob * count("pnn", cfg, [4, 5, 6], [float(v) for v in z]).flops
    assert float(c.flops.detach()) == pytest.approx(exact)


def test_structure_table_before_and_after():
    m = build_model("xdeepfm", VOCAB, CFGS["plain"])
    t = structure_table("xdeepfm", m.cfg, VOCAB, KEEP, (4, 2), (3, 1))
    names = [r["name"] for r in t["layers"]]
    assert names[:2] == ["embedding", "linear"] and "cin.weights.1" in names and names[-1] == "head"
    first = t["layers"][names.index("mlp.layers.0")]
    assert (first["width_before"], first["width_after"]) == (16, 4)
    assert first["flops_before"] == 6 * 4 * 16 and first["flops_after"] == 4 * 4 * 4
    assert t["params_before"] == count_params(m) and 0 < t["flops_share"] < 1


# ---- the gates, the hooks and the surgery ------------------------------------------------------------


def test_hooks_leave_an_ungated_model_unchanged():
    m = build_model("xdeepfm", VOCAB, CFGS["plain"]).eval()
    x = _ids()
    before = m(x)
    gates = StructureGates(m).attach(m)
    gates.fix(PruningPlan())  # every mask 1
    torch.testing.assert_close(m(x), before, rtol=0, atol=0)
    StructureGates.detach(m)
    assert m.gate is None and m.mlp.unit_gate is None and m.cin.map_gate is None
    torch.testing.assert_close(m(x), before, rtol=0, atol=0)


@pytest.mark.parametrize("cfg", list(CFGS), ids=list(CFGS))
@pytest.mark.parametrize("name", NAMES)
def test_compact_model_equals_gated_model_with_binary_masks(name, cfg):
    """Issue 25 item 2: fields, hidden units and CIN maps sliced out; the compact model on the kept inputs
    equals the gated model whose gates are the plan's 0/1 masks, to 1e-5."""
    m, gates = _trained_gated(name, CFGS[cfg])
    plan = _plan(m, seed=1)
    gates.fix(plan)
    x = _ids(50)
    ref = m(x)
    p = apply_plan(m, plan)
    assert p.gate is None and p.mlp.unit_gate is None
    assert p.cfg == compact_model_config(m.cfg, plan.units)
    torch.testing.assert_close(p(x[:, KEEP]), ref, rtol=1e-5, atol=1e-5)
    # and the soft gates differ from it (the masks matter): the test can fail
    gates.fix(None)
    assert not torch.allclose(m(x), ref, atol=1e-4)


def test_cin_maps_of_a_split_half_cin_are_not_prunable():
    cfg = ModelConfig(embed_dim=4, hidden=(8,), cin_layers=(6, 4), cin_split_half=True)
    m = build_model("xdeepfm", VOCAB, cfg)
    assert not [p for p in prunable_units(m) if p.startswith("cin.")]
    with pytest.raises(ValueError, match="not a hidden Linear"):
        apply_plan(m, PruningPlan(units={"cin.weights.0": [0, 1]}))


def test_parse_budget():
    assert parse_budget("flops=0.1") == ("flops", 0.1) and parse_budget(" PARAMS = 1") == ("params", 1.0)
    for bad in ("flops", "flops=0", "flops=1.5", "memory=0.1", "flops=x"):
        with pytest.raises(InputError, match="--keep"):
            parse_budget(bad)


@pytest.mark.parametrize("measure", ["flops", "params"])
@pytest.mark.parametrize("name", ["dnn", "xdeepfm"])
def test_choice_is_within_budget_and_follows_the_scores(name, measure):
    m = build_model(name, VOCAB, ModelConfig(embed_dim=4, hidden=(32, 16), cin_layers=(8, 8)))
    gates = StructureGates(m, measure, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for g in [gates.fields, *gates.units]:
            g.log_alpha.copy_(torch.linspace(-3, 3, g.num_fields))  # the last members score highest
    full = float(gates.full.total(measure))
    for share in (0.5, 0.2, 0.05):
        plan = choose_structure(gates, share, forced=[0])
        assert float(plan_cost(gates, plan).total(measure)) <= share * full + 1e-9
        assert 0 in plan.fields  # forced, though it scores lowest
        for p, keep in plan.units.items():
            w = prunable_units(m)[p]
            assert list(keep) == list(range(w - len(keep), w))  # the top scores


def test_expected_share_is_one_at_full_keep_probability_and_has_gradients():
    m = build_model("deepfm", VOCAB, CFGS["plain"])
    gates = StructureGates(m, "flops")
    with torch.no_grad():
        for p in gates.log_alphas():
            p.fill_(50.0)
    assert float(gates.expected_share().detach()) == pytest.approx(1.0, abs=1e-5)
    with torch.no_grad():
        for p in gates.log_alphas():
            p.fill_(0.0)
    s = gates.expected_share()
    s.backward()
    assert 0 < float(s) < 1 and all(p.grad is not None and p.grad.abs().sum() > 0 for p in gates.log_alphas())


# ---- the magnitude control ---------------------------------------------------------------------------


def test_magnitude_plan_drops_the_dead_units_and_fields():
    m = build_model("dnn", VOCAB, ModelConfig(embed_dim=4, hidden=(8, 6)))
    with torch.no_grad():
        m.embedding.weight.normal_(0, 0.1)
        m.mlp.layers[0].weight[[1, 5]] = 0.0  # units 1 and 5 of layer 0 read nothing
        m.mlp.layers[0].bias[[1, 5]] = 0.0
        m.mlp.layers[2].weight[:, 3] = 0.0  # unit 3 of layer 0 is read by nobody
        m.head.weight[0, 2] = 0.0  # unit 2 of the last layer is read by nobody
        m.mlp.layers[0].weight[:, 4:8] = 0.0  # field 1's columns
    plan = magnitude_plan(m, {"fields": 5, "mlp.layers.0": 5, "mlp.layers.2": 5})
    assert plan.fields == (0, 2, 3, 4, 5)
    assert plan.units["mlp.layers.0"] == (0, 2, 4, 6, 7) and plan.units["mlp.layers.2"] == (0, 1, 3, 4, 5)
    # CIN maps too: a map with zero weights goes first
    x = build_model("xdeepfm", VOCAB, CFGS["plain"])
    with torch.no_grad():
        x.cin.weights[0][2] = 0.0
    plan = magnitude_plan(copy.deepcopy(x), {"cin.weights.0": 5})
    assert 2 not in plan.units["cin.weights.0"] and plan.fields == tuple(range(6))


@pytest.mark.parametrize("name", NAMES)
def test_compact_model_with_folded_unit_values_equals_the_gated_model(name):
    """``unit_scale``: kept units (maps) enter the weights that read them with their soft gate values."""
    m, gates = _trained_gated(name, CFGS["bn_dropout"])
    plan = _plan(m, seed=2)
    g = torch.Generator().manual_seed(5)
    plan = PruningPlan(fields=plan.fields, units=plan.units,
                       unit_scale={p: torch.rand(len(u), generator=g).tolist() for p, u in plan.units.items()})
    gates.fix(plan)
    x = _ids(40)
    torch.testing.assert_close(apply_plan(m, plan)(x[:, KEEP]), m(x), rtol=1e-5, atol=1e-5)
