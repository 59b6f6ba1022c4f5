"""Phase 1 of Light-FMP: pretrain the backbone and the field mask on the small subset D_S.

Paper Section 2.3 and Algorithm 1; the constraint is ``LagrangianConstraint`` (Eq. 4-5).
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from lightfmp.data.schema import FIRST_VALUE_ID, OOV_ID
from lightfmp.nn.embedding import FieldTable
from lightfmp.pruning.gates import GateConfig, HardConcreteGate
from lightfmp.pruning.lagrangian import LagrangianConstraint
from lightfmp.pruning.structure import StructureGates, parse_budget
from lightfmp.train.batching import DeviceBatches
from lightfmp.train.config import TrainConfig
from lightfmp.train.loop import LoopState, train_loop
from lightfmp.train.optim import build_optimizer, embedding_l2, field_tables


@dataclass(frozen=True)
class PretrainConfig:
    """How phase 1 runs. Every default is a choice; the reasons are beside each one.

    Args:
        prune_ratio: tau, the fraction of fields to remove (paper default 0.5).
        lr: Adam learning rate of the backbone, the training default 1e-3. Higher, a DNN memorises D_S and
            the pretrained init falls below training from scratch; lower (3e-4) lost planted fields.
            Evidence: docs/decisions.md#pretraining-learning-rate; check at the default:
            `python bench/lightfmp_accuracy.py --skip-real --guards 5`.
        gate_lr: learning rate of log_alpha, and (negated) of the multipliers: 0.05 moves a logit across
            its useful range in ~100 steps, about the length of phase 1 (reasoning, not a sweep).
            Evidence: docs/decisions.md#pretraining-gate-learning-rate.
        batch_size: D_S mini-batch, 128 (16 steps per pass over 2,000 rows). PT is ~steps x batch samples
            and must stay a small share of TT; 128 still kept every planted field, 64 did not.
            Evidence: docs/decisions.md#pretraining-batch-size; check at the default:
            `python bench/lightfmp_accuracy.py --skip-real --guards 5`.
        embed_l2: L2 on the embedding/linear rows a batch touched (paper Section 3.4: 1e-5 on linear
            and embedding layers), as ``lightfmp.train.optim.embedding_l2`` computes it.
        sparse_embeddings: the tables get sparse gradients and lazy Adam, as in continued training
            (``lightfmp.train.optim.build_optimizer``), because a dense Adam step over a Criteo-sized
            table would alone make pretraining a large share of the total time. None (default) chooses
            per table as ``TrainConfig.sparse_table`` does (dense on CUDA and for CPU tables of at most
            1M parameters). Evidence: docs/decisions.md#pretraining-sparse-tables; re-measure:
            `python bench/table_optimizer.py --batch-size 128 --rows 1290000`.
        warmup_steps: linear warm-up of the target sparsity from 0 to tau (Shearing's Lagrangian
            warm-up), so that the backbone learns from every field, an interaction pair included,
            before the pressure starts. Evidence: docs/decisions.md#pretraining-stop-rule-and-step-budget.
        min_steps, max_steps: the step budget. Pretraining stops at the first end of a pass over
            D_S, after ``min_steps`` and the warm-up, where (a) |s_hat - tau| <= ``tolerance`` and
            (b) either the mean training loss of the pass changed by at most ``settle_rtol``
            (relative) from the previous pass, or the kept set (the top m - round(tau m) fields by
            P(z > 0), what phase 2 will keep) is the same at the ends of the last
            ``stable_passes`` + 1 passes; otherwise at ``max_steps``. Why: Algorithm 1 says "until
            convergence" without naming what converges, and the loss test alone never fires for an
            xDeepFM that memorises D_S; the mask is what this phase is for, so its stability counts
            too. ``min_steps`` 160 (= the warm-up) because PT is ~all steps, and shorter warm-ups saved
            no steps. Evidence: docs/decisions.md#pretraining-stop-rule-and-step-budget; re-measure:
            `python bench/lightfmp_accuracy.py --skip-real --guards 5 --seeds 5`.
        holdout: the fraction of D_S held out of the gradient steps to choose the backbone weights
            handed to phase 2 (early stopping): after every pass the held-out BCE of the model
            (eval mode, deterministic gate, raw ids as continued training will see them) is
            measured, and on return the backbone holds the weights of the pass where it was lowest;
            the gate keeps its final log_alpha. 0 turns it off (the last weights are kept).
            Why: the paper hands M_T's "domain-adapted" weights to continued training, and weights
            that memorised 2,000 rows are not that (an xDeepFM's CIN output blows up and continued
            training from it ends far below No Selection). 0.05, because the rows held out are rows
            the mask does not learn from and 0.1 already lost a planted field.
            Evidence: docs/decisions.md#pretraining-held-out-early-stopping; re-measure:
            `python bench/lightfmp_accuracy.py --datasets criteo --models xdeepfm --ratios 0.25`.
        rare_min_count: the memorisation guard. Values seen fewer than this many times *inside D_S*
            are mapped to the OOV id (0) while pretraining only; 0 or 1 turns it off. Why: a value seen
            once in 2,000 rows lets its embedding memorise that row's label, so a high-cardinality
            noise field would win the mask. The cost: it also hides an ID-like field whose rare values
            carry signal (Avazu's device_ip is pruned); ``lightfmp prune`` names such a field, and
            ``--rare-min-count`` / ``--keep-fields`` are the remedies.
            Evidence: docs/decisions.md#pretraining-rare-value-guard; re-measure:
            `python bench/lightfmp_accuracy.py --skip-real --guards 1,2,3,5`.
        gate: the hard-concrete settings (paper defaults).
        budget: None (default): the paper's field-only mask under tau (``prune_ratio``). ``"flops=0.1"`` or
            ``"params=0.1"``: joint structured pruning (``lightfmp.pruning.structure``): gates on fields,
            hidden units and CIN maps under one constraint, the expected kept share of No Selection's
            multiply-adds per sample (or parameters) driven to that share; ``prune_ratio`` is then not
            used (the number of fields is learned with the rest). The Lagrangian (Eq. 4-5) takes
            s = 1 - expected share against 1 - budget, warmed up as for fields.
        budget_rtol: joint pruning's "on target" test (the counterpart of ``tolerance``): the expected kept
            share within this fraction of the budget (0.1: a 0.1 budget is met in [0.09, 0.11]). Relative,
            because an absolute 0.02 would be 40% of a 0.05 budget.
    """

    prune_ratio: float = 0.5
    lr: float = 1e-3
    gate_lr: float = 0.05
    batch_size: int = 128
    embed_l2: float = 1e-5
    sparse_embeddings: bool | None = None
    warmup_steps: int = 160
    min_steps: int = 160
    max_steps: int = 1200
    tolerance: float = 0.02
    settle_rtol: float = 0.05
    stable_passes: int = 2
    holdout: float = 0.05
    rare_min_count: int = 5
    gate: GateConfig = field(default_factory=GateConfig)
    budget: str | None = None
    budget_rtol: float = 0.1

    def __post_init__(self) -> None:
        if self.budget is not None:
            measure, share = parse_budget(self.budget)
            object.__setattr__(self, "budget", f"{measure}={share:g}")
        if not 0.0 <= self.prune_ratio < 1.0:
            raise ValueError(f"prune_ratio must be in [0, 1), got {self.prune_ratio}")
        if self.max_steps < 1 or self.batch_size < 1:
            raise ValueError("max_steps and batch_size must be >= 1")
        if not 0.0 <= self.holdout < 1.0 or self.stable_passes < 1:
            raise ValueError(f"holdout must be in [0, 1) and stable_passes >= 1, got {self.holdout}, "
                             f"{self.stable_passes}")


@dataclass
class PretrainResult:
    """What phase 1 learned: the gate's scores and how it got there."""

    keep_probability: np.ndarray  # P(z_f > 0) per field, the mask score used for ranking
    log_alpha: np.ndarray
    expected_sparsity: float
    steps: int
    converged: bool
    seconds: float
    history: list[dict] = field(default_factory=list)  # one record per pass over D_S
    weights_step: int = 0  # the step whose backbone weights were kept (``PretrainConfig.holdout``)
    # per field, the share of the rows trained on that pretraining read as OOV (unseen in the vocabulary,
    # or hidden by the ``rare_min_count`` guard): what the mask could not tell apart
    unknown_share: list[float] = field(default_factory=list)
    # joint pruning only (``PretrainConfig.budget``): P(z > 0) per unit of each gated group (plan path ->
    # list), the expected kept share at the end, and the chosen units (``structure.choose_structure``;
    # set by phase 2a, kept here so that checkpoints and broadcasts carry them with the rest)
    unit_keep_probability: dict[str, list[float]] = field(default_factory=dict)
    expected_share: float | None = None
    units: dict[str, list[int]] = field(default_factory=dict)


def num_pruned_fields(num_fields: int, prune_ratio: float) -> int:
    """round(tau * m) fields to remove, rounding halves up (39 fields at tau 0.5 -> 20 pruned, 19 kept),
    and never all of them: at least one field is kept."""
    if not 0.0 <= prune_ratio < 1.0:
        raise ValueError(f"prune_ratio must be in [0, 1), got {prune_ratio}")
    return min(int(math.floor(prune_ratio * num_fields + 0.5)), num_fields - 1)


def rare_values_to_oov(X: np.ndarray, min_count: int = 2) -> np.ndarray:
    """A copy of X where, per column, value ids seen fewer than ``min_count`` times become ``OOV_ID``.

    Reserved ids (OOV, missing) are left alone. Vectorised per column (np.unique counts); the loop
    runs over the F columns, never over rows.
    """
    out = np.array(X, dtype=np.int32, copy=True)
    if min_count <= 1 or out.size == 0:
        return out
    for j in range(out.shape[1]):
        _, inverse, counts = np.unique(out[:, j], return_inverse=True, return_counts=True)
        rare = (counts[inverse] < min_count) & (out[:, j] >= FIRST_VALUE_ID)
        out[rare, j] = OOV_ID
    return out


# Over 60 lines on purpose: phase 1 is one loop whose state (the gate, the Lagrangian, the snapshots of the
# best weights, the stop rule's counters) every callback reads and writes; split, each piece would take and
# return that state whole.
def pretrain(
    model: nn.Module,
    X: np.ndarray,
    y: np.ndarray,
    cfg: PretrainConfig = PretrainConfig(),
    seed: int = 0,
    device: str | torch.device = "cpu",
    log: bool = False,
) -> tuple[HardConcreteGate, PretrainResult]:
    """Train ``model`` with a hard-concrete gate in its gate slot on D_S = (X, y) (Algorithm 1).

    The model is modified in place (its weights become the domain-adapted M_T) and its gate slot
    holds the trained gate on return, in eval mode. Loss: mean BCE on logits + Eq. 4 (Eq. 5).
    Optimiser: ``lightfmp.train.optim.build_optimizer`` with the backbone at ``lr``, log_alpha at
    ``gate_lr`` and the multipliers at ``-gate_lr`` (gradient ascent, as LLM-Shearing's negative-lr
    param group).
    ``log``: one line on stderr when it ends (``pretraining: 176 steps of 128 rows, converged, 1.9 s``).
    """
    t0 = time.perf_counter()
    if len(X) == 0:
        raise ValueError("the pretraining subset D_S is empty")
    device = torch.device(device)
    gen = torch.Generator().manual_seed(seed)
    num_fields = X.shape[1]
    joint = cfg.budget is not None
    if joint:  # fields, hidden units and CIN maps under one constraint on the kept share
        measure, share = parse_budget(cfg.budget)
        gate = StructureGates(model, measure, cfg.gate, generator=gen).to(device)
        target = 1.0 - share
        gate.attach(model)
        gate_params = gate.log_alphas()
    else:
        gate = HardConcreteGate(num_fields, cfg.gate, generator=gen).to(device)
        target = cfg.prune_ratio
        model.gate = gate
        gate_params = [gate.log_alpha]
    lag = LagrangianConstraint(target, cfg.warmup_steps).to(device)
    model.to(device)

    X, y = np.asarray(X), np.asarray(y, dtype=np.float32)
    n_hold = int(round(cfg.holdout * len(X))) if len(X) > 1 else 0
    if n_hold:
        order = torch.randperm(len(X), generator=gen).numpy()
        hold, train = order[:n_hold], np.sort(order[n_hold:])
        xh = torch.as_tensor(X[hold], dtype=torch.long, device=device)  # raw ids: no OOV guard
        yh = torch.as_tensor(y[hold], device=device)
        X, y = X[train], y[train]
    Xs = rare_values_to_oov(X, cfg.rare_min_count)  # counts inside the rows trained on
    unknown_share = (Xs == OOV_ID).mean(axis=0).tolist()
    batches = DeviceBatches(Xs, y, cfg.batch_size, device=device)
    batches.generator = gen  # each pass's order is drawn from the generator the gate's noise uses
    tables = field_tables(model)
    moved_rows = _rows_moved_by(model, batches.X)
    sparse_before = [t.sparse for t in tables]  # build_optimizer flips them; restored at the end
    train_cfg = TrainConfig(lr=cfg.lr, sparse_embeddings=cfg.sparse_embeddings, device=device.type)
    opt = build_optimizer(
        model, train_cfg,
        extra_param_groups=[{"params": gate_params, "lr": cfg.gate_lr}, lag.param_group(cfg.gate_lr)],
    )
    loss_fn = nn.BCEWithLogitsLoss()
    history: list[dict] = []
    step, prev_loss, total = 0, math.inf, torch.zeros((), device=device)
    num_pruned = num_pruned_fields(num_fields, cfg.prune_ratio)  # as phase 2
    kept_sets: list[list[int]] = []
    best_loss, best_state, best_step = math.inf, None, 0

    def train_step(batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        nonlocal step
        xb, yb = batch
        bce = loss_fn(model(xb), yb)
        loss = bce + lag(gate.expected_sparsity(), step)
        l2 = embedding_l2(tables, len(yb)) if cfg.embed_l2 > 0 else None
        if l2 is not None:
            loss = loss + cfg.embed_l2 * l2
        opt.zero_grad()
        loss.backward()
        opt.step()
        gate.constrain_()
        total.add_(bce.detach() * len(yb))
        step += 1
        return loss

    def pass_end(st: LoopState) -> None:
        nonlocal prev_loss, best_loss, best_state, best_step
        pass_loss = float(total) / batches.num_rows
        total.zero_()
        s_hat = float(gate.expected_sparsity().detach())
        if joint:  # what phase 2a would keep, before trimming to the budget: the fields and each group's count
            counts = gate.counts()
            kept = sorted(torch.argsort(gate.keep_probability().detach(), descending=True,
                                        stable=True)[: counts["fields"]].tolist())
            kept_sets.append([kept, counts])
        else:
            kept = sorted(gate.binary_mask(num_pruned).nonzero().flatten().tolist())
            kept_sets.append(kept)
        record = {"step": step, "loss": pass_loss, "expected_sparsity": s_hat,
                  "lambda": float(lag.lambda_1.detach()), "phi": float(lag.lambda_2.detach()), "kept": kept}
        if joint:
            record["expected_share"] = 1.0 - s_hat
            record["widths"] = {k: v for k, v in counts.items() if k != "fields"}
        if n_hold:
            record["holdout_loss"] = held = _heldout_loss(model, xh, yh, loss_fn)
            if held < best_loss:
                best_loss, best_step = held, step
                best_state = _snapshot(model, moved_rows)
        history.append(record)
        settled = abs(pass_loss - prev_loss) <= cfg.settle_rtol * max(prev_loss, 1e-12)
        stable = len(kept_sets) > cfg.stable_passes and all(k == kept_sets[-1]
                                                            for k in kept_sets[-cfg.stable_passes - 1:])
        if joint:
            on_target = abs((1.0 - s_hat) - share) <= cfg.budget_rtol * share
        else:
            on_target = abs(s_hat - cfg.prune_ratio) <= cfg.tolerance
        past_warmup = step >= max(cfg.min_steps, cfg.warmup_steps)
        st.stop = (settled or stable) and on_target and past_warmup  # converged
        prev_loss = pass_loss

    converged = train_loop(train_step, batches, model, phase="pretraining", device=device, max_steps=cfg.max_steps,
                           epochs=math.ceil(cfg.max_steps / len(batches)), on_epoch_end=pass_end).stop
    if best_state is not None:
        _restore(model, best_state, moved_rows)  # the gate is not in it: it keeps its final log_alpha
    for t, flag in zip(tables, sparse_before):
        t.sparse = flag
    gate.eval()
    model.eval()
    with torch.no_grad():
        result = PretrainResult(
            keep_probability=gate.keep_probability().cpu().numpy().astype(np.float64),
            log_alpha=gate.log_alpha.detach().cpu().numpy().astype(np.float64),
            expected_sparsity=float(gate.expected_sparsity()),
            steps=step,
            converged=converged,
            seconds=time.perf_counter() - t0,
            history=history,
            weights_step=best_step if best_state is not None else step,
            unknown_share=unknown_share,
        )
        if joint:
            result.unit_keep_probability = gate.unit_keep_probability()
            result.expected_share = float(gate.expected_share())
    if log:
        state = "converged" if converged else f"stopped at max_steps {cfg.max_steps}"
        print(f"pretraining: {step} steps of {cfg.batch_size} rows, {state}, {result.seconds:.1f} s",
              file=sys.stderr, flush=True)
    return gate, result


def _rows_moved_by(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per table parameter name, the table rows that training on ids ``x`` can change: the rows those
    ids look up. No other row receives a gradient (the L2 term covers looked-up rows only), so under
    dense and lazy Adam alike every other row keeps its initial value."""
    out = {}
    for name, mod in model.named_modules():
        if isinstance(mod, FieldTable) and not name.startswith("gate"):  # the gate is not snapshotted
            out[f"{name}.weight" if name else "weight"] = torch.unique((x + mod.offsets).flatten())
    return out


@torch.no_grad()
def _snapshot(model: nn.Module, moved_rows: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A copy of the backbone's state (the gate left out) for ``_restore``: the tables hold only the rows in
    ``moved_rows``. Why: a Criteo-sized table would be copied whole at every pass whose held-out loss
    improved, while D_S looks up a few percent of its rows and no other row moves.
    Evidence: docs/decisions.md#pretraining-snapshots-hold-the-moved-rows-only (arithmetic)."""
    state = {}
    for k, v in model.state_dict().items():
        if k.startswith("gate."):
            continue
        state[k] = v.index_select(0, moved_rows[k]) if k in moved_rows else v.detach().clone()
    return state


@torch.no_grad()
def _restore(model: nn.Module, state: dict[str, torch.Tensor], moved_rows: dict[str, torch.Tensor]) -> None:
    """Put a ``_snapshot`` back: the tables' moved rows by index, everything else by ``load_state_dict``."""
    params = dict(model.named_parameters())
    for k, rows in moved_rows.items():
        params[k].index_copy_(0, rows, state[k])
    model.load_state_dict({k: v for k, v in state.items() if k not in moved_rows}, strict=False)


@torch.no_grad()
def _heldout_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: nn.Module) -> float:
    """Mean BCE of ``model`` on held-out rows in eval mode (deterministic gate); training mode restored."""
    model.eval()
    try:
        return float(loss_fn(model(x), y))
    finally:
        model.train()
