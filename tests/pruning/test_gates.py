"""Hard-concrete gate (paper Eq. 3) and the Lagrangian (Eq. 4-5)."""
import math

import pytest
import torch

from lightfmp.pruning.gates import FixedMask, GateConfig, HardConcreteGate
from lightfmp.pruning.lagrangian import LagrangianConstraint


def _gate(log_alpha, **cfg):
    g = HardConcreteGate(len(log_alpha), GateConfig(**cfg))
    with torch.no_grad():
        g.log_alpha.copy_(torch.tensor(log_alpha, dtype=torch.float32))
    return g


def test_training_samples_lie_in_unit_interval_and_hit_both_ends():
    torch.manual_seed(0)
    g = _gate([0.0] * 5).train()
    with torch.no_grad():
        z = torch.stack([g(None, None) for _ in range(4000)])
    assert z.shape == (4000, 5)
    assert float(z.min()) >= 0.0 and float(z.max()) <= 1.0
    # the stretch to (gamma, zeta) then clipping puts real mass on exact 0 and exact 1
    assert float((z == 0).float().mean()) > 0.05 and float((z == 1).float().mean()) > 0.05
    # and the samples vary between calls: training is stochastic
    assert float(z.std(0).min()) > 0.1


def test_evaluation_is_deterministic_and_follows_louizos_estimator():
    g = _gate([-3.0, 0.0, 0.5, 4.0]).eval()
    z1, z2 = g(None, None), g(None, None)
    assert torch.equal(z1, z2)
    expected = (torch.sigmoid(g.log_alpha) * 1.2 - 0.1).clamp(0, 1)
    assert torch.allclose(z1, expected)
    assert z1[0] == 0.0 and z1[3] == 1.0


def test_gradient_reaches_log_alpha_through_samples():
    g = _gate([0.3, 0.3]).train()
    torch.manual_seed(1)
    sum(g(None, None).sum() for _ in range(20)).backward()
    assert g.log_alpha.grad is not None and float(g.log_alpha.grad.abs().sum()) > 0


@pytest.mark.parametrize("beta", [0.83, 2 / 3])
def test_expected_keep_probability_matches_monte_carlo(beta):
    torch.manual_seed(2)
    g = _gate([-2.5, -1.0, 0.0, 0.5, 2.0], beta=beta).train()
    with torch.no_grad():
        z = torch.stack([g.sample() for _ in range(40000)])
        mc = (z > 0).float().mean(0)
        exact = g.keep_probability()
        assert torch.allclose(mc, exact, atol=0.01)
        assert math.isclose(float(g.expected_sparsity()), 1 - float(mc.mean()), abs_tol=0.01)


def test_init_follows_config_in_either_space():
    torch.manual_seed(3)
    g = HardConcreteGate(20000, GateConfig(init_mean=0.5, init_std=0.25)).requires_grad_(False)
    assert abs(float(g.log_alpha.mean()) - 0.5) < 0.01 and abs(float(g.log_alpha.std()) - 0.25) < 0.01
    g2 = HardConcreteGate(20000, GateConfig(init_mean=0.5, init_std=0.25, init_space="alpha")).requires_grad_(False)
    assert abs(float(g2.log_alpha.exp().mean()) - 0.5) < 0.01
    with pytest.raises(ValueError):
        GateConfig(gamma=0.1)


def test_constrain_clamps_log_alpha():
    g = _gate([-50.0, 0.0, 50.0])
    g.constrain_()
    assert torch.allclose(g.log_alpha, torch.tensor([math.log(0.01), 0.0, math.log(100.0)]))


def test_binary_mask_prunes_exactly_the_lowest_scores():
    g = _gate([0.1, -2.0, 3.0, -0.5, 1.0])
    assert g.binary_mask(2).tolist() == [1.0, 0.0, 1.0, 0.0, 1.0]
    assert g.binary_mask(0).sum() == 5 and g.binary_mask(5).sum() == 0
    with pytest.raises(ValueError):
        g.binary_mask(6)
    assert torch.equal(FixedMask(torch.tensor([1.0, 0.0]))(None, None), torch.tensor([1.0, 0.0]))


def test_lagrangian_multipliers_rise_while_constraint_is_violated():
    """Gradient ascent (negative lr) on lambda, phi makes the penalty grow until the gate obeys."""
    g = _gate([2.0] * 6)  # nearly every field kept: expected sparsity far below tau = 0.5
    lag = LagrangianConstraint(target=0.5)
    opt = torch.optim.Adam([lag.param_group(0.05)])  # multipliers only: the gate cannot move
    penalties, phis = [], []
    for step in range(30):
        pen = lag(g.expected_sparsity().detach(), step)
        penalties.append(float(pen.detach()))
        phis.append(float(lag.lambda_2.detach()))
        opt.zero_grad()
        pen.backward()
        opt.step()
    assert penalties[-1] > penalties[1] > 0 and phis[-1] > phis[0]
    assert float(lag.lambda_1.detach()) < 0  # s_hat < t: a negative lambda makes raising s_hat pay off


def test_lagrangian_pushes_gates_to_target_sparsity():
    torch.manual_seed(4)
    g = HardConcreteGate(10).train()
    lag = LagrangianConstraint(target=0.7, warmup_steps=20)
    opt = torch.optim.Adam([{"params": [g.log_alpha], "lr": 0.05}, lag.param_group(0.05)])
    for step in range(600):
        loss = lag(g.expected_sparsity(), step)
        opt.zero_grad()
        loss.backward()
        opt.step()
        g.constrain_()
    assert abs(float(g.expected_sparsity().detach()) - 0.7) < 0.03
    assert lag.target_at(10) == pytest.approx(0.35) and lag.target_at(25) == 0.7


def test_binary_mask_keeps_forced_positions_and_the_count():
    gate = HardConcreteGate(5)
    with torch.no_grad():
        gate.log_alpha.copy_(torch.tensor([3.0, -3.0, 2.0, 1.0, -2.0]))
    assert gate.binary_mask(2).tolist() == [1, 0, 1, 1, 0]
    assert gate.binary_mask(2, keep=[1]).tolist() == [1, 1, 1, 0, 0]  # the weakest kept field gives way
    assert gate.binary_mask(2, keep=[1, 4]).tolist() == [1, 1, 0, 0, 1]
    with pytest.raises(ValueError):
        gate.binary_mask(4, keep=[1, 4])
