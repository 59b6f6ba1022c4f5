"""What to cut out of a backbone: a ``PruningPlan``, keyed by module path, applied by ``slicing.apply_plan``.

A plan names four kinds of cut; each is checked here, once for its own shape (``__post_init__``) and
once against a model (``validate``), and every refusal is one line (ValueError):

- ``fields``: kept field positions (None keeps every field). The paper's field pruning.
- ``units``: module path of a hidden Linear of the backbone's MLP (``"mlp.layers.0"``, with
  BatchNorm ``"mlp.layers.3"`` for the second, ...) -> kept output units. That Linear's rows and bias,
  the BatchNorm after it, and the next layer's matching input columns (the next Linear, or the
  backbone's head for the last one) are sliced. For xDeepFM also ``"cin.weights.<k>"`` -> kept
  feature maps of CIN layer k: that layer's W^k[h] (the maps' rows), layer k+1's W^{k+1}[:, h, :]
  (the weights that read them) and the CIN head's column of each pooled map (not with
  ``cin_split_half``, whose halves feed different readers).
- ``heads``: module path -> kept attention heads. Defined for the plan's completeness; none of the
  CTR backbones has attention heads, so a non-empty ``heads`` is refused for all of them.
- ``drop``: paths of blocks removed whole. Only blocks a backbone lists in
  ``droppable_blocks()`` (DCN's cross layers, ``"cross.layers.<l>"``) can be dropped; everything else
  (CIN layers included: layer k feeds layer k+1) is refused.
- ``scale``: optional per-kept-field gate values folded into the tables (soft kept values, as
  ``prune_fields(scale=...)``); needs ``fields``.
- ``unit_scale``: optional, per ``units`` path, one gate value per kept unit (map), folded into the
  weights that read it (the next Linear's columns or the head's; CIN's next layer and head), so the
  compact model also matches gates with soft kept values (joint pruning's deterministic z).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from torch import nn

from lightfmp.nn.layers import CIN, MLP


def _positions(values: Sequence[int], what: str) -> tuple[int, ...]:
    out = tuple(sorted(int(v) for v in values))
    if not out:
        raise ValueError(f"{what} must name at least one position")
    if len(set(out)) != len(out) or out[0] < 0:
        raise ValueError(f"{what} must be distinct non-negative positions, got {list(values)}")
    return out


@dataclass(frozen=True)
class PruningPlan:
    """Which fields, hidden units, heads and blocks a compact model keeps (see the module docstring).

    Positions are stored sorted; the compact model keeps the original order of what it keeps.

    Example:
        >>> PruningPlan(fields=[3, 0], units={"mlp.layers.0": [5, 1]})
        PruningPlan(fields=(0, 3), units={'mlp.layers.0': (1, 5)}, heads={}, drop=(), scale=None, unit_scale={})
    """

    fields: tuple[int, ...] | None = None
    units: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    heads: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    drop: tuple[str, ...] = ()
    scale: tuple[float, ...] | None = None
    unit_scale: Mapping[str, tuple[float, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.fields is not None:
            object.__setattr__(self, "fields", _positions(self.fields, "fields"))
        for name in ("units", "heads"):
            entries = dict(getattr(self, name))
            object.__setattr__(self, name, {str(k): _positions(v, f"{name}[{k!r}]") for k, v in entries.items()})
        drop = tuple(str(d) for d in self.drop)
        if len(set(drop)) != len(drop):
            raise ValueError(f"drop names a block twice: {list(drop)}")
        object.__setattr__(self, "drop", drop)
        if self.scale is not None:
            if self.fields is None:
                raise ValueError("scale needs fields: one value per kept field")
            scale = tuple(float(s) for s in self.scale)
            if len(scale) != len(self.fields):
                raise ValueError(f"scale must have {len(self.fields)} values (one per kept field), got {len(scale)}")
            object.__setattr__(self, "scale", scale)
        unit_scale = {str(k): tuple(float(v) for v in vs) for k, vs in dict(self.unit_scale).items()}
        for k, vs in unit_scale.items():
            if k not in self.units or len(vs) != len(self.units[k]):
                raise ValueError(f"unit_scale[{k!r}] needs units[{k!r}] and one value per kept unit")
        object.__setattr__(self, "unit_scale", unit_scale)

    def kept_fields(self, num_fields: int) -> list[int]:
        """The kept field positions of a model with ``num_fields`` fields."""
        return list(range(num_fields)) if self.fields is None else list(self.fields)

    def validate(self, model: Any) -> None:
        """Raise a one-line ValueError unless every entry names something ``model`` has and can cut."""
        F = model.num_fields
        if self.fields is not None and self.fields[-1] >= F:
            raise ValueError(f"fields must be positions in 0..{F - 1}, got {list(self.fields)}")
        prunable = prunable_units(model)
        for path, keep in self.units.items():
            if path not in prunable:
                raise ValueError(f"units: {path!r} is not a hidden Linear of {model.name}'s MLP or a CIN layer; "
                                 f"prunable: {', '.join(prunable) or 'none'}")
            width = prunable[path]
            if keep[-1] >= width:
                raise ValueError(f"units[{path!r}] must be positions in 0..{width - 1}, got {list(keep)}")
        if self.heads:
            raise ValueError(f"heads: {model.name} has no attention heads; cannot prune {sorted(self.heads)}")
        droppable = list(getattr(model, "droppable_blocks", lambda: ())())
        for path in self.drop:
            if path not in droppable:
                raise ValueError(f"drop: {path!r} is not a droppable block of {model.name}; "
                                 f"droppable: {', '.join(droppable) or 'none'}")


def hidden_linears(model: nn.Module) -> dict[str, nn.Linear]:
    """Module path -> Linear, for every Linear inside an ``MLP`` of ``model`` (the gate left out)."""
    out: dict[str, nn.Linear] = {}
    for path, mod in model.named_modules():
        if isinstance(mod, MLP) and path.split(".")[0] != "gate":
            for i, layer in enumerate(mod.layers):
                if isinstance(layer, nn.Linear):
                    out[f"{path}.layers.{i}"] = layer
    return out


def cin_layers(model: nn.Module) -> dict[str, int]:
    """``"cin.weights.<k>"`` -> maps of CIN layer k, for a backbone whose ``cin`` is a CIN without
    ``split_half`` (with it, a layer's two halves feed different readers; its maps are not prunable)."""
    cin = getattr(model, "cin", None)
    if not isinstance(cin, CIN) or cin.split_half:
        return {}
    return {f"cin.weights.{k}": int(h) for k, h in enumerate(cin.layer_sizes)}


def prunable_units(model: nn.Module) -> dict[str, int]:
    """Every path ``PruningPlan.units`` may name -> its width: the hidden Linears of the backbone's MLP
    (``hidden_linears``, output units) and CIN's layers (``cin_layers``, feature maps)."""
    return {**{p: lin.out_features for p, lin in hidden_linears(model).items()}, **cin_layers(model)}
