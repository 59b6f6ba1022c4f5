"""`SparseTraining`: masks at a fixed density on chosen parameters, kept through training as a callback.

Model-agnostic: it takes a module and parameter names (default `default_targets`: tables and Linear
weights), and is called after each optimizer step with the step number, the planned total and the optimizer
(``after_step``). `lightfmp.train.fit` calls it through ``fit(..., on_step=st.fit_hook())``; any other loop calls
``after_step(step, total_steps, optimizer)`` itself.

Per step (DSL's ``Masking.step``): the weights are multiplied by their masks; every ``schedule.interval`` steps
each tensor's mask is updated (`lightfmp.sparse.dsl.prune_and_regrow` with d_t = `UpdateSchedule.rate`),
removed weights are set to 0 and regrown ones start at 0.

Adam's moments (``mask_moments``): DSL's code masks SGD's ``momentum_buffer`` but never Adam's ``exp_avg`` /
``exp_avg_sq``: a masked weight keeps receiving its (dense) gradient and an Adam update every step, which the
mask then undoes, and a regrown weight starts at 0 with the moments it built up while inactive.
``mask_moments=False`` (the default) does the same. ``mask_moments=True`` also zeroes every optimizer state
tensor of the weight's shape (Adam's two moments, SGD's momentum) at the inactive entries after each step, so
a regrown weight starts with fresh moments.

Sparse table gradients (RowAdam): only the rows a step touched change, so only those rows are re-masked that
step (a table-sized pass per step is what RowAdam exists to avoid); growth reads the coalesced gradient
(`lightfmp.sparse.dsl`).

After `fit` restores its best epoch, the weights carry that epoch's masks while this object holds the last
epoch's: `sync_to_weights` re-reads them (largest |w| at the same count: every nonzero weight, then zeros).
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

import torch
from torch import Tensor, nn

from lightfmp.errors import InputError
from lightfmp.sparse.dsl import prune_and_regrow
from lightfmp.sparse.masks import (ALLOCATIONS, default_targets, erk_densities, global_magnitude_masks,
                                   magnitude_mask, random_mask)
from lightfmp.sparse.schedule import UpdateSchedule
from lightfmp.sparse.variants import Variant, get_variant


def optimizer_states(optimizer: Any, param: Tensor) -> list[Tensor]:
    """Every state tensor of ``param``'s shape (moments, momentum) in ``optimizer``: a torch optimizer or one
    holding several (``.optimizers``, `lightfmp.train.optim.CompositeOptimizer`)."""
    if optimizer is None:
        return []
    inner = getattr(optimizer, "optimizers", None)
    if inner is not None:
        return [t for opt in inner for t in optimizer_states(opt, param)]
    state = getattr(optimizer, "state", {}).get(param, {})
    return [v for v in state.values() if isinstance(v, Tensor) and v.shape == param.shape and v.is_floating_point()]


class SparseTraining:
    """Per-tensor masks at ``density`` on ``names`` of ``module``, applied now and after every step.

    Args:
        module: the model (its parameters are masked in place).
        density: fraction of the masked entries kept active, in (0, 1] (each tensor's, with "uniform").
        names: parameter names to mask; None: `default_targets(module)`.
        variant: a `VARIANTS` name or a `Variant` (dsl, set, static, magnitude-init, magnitude).
        schedule: Delta-T and the cosine d_t (`UpdateSchedule`; DSL: 100, 0.5 -> 0.005).
        mask_moments: also zero the optimizer's moments at inactive entries (module doc; DSL: False).
        allocation: "uniform" (every tensor at ``density``, DSL's code) or "erk" (RigL's Erdos-Renyi-Kernel split
            of the same total, `erk_densities`: tables denser, square Linear layers sparser).
        seed: seeds the random masks and the random tie-breaks and growth.

    Attributes:
        masks: name -> bool mask (the parameter's shape and device).
        updates: how many mask updates ran; ``fired``: name -> bool, every entry ever active (DSL's ITOP ratio R).

    Example:
        >>> st = SparseTraining(model, 0.2)
        >>> fit(model, train, valid, cfg, on_step=st.fit_hook())
    """

    def __init__(self, module: nn.Module, density: float, names: Iterable[str] | None = None,
                 variant: str | Variant = "dsl", schedule: UpdateSchedule = UpdateSchedule(),
                 mask_moments: bool = False, allocation: str = "uniform", seed: int = 0):
        if not 0.0 < float(density) <= 1.0:
            raise InputError(f"the density must be in (0, 1], got {density}")
        self.module, self.density, self.variant = module, float(density), get_variant(variant)
        self.schedule, self.mask_moments = schedule, bool(mask_moments)
        self.names = list(names) if names is not None else default_targets(module)
        params = dict(module.named_parameters())
        unknown = [n for n in self.names if n not in params]
        if unknown:
            raise InputError(f"no parameter named {unknown[0]!r} in the model (sparse training targets)")
        if not self.names:
            raise InputError("no parameter to make sparse: the model has no tables or Linear layers")
        self.params = {n: params[n] for n in self.names}
        if allocation not in ALLOCATIONS:
            raise InputError(f"unknown density allocation {allocation!r}; choose one of {', '.join(ALLOCATIONS)}")
        self.allocation = allocation
        self.densities = ({n: self.density for n in self.names} if allocation == "uniform"
                          else erk_densities({n: tuple(p.shape) for n, p in self.params.items()}, self.density))
        self.generator = torch.Generator().manual_seed(int(seed))
        self.masks = self._first_masks()
        self._inactive: dict[str, tuple[Tensor, Tensor]] = {}
        self.fired = {n: m.clone() for n, m in self.masks.items()}
        self.updates, self.last_rate = 0, float("nan")
        self.apply(full=True)

    def _first_masks(self) -> dict[str, Tensor]:
        init = self.variant.init
        if init == "global-magnitude":
            return global_magnitude_masks({n: p.detach() for n, p in self.params.items()}, self.density)
        if init == "magnitude":
            return {n: magnitude_mask(p, self.densities[n]) for n, p in self.params.items()}
        return {n: random_mask(p.detach(), self.densities[n], self.generator) for n, p in self.params.items()}

    # -- per step ---------------------------------------------------------------------------------------
    @torch.no_grad()
    def apply(self, optimizer: Any = None, full: bool = False) -> None:
        """Zero the inactive weights (and, with ``mask_moments``, their optimizer moments). ``masked_fill_``
        rather than a product, so a masked weight is +0.0, never -0.0. After a step with a sparse (row)
        gradient only its rows are re-masked, unless ``full`` (needed whenever the masks were replaced)."""
        for name, p in self.params.items():
            off = self._inactive_on(name, p)
            tensors = [p] + (optimizer_states(optimizer, p) if self.mask_moments else [])
            grad = p.grad
            if grad is not None and grad.is_sparse and not full:
                rows = grad._indices()[0]  # only these rows moved this step (duplicates write the same values)
                row_off = off.index_select(0, rows)
                for t in tensors:
                    t.index_copy_(0, rows, t.index_select(0, rows).masked_fill_(row_off, 0.0))
            else:
                for t in tensors:
                    t.masked_fill_(off, 0.0)

    def after_step(self, step: int, total_steps: int, optimizer: Any = None) -> bool:
        """Call after optimizer step ``step`` (1-based) of ``total_steps``: re-mask, and update the masks when
        the schedule says so. Returns whether the masks changed."""
        self.apply(optimizer)
        if self.variant.growth is None or not self.schedule.due(step, total_steps):
            return False
        self.update(self.schedule.rate(step, total_steps), optimizer)
        return True

    @torch.no_grad()
    def update(self, rate: float, optimizer: Any = None) -> None:
        """One prune-and-regrow of every masked tensor at rate d_t = ``rate``; removed weights and regrown ones
        are set to 0 (and their moments too with ``mask_moments``)."""
        for name, p in self.params.items():
            change = prune_and_regrow(p, self._mask_on(name, p), p.grad, rate, self.variant.growth, self.generator)
            self.masks[name] = change.mask
            self.fired[name] |= change.mask.to(self.fired[name].device)
            zero = change.removed | change.grown
            p.masked_fill_(zero, 0.0)
            if self.mask_moments:
                for t in optimizer_states(optimizer, p):
                    t.masked_fill_(zero, 0.0)
        self.updates += 1
        self.last_rate = float(rate)

    def fit_hook(self) -> Callable[[Any, Any], None]:
        """The ``on_step`` of `lightfmp.train.fit`: ``(loop_state, optimizer)`` -> `after_step`."""
        return lambda state, optimizer: self.after_step(state.step, state.total_steps, optimizer)

    def _mask_on(self, name: str, p: Tensor) -> Tensor:
        mask = self.masks[name]
        if mask.device != p.device:  # the model moved (fit's model.to(device)) after the masks were made
            mask = self.masks[name] = mask.to(p.device)
        return mask

    def _inactive_on(self, name: str, p: Tensor) -> Tensor:
        """~mask, kept beside the mask (one bool pass per mask change, not per step)."""
        mask = self._mask_on(name, p)
        cached = self._inactive.get(name)
        if cached is None or cached[0] is not mask:
            cached = self._inactive[name] = (mask, ~mask)
        return cached[1]

    # -- after training -----------------------------------------------------------------------------------
    @torch.no_grad()
    def sync_to_weights(self) -> None:
        """Masks re-read from the weights (after `fit` restored its best epoch): the same count per tensor,
        every nonzero weight first."""
        for name, p in self.params.items():
            self.masks[name] = magnitude_mask(p, self.densities[name])
        self.apply(full=True)

    def stats(self) -> dict[str, Any]:
        """Density of the masked tensors (by mask and by nonzero weights), the fired ratio R, update count."""
        total = sum(p.numel() for p in self.params.values())
        active = sum(int(m.sum()) for m in self.masks.values())
        nonzero = sum(int((p.detach() != 0).sum()) for p in self.params.values())
        fired = sum(int(f.sum()) for f in self.fired.values())
        return {"method": self.variant.name, "target_density": self.density, "density": active / total,
                "nonzero_density": nonzero / total, "masked_params": total, "active_params": active,
                "fired_ratio": fired / total, "updates": self.updates, "mask_moments": self.mask_moments,
                "allocation": self.allocation, "tensor_densities": dict(self.densities),
                "update_interval": self.schedule.interval, "tensors": list(self.names)}

    def state_dict(self) -> dict[str, Any]:
        """Masks, fired masks and counters, for a checkpoint (CPU tensors)."""
        return {"masks": {n: m.cpu() for n, m in self.masks.items()},
                "fired": {n: f.cpu() for n, f in self.fired.items()}, "updates": self.updates,
                "generator": self.generator.get_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for name, p in self.params.items():
            self.masks[name] = state["masks"][name].to(device=p.device, dtype=torch.bool)
            self.fired[name] = state["fired"][name].to(dtype=torch.bool)
        self.updates = int(state["updates"])
        self.generator.set_state(state["generator"])
        self.apply(full=True)

