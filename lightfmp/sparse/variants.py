"""The sparse-training methods compared with DSL, as (first masks, growth rule, dense training first).

=================  ===================================  ============  ====================================
name               first masks                          mask updates  as in
=================  ===================================  ============  ====================================
dsl                random, exact count per tensor       magnitude death, gradient growth (DSL, RigL growth)
set                random                               magnitude death, random growth (DSL ``--growth random``)
static             random                               none          DSL ``--fix``: random pruning at init
magnitude-init     largest |w| per tensor at init       none          DSL ``lottery_ticket`` init, per tensor
magnitude          largest |w| per tensor after a       none          post-training magnitude pruning, then
                   dense training                                     fine-tuning (an IMP-lite baseline)
=================  ===================================  ============  ====================================

Choices: SET's own death removes the smallest positive and the largest negative weights separately
(DSL ``--death SET``); here every method uses magnitude death so that only the growth differs. DSL's
``lottery_ticket`` init takes one global magnitude threshold over all tensors (`global_magnitude_masks`); with
embeddings initialised at std 1e-4 beside Kaiming-uniform Linear weights that threshold empties the tables, so
the variants use per-tensor thresholds (the global one stays available as ``init="global-magnitude"``).
``magnitude`` is the same masks as ``magnitude-init`` taken from trained weights: the caller trains dense,
attaches `SparseTraining` (which reads the trained magnitudes) and fine-tunes (`Variant.dense_first`).
"""
from __future__ import annotations

from dataclasses import dataclass

from lightfmp.errors import InputError

INITS = ("random", "magnitude", "global-magnitude")


@dataclass(frozen=True)
class Variant:
    """How one sparse-training method picks and changes its masks.

    Attributes:
        name: the registry name (`VARIANTS`).
        init: "random" (exact count, uniform), "magnitude" (largest |w| per tensor, at attach time) or
            "global-magnitude" (one threshold over all masked tensors).
        growth: None for a fixed mask, else `lightfmp.sparse.dsl.GROWTH` ("gradient" or "random").
        dense_first: the pipeline trains the dense model first and attaches the masks to its weights.
    """

    name: str
    init: str = "random"
    growth: str | None = "gradient"
    dense_first: bool = False

    def __post_init__(self) -> None:
        if self.init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {self.init!r}")


VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("dsl", init="random", growth="gradient"),
    Variant("set", init="random", growth="random"),
    Variant("static", init="random", growth=None),
    Variant("magnitude-init", init="magnitude", growth=None),
    Variant("magnitude", init="magnitude", growth=None, dense_first=True),
)}


def get_variant(name: str | Variant) -> Variant:
    """A `Variant` by name (one-line `InputError` for an unknown one)."""
    if isinstance(name, Variant):
        return name
    if name not in VARIANTS:
        raise InputError(f"unknown sparse training method {name!r}; choose one of {', '.join(VARIANTS)}")
    return VARIANTS[name]
