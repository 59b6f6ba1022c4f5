"""Which runs may be averaged: a run's settings (everything that decides its result but the seed) and the
split of a table's runs into rows of equal settings.

Why: a mean over runs that differ in, say, the epoch cap is not a seed average and reads as one. So a
table cell averages only runs whose settings are equal; where one method's runs in the same cell differ,
the method gets one row per variant, labelled by the settings that differ, and the table says so.

Settings come from report.json and the run folder's config.json: method (``lightfmp`` with
``init = "scratch"`` is its own method, ``lightfmp-scratch``), backbone, data identity (data set, the
prepared data's protocol, training rows, field count), tau, |D_S|, model_config, train_config (without
the seed and the knobs that change speed only), pretrain_config, keep_fields, a baseline's options and
search epochs where recorded, and the data-parallel world size. A setting a run does not record is
"not recorded" ("?" in labels): it matches only another run that does not record it either.
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Hashable, Iterable, Sequence

MISSING = "(not recorded)"
# train_config keys that change where and how fast a run goes, not what it computes
SPEED_ONLY = frozenset({"seed", "device", "eval_batch_size", "threads", "in_memory_max_bytes", "stream_chunk_rows",
                        "reuse_freed_memory", "tf32", "cuda_graphs"})
# protocol keys of the prepared data that identify it (the rest describe it)
DATA_KEYS = ("format", "input", "rows", "seed", "min_count", "pretrain_size", "source_options")
# settings that tell the columns (data sets) apart: they may differ across a row, not within a cell


def method_of(r: dict[str, Any]) -> str:
    """The report's method, with a fresh-init Light-FMP run (older folders wrote "lightfmp") as its own."""
    m = r["method"]
    return "lightfmp-scratch" if m == "lightfmp" and r.get("init") == "scratch" else m


def _hashable(v: Any) -> Hashable:
    if isinstance(v, (dict, list, tuple)):
        return json.dumps(v, sort_keys=True)
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def _config(r: dict[str, Any]) -> dict[str, Any] | None:
    if "_config" in r:
        return r["_config"]
    path = Path(r.get("_path", "")) / "config.json"
    cfg = None
    if r.get("_path") and path.is_file():
        try:
            cfg = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            cfg = None
    r["_config"] = cfg if isinstance(cfg, dict) else None
    return r["_config"]


def settings(r: dict[str, Any]) -> dict[str, Hashable]:
    """Flat {setting: value} of one run, the seed left out (module docstring); cached in ``r``."""
    if "_settings" in r:
        return r["_settings"]
    s: dict[str, Hashable] = {"method": method_of(r), "model": r.get("model", MISSING),
                              "dataset": r.get("dataset", MISSING)}
    for k in ("prune_ratio", "pretrain_rows", "train_rows", "fields_total", "keep_fields"):
        s[k] = _hashable(r.get(k, MISSING))
    s["train_split"] = r.get("train_split", "train")
    s["world_size"] = (r.get("distributed") or {}).get("world_size", 1) if isinstance(r.get("distributed"), dict) else 1
    protocol = r.get("protocol") if isinstance(r.get("protocol"), dict) else {}
    for k in DATA_KEYS:
        v = protocol.get(k, MISSING)
        if k == "input" and isinstance(v, str):
            v = "/".join(Path(v).parts[-2:])  # the source, not where the checkout happens to live
        s[f"data.{k}"] = _hashable(v)
    cfg = _config(r)
    if cfg is None:
        for k in ("model_config", "train_config"):
            s[k] = MISSING
    else:
        for k, v in (cfg.get("model_config") or {}).items():
            s[k] = _hashable(v)
        for k, v in (cfg.get("train_config") or {}).items():
            if k not in SPEED_ONLY:
                s[k] = _hashable(v)
        pre = cfg.get("pretrain_config")
        if isinstance(pre, dict):
            for k, v in pre.items():
                if k == "gate" and isinstance(v, dict):
                    s.update({f"pretrain.gate.{g}": _hashable(x) for g, x in v.items()})
                elif k != "prune_ratio":  # tau is the run's own
                    s[f"pretrain.{k}"] = _hashable(v)
        for k, v in (cfg.get("options") or {}).items():
            s[f"options.{k}"] = _hashable(v)
        if "search_epochs" in cfg:
            s["search_epochs"] = _hashable(cfg["search_epochs"])
        if s["keep_fields"] == MISSING and "keep_fields" in cfg:
            s["keep_fields"] = _hashable(cfg["keep_fields"])
        for k, v in (cfg.get("sparse") or {}).items():
            s[f"sparse.{k}"] = _hashable(v)
    for k, default in LATER_DEFAULTS.items():  # a setting added later, at its default, is what older runs did
        if k in s and s[k] == _hashable(default):
            del s[k]
    r["_settings"] = s
    return s


# settings config.json gained after runs were written: at these values a run did what older runs did
LATER_DEFAULTS: dict[str, Any] = {"pretrain.budget": None, "pretrain.budget_rtol": 0.1}


def fmt_value(v: Any) -> str:
    if v == MISSING:
        return "?"
    if isinstance(v, str) and v.startswith("["):
        try:
            v = json.loads(v)
        except json.JSONDecodeError:
            pass
    if isinstance(v, list):
        return "-".join(fmt_value(x) for x in v) if v else "[]"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def differing(runs: Sequence[dict[str, Any]], ignore: Iterable[str] = ()) -> list[str]:
    """Settings whose value is not the same in every run (a setting absent from a run counts as not
    recorded), in a stable order."""
    skip = set(ignore)
    names: dict[str, None] = {}
    for r in runs:
        names.update(dict.fromkeys(settings(r)))
    return [k for k in names if k not in skip and len({settings(r).get(k, MISSING) for r in runs}) > 1]


def variant_label(values: dict[str, Hashable]) -> str:
    return ", ".join(f"{k}={fmt_value(v)}" for k, v in values.items())


@dataclass
class Rows:
    """A table's runs split into rows (one per method and variant) and cells, each cell averaged.

    ``rows``: {row key: {cell: [runs]}}, in ``order``; ``method``: {row key: method}; ``variant``:
    {row key: {setting: value}} for the settings that split the method; ``varying``: {method: [settings]}.
    A method with one variant keeps the method name as its row key."""

    rows: dict[str, dict[Hashable, list[dict[str, Any]]]] = field(default_factory=dict)
    method: dict[str, str] = field(default_factory=dict)
    variant: dict[str, dict[str, Hashable]] = field(default_factory=dict)
    varying: dict[str, list[str]] = field(default_factory=dict)

    def label(self, key: str, labels: dict[str, str]) -> str:
        """Display name: the method's label, with the differing settings added inside its brackets."""
        base = labels.get(self.method[key], self.method[key])
        extra = variant_label(self.variant[key])
        if not extra:
            return base
        return f"{base[:-1]}; {extra})" if base.endswith(")") else f"{base} ({extra})"

    def note(self, labels: dict[str, str]) -> str | None:
        """One line naming the settings that split a method's runs, or None where every cell is one group."""
        parts = []
        for m, names in self.varying.items():
            if not names:
                continue
            keys = [k for k in self.rows if self.method[k] == m]
            vals = "; ".join(f"{n} = " + ", ".join(dict.fromkeys(fmt_value(self.variant[k][n]) for k in keys))
                             for n in names)
            parts.append(f"{labels.get(m, m)}: {vals}")
        if not parts:
            return None
        return ("Note: runs that differ in more than the seed are not averaged together; one row per setting "
                "(n = runs averaged). Differing: " + " | ".join(parts) + ".")

    def groups(self) -> list[dict[str, Any]]:
        """JSON-able: every averaged group with its method, cell, differing settings, seeds and run folders."""
        out = []
        for key, cells in self.rows.items():
            for cell, rs in cells.items():
                out.append({"row": key, "method": self.method[key], "cell": cell,
                            "settings": {k: v for k, v in self.variant[key].items()}, "n": len(rs),
                            "seeds": sorted(r.get("seed") for r in rs),
                            "runs": [r.get("_path") for r in rs]})
        return out


def _sort_key(values: tuple) -> list[tuple[int, Any]]:
    return [(0, float(x)) if isinstance(x, (int, float)) and not isinstance(x, bool) else (1, str(x)) for x in values]


def split_rows(runs: Sequence[dict[str, Any]], cell_of: Callable[[dict[str, Any]], Hashable],
               order: Sequence[str] = (), ignore: Iterable[str] = ()) -> Rows:
    """One row per method and variant: a setting splits a method's runs where it differs inside one cell
    (the same cell); settings that differ only across cells (e.g. the batch size per data set) do not.
    ``ignore``: settings that are the figure's axis rather than a variant."""
    by_method: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in runs:
        by_method[method_of(r)].append(r)
    methods = [m for m in order if m in by_method] + sorted(set(by_method) - set(order))
    out = Rows()
    skip = set(ignore)
    for m in methods:
        cells: dict[Hashable, list[dict[str, Any]]] = defaultdict(list)
        for r in by_method[m]:
            cells[cell_of(r)].append(r)
        names: dict[str, None] = {}
        for rs in cells.values():
            names.update(dict.fromkeys(differing(rs, skip)))
        out.varying[m] = list(names)
        variants: dict[tuple, dict[Hashable, list[dict[str, Any]]]] = {}
        for r in by_method[m]:
            v = tuple(settings(r).get(n, MISSING) for n in out.varying[m])
            variants.setdefault(v, defaultdict(list))[cell_of(r)].append(r)
        for v in sorted(variants, key=_sort_key):
            values = dict(zip(out.varying[m], v))
            key = m if len(variants) == 1 else f"{m} ({variant_label(values)})"
            out.rows[key] = dict(variants[v])
            out.method[key] = m
            out.variant[key] = values
    return out


def best_match(ref: dict[str, Any], candidates: Sequence[Sequence[dict[str, Any]]]) -> int | None:
    """Index of the group of runs whose settings agree with ``ref`` on the most settings they both
    record (method, tau and |D_S| aside); None if there is no candidate or the best is a tie.
    Why: a ratio or an improvement against No Selection is honest only against the No Selection
    trained the same way, and a tie means the pairing would be a guess."""
    if not candidates:
        return None
    if len(candidates) == 1:
        return 0
    mine = settings(ref)
    skip = {"method", "prune_ratio", "pretrain_rows", "keep_fields", "train_rows"}
    scores = []
    for group in candidates:
        theirs = settings(group[0])
        scores.append(sum(1 for k, v in mine.items()
                          if k not in skip and not k.startswith("pretrain.") and theirs.get(k, MISSING) == v))
    best = max(scores)
    return scores.index(best) if scores.count(best) == 1 else None

