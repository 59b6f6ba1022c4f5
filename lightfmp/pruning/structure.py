"""Joint structured pruning ("Light-FMP-H", ../shared/docs/next_methods.md section 3): hard-concrete gates on
the fields, on every hidden unit of the backbone's MLP and on CIN's feature maps, learned together on D_S
under ONE Lagrangian constraint on the expected share of No Selection's parameters or multiply-adds per
sample that the model keeps (paper Eq. 4-5 with s the expected kept share).

* ``parse_budget("flops=0.1")`` -> ("flops", 0.1): the user's one budget.
* ``StructureGates``: the gates. It sits in the backbone's gate slot (``model.gate``: the field mask of
  Eq. 2) and hooks the MLP's ``unit_gate`` and CIN's ``map_gate``, so a unit's (map's) gate value
  multiplies its activation (maps) wherever it is read. Each group of units is one ``HardConcreteGate``
  (the same Eq. 3 and settings as the field gate). ``expected_cost`` is `lightfmp.pruning.cost.count`
  at the expected widths: sum of P(z > 0) per group, the fields weighted by P(z_f > 0) (LLM-Shearing's
  ``get_expected_num_params``, products of expectations of independent gates).
* ``choose_structure``: phase 2a for the joint gates, a ``PruningPlan`` whose exact cost is within budget.

Choices (each a decision the paper, which gates fields only, does not make):

* What a unit gate multiplies: the activation after the ReLU (and BatchNorm), so z = 0 removes the unit
  exactly (Linear row, bias, BatchNorm entry, the next layer's column), which ``slicing.apply_plan`` cuts.
  A CIN map's gate multiplies the map before it feeds layer k+1 and the pooling.
* Eval mode (the held-out loss of phase 1, ``PretrainConfig.holdout``) uses E[z] of every gate
  (``HardConcreteGate.mean``), not Louizos et al.'s deterministic estimator: that one is 0 for any gate
  with log_alpha below about -2.4, though such a gate is open in training up to ~40% of the time, and
  under a tight budget whole layers end there (measured: synthetic set, DNN 64-32, flops=0.2, the
  eval-mode model was constant, AUC 0.500, and the held-out choice of weights meaningless).
* Kept fields transfer at z = 1 (the paper's binary mask, ``LightFMP``'s measured choice); kept units and
  maps transfer with E[z] folded into the weights that read them (``PruningPlan.unit_scale``). Why:
  passing them at 1 multiplies each layer's signal by about 1/E[z]; measured (same setting, one epoch of
  8 steps): logloss 1.21 with z = 1.
* Counts: a group keeps round(sum of its P(z > 0)) members (at least 1), the highest P(z > 0) first
  (ties: lower index), Sheared-LLaMA's rule for its final masks. The fields likewise (at least the forced
  ones); ``keep_fields`` are ranked first.
* Exactness on the budget: if the exact cost of those counts is above the budget, the kept member with
  the lowest P(z > 0) over all groups (a group never below 1) is dropped, one at a time, until the cost
  is within it; then the member with the highest P(z > 0) not kept, over all groups, is added while the
  cost stays within the budget (a group whose next member does not fit is closed). The result never
  exceeds the budget and uses it up to the smallest member that would not fit. Why the filling: the
  min-max game of Eq. 4-5 oscillates around the target (measured: DNN, synthetic set, budget 0.2, the
  expected share went 0.36 -> 0.12 -> 0.03 in 60 steps before coming back), so the counts at the step
  where phase 1 ends may sit well below the budget; the budget, not that step, should set the size.
* CIN with ``cin_split_half``: its maps are not gated (``plan.cin_layers``), only its fields.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor, nn

from lightfmp.errors import InputError
from lightfmp.pruning.cost import MEASURES, Cost, count, full_cost
from lightfmp.pruning.gates import GateConfig, HardConcreteGate
from lightfmp.pruning.plan import PruningPlan, hidden_linears, prunable_units


def parse_budget(text: str) -> tuple[str, float]:
    """``"flops=0.1"`` or ``"params=0.1"`` -> (measure, kept share in (0, 1]); an InputError otherwise."""
    measure, sep, value = str(text).partition("=")
    measure = measure.strip().lower()
    try:
        share = float(value)
    except ValueError:
        share = math.nan
    if not sep or measure not in MEASURES or not 0.0 < share <= 1.0:
        raise InputError(f"--keep: expected params=SHARE or flops=SHARE with SHARE in (0, 1] (a share of No "
                         f"Selection's parameters or multiply-adds per sample), got {text!r}")
    return measure, share


class StructureGates(nn.Module):
    """Hard-concrete gates on fields, hidden units and CIN maps of one backbone (module docstring).

    Called as ``gates(x, e)`` in the gate slot it returns the field mask z [F]. ``attach(model)`` puts it in
    the slot and hooks the MLP and CIN; ``detach(model)`` undoes both. ``fix(plan)`` replaces every sampled
    or deterministic value by the plan's binary masks (the reference the compact model must equal).

    Args:
        model: the backbone (its name, cfg, vocab sizes and prunable paths are read; it is not modified).
        measure: "params" or "flops", what ``expected_share`` measures.
        cfg: the hard-concrete settings (all groups share them).
        generator: draws the initial log_alpha: the fields' first (as the field-only gate draws them),
            then each group's in path order.
    """

    def __init__(self, model: nn.Module, measure: str = "flops", cfg: GateConfig | None = None,
                 generator: torch.Generator | None = None):
        super().__init__()
        if measure not in MEASURES:
            raise ValueError(f"measure must be one of {MEASURES}, got {measure!r}")
        self.measure = measure
        self.backbone = str(model.name)
        self.model_cfg = model.cfg
        self.vocab_sizes = list(model.vocab_sizes)
        self.fields = HardConcreteGate(model.num_fields, cfg, generator=generator)
        groups = prunable_units(model)
        self.paths = list(groups)
        self.units = nn.ModuleList(HardConcreteGate(w, cfg, generator=generator) for w in groups.values())
        self._mlp_paths = [p for p in hidden_linears(model) if p.startswith("mlp.")]
        self._fixed: dict[str, Tensor] | None = None
        self.full: Cost = full_cost(self.backbone, self.model_cfg, self.vocab_sizes)

    # ---- the gate slot and the hooks ------------------------------------------------------------------
    @property
    def num_fields(self) -> int:
        return self.fields.num_fields

    def gate(self, path: str) -> HardConcreteGate:
        return self.units[self.paths.index(path)]

    def value(self, path: str) -> Tensor:
        """The gate values of group ``path`` ("fields" or a plan path) for this forward pass."""
        if self._fixed is not None:
            return self._fixed[path]
        g = self.fields if path == "fields" else self.gate(path)
        return g() if self.training else g.mean()

    def forward(self, x: Tensor | None = None, e: Tensor | None = None) -> Tensor:
        return self.value("fields")

    def _gate_units(self, layer: int, h: Tensor) -> Tensor:
        path = self._mlp_paths[layer]
        return h * self.value(path) if path in self.paths else h

    def _gate_maps(self, layer: int, out: Tensor) -> Tensor:
        path = f"cin.weights.{layer}"
        return out * self.value(path) if path in self.paths else out

    def attach(self, model: nn.Module) -> "StructureGates":
        """``model.gate = self``; the MLP's and CIN's hooks read this module's gates."""
        model.gate = self
        model.mlp.unit_gate = self._gate_units
        if any(p.startswith("cin.") for p in self.paths):
            model.cin.map_gate = self._gate_maps
        return self

    @staticmethod
    def detach(model: nn.Module) -> None:
        """Remove the gates from ``model`` (slot and hooks): its forward is the ungated one again."""
        model.gate = None
        if hasattr(model, "mlp"):
            model.mlp.unit_gate = None
        if hasattr(model, "cin"):
            model.cin.map_gate = None

    def fix(self, plan: PruningPlan | None) -> None:
        """Binary masks from ``plan`` in place of the gates (None: the gates again); a kept unit's value is
        its ``plan.unit_scale`` where the plan has one, else 1."""
        if plan is None:
            self._fixed = None
            return
        dev = self.fields.log_alpha.device

        def mask(n: int, keep: Sequence[int] | None, values: Sequence[float] | None = None) -> Tensor:
            z = torch.zeros(n, device=dev)
            idx = list(range(n)) if keep is None else list(keep)
            z[idx] = 1.0 if values is None else torch.tensor(values, device=dev)
            return z

        fixed = {"fields": mask(self.num_fields, plan.fields)}
        for path, g in zip(self.paths, self.units):
            fixed[path] = mask(g.num_fields, plan.units.get(path), plan.unit_scale.get(path))
        self._fixed = fixed

    # ---- what the constraint reads --------------------------------------------------------------------
    def log_alphas(self) -> list[nn.Parameter]:
        return [self.fields.log_alpha] + [g.log_alpha for g in self.units]

    @torch.no_grad()
    def constrain_(self) -> None:
        self.fields.constrain_()
        for g in self.units:
            g.constrain_()

    def keep_probability(self) -> Tensor:
        """P(z_f > 0) per field (what the field-only gate reports)."""
        return self.fields.keep_probability()

    @property
    def log_alpha(self) -> Tensor:
        return self.fields.log_alpha

    def expected_widths(self) -> dict[str, Tensor]:
        return {p: g.keep_probability().sum() for p, g in zip(self.paths, self.units)}

    def expected_cost(self) -> Cost:
        """``count`` at the expected widths (differentiable in every log_alpha)."""
        widths = self.expected_widths()
        hidden = [widths.get(p, h) for p, h in zip(self._mlp_paths, self.model_cfg.hidden)]
        cin = [widths.get(f"cin.weights.{k}", h) for k, h in enumerate(self.model_cfg.cin_layers)]
        return count(self.backbone, self.model_cfg, self.vocab_sizes, self.fields.keep_probability(), hidden, cin)

    def expected_share(self) -> Tensor:
        """s: the expected kept share of No Selection's ``measure`` (the constraint's variable)."""
        return self.expected_cost().share(self.full, self.measure)

    def expected_sparsity(self) -> Tensor:
        """1 - s, so that ``LagrangianConstraint`` (written for sparsities) takes it as it takes the fields'."""
        return 1.0 - self.expected_share()

    def unit_keep_probability(self) -> dict[str, list[float]]:
        return {p: g.keep_probability().detach().cpu().double().tolist() for p, g in zip(self.paths, self.units)}

    def counts(self, forced: Sequence[int] = ()) -> dict[str, int]:
        """Per group ("fields" and each path), round(sum of P(z > 0)), at least 1 (fields: the forced ones)."""
        with torch.no_grad():
            out = {"fields": max(1, len(set(forced)), int(round(float(self.fields.keep_probability().sum()))))}
            for p, g in zip(self.paths, self.units):
                out[p] = max(1, int(round(float(g.keep_probability().sum()))))
        return out


def plan_cost(gates: StructureGates, plan: PruningPlan) -> Cost:
    """The exact cost of the compact model ``plan`` makes of the gated backbone."""
    w = [0.0] * gates.num_fields
    for i in plan.kept_fields(gates.num_fields):
        w[i] = 1.0
    mlp = [len(plan.units[p]) if p in plan.units else h for p, h in zip(gates._mlp_paths, gates.model_cfg.hidden)]
    cin = [len(plan.units.get(f"cin.weights.{k}", range(h))) for k, h in enumerate(gates.model_cfg.cin_layers)]
    return count(gates.backbone, gates.model_cfg, gates.vocab_sizes, w, mlp, cin)


def choose_structure(gates: StructureGates, share: float, forced: Sequence[int] = ()) -> PruningPlan:
    """Phase 2a of joint pruning: the kept fields and units (module docstring: counts, then trimming to
    the budget). ``forced``: field positions kept whatever their score (``LightFMP(keep_fields=...)``)."""
    scores = {"fields": gates.fields.keep_probability().detach().double().cpu().clone()}
    if forced:
        scores["fields"][list(forced)] = math.inf
    for p, g in zip(gates.paths, gates.units):
        scores[p] = g.keep_probability().detach().double().cpu()
    order = {k: torch.argsort(s, descending=True, stable=True).tolist() for k, s in scores.items()}
    n = gates.counts(forced)
    floor = {k: (max(1, len(set(forced))) if k == "fields" else 1) for k in n}

    def plan() -> PruningPlan:
        return PruningPlan(fields=order["fields"][: n["fields"]],
                           units={p: order[p][: n[p]] for p in gates.paths})

    budget = share * float(gates.full.total(gates.measure))

    def cost() -> float:
        return float(plan_cost(gates, plan()).total(gates.measure))

    while cost() > budget * (1 + 1e-12):
        # drop the lowest-scored kept member of any group still above its floor
        movable = [k for k in n if n[k] > floor[k]]
        if not movable:
            break  # every group at its floor: the smallest model there is
        k = min(movable, key=lambda g: (float(scores[g][order[g][n[g] - 1]]), g))
        n[k] -= 1
    open_groups = [k for k in n if n[k] < len(order[k])]
    while open_groups:
        # add the highest-scored member not kept, while the cost stays within the budget
        k = max(open_groups, key=lambda g: (float(scores[g][order[g][n[g]]]), g))
        n[k] += 1
        if cost() > budget * (1 + 1e-12):
            n[k] -= 1
            open_groups.remove(k)
        elif n[k] == len(order[k]):
            open_groups.remove(k)
    return plan()
