"""Raw-data sources, one module per format, and ``make_source`` that picks one by name."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from lightfmp.data.sources.base import Block, FieldBlock, FieldInfo, Source
from lightfmp.errors import InputError

FORMATS = ("criteo", "avazu", "movielens", "csv", "parquet", "synthetic")
TABLE_FORMATS = ("csv", "parquet")  # the formats whose column roles (label, categorical, numeric) are options
# Which formats take each reading option (the others refuse it rather than ignore it).
OPTION_FORMATS = {"drop": TABLE_FORMATS, "delimiter": ("csv",), "label_map": ("csv", "parquet", "criteo", "avazu")}

__all__ = ["FORMATS", "TABLE_FORMATS", "Block", "FieldBlock", "FieldInfo", "Source", "column_roles", "make_source",
           "reading_options"]


def column_roles(label: str | None = None, categorical: Sequence[str] | None = None,
                 numeric: Sequence[str] | None = None) -> dict[str, Any]:
    """The table column roles that were given (None left out; name lists as lists), keyed as
    ``make_source`` and ``prepare`` take them."""
    roles = {"label": label, "categorical": categorical, "numeric": numeric}
    return {k: (v if k == "label" else list(v)) for k, v in roles.items() if v is not None}


def reading_options(drop: Sequence[str] | None = None, delimiter: str | None = None,
                    label_map: Any = None) -> dict[str, Any]:
    """The reading options that were given (``--drop``, ``--delimiter``, ``--label-map``), normalised
    (a label map as a dict, a delimiter as its character), keyed as ``make_source`` takes them."""
    from lightfmp.data.sources.base import parse_label_map
    from lightfmp.data.sources.table import parse_delimiter

    opts = {"drop": list(drop) if drop else None, "delimiter": parse_delimiter(delimiter),
            "label_map": parse_label_map(label_map)}
    return {k: v for k, v in opts.items() if v}


def make_source(
    fmt: str,
    input: str | Path | None = None,
    *,
    rows: int | None = None,
    seed: int = 2021,
    label: str | None = None,
    categorical: Sequence[str] | None = None,
    numeric: Sequence[str] | None = None,
    drop: Sequence[str] | None = None,
    delimiter: str | None = None,
    label_map: Any = None,
    missing_labels_ok: bool = False,
) -> Source:
    """The source for ``fmt``; ``rows`` only sizes the synthetic data (others are cut by the engine).

    ``label``, ``categorical`` and ``numeric`` name column roles of the table formats (csv, parquet);
    the other formats fix their own columns, so giving one there is an InputError rather than ignored.
    ``drop``, ``delimiter`` and ``label_map`` are the reading options (``OPTION_FORMATS`` says where);
    ``missing_labels_ok`` (criteo, avazu: scoring a file) lets a label cell be blank.
    """
    given = [f"--{k}" for k in column_roles(label, categorical, numeric)]
    if given and fmt not in TABLE_FORMATS:
        raise InputError(f"{', '.join(given)}: only for --format {' or '.join(TABLE_FORMATS)}, "
                         f"not --format {fmt} (its columns are fixed)")
    reading = reading_options(drop, delimiter, label_map)
    for k in reading:
        if fmt in FORMATS and fmt not in OPTION_FORMATS[k]:
            raise InputError(f"--{k.replace('_', '-')}: only for --format {' or '.join(OPTION_FORMATS[k])}, "
                             f"not --format {fmt}")
    if fmt == "synthetic":
        from lightfmp.data.sources.synthetic import SyntheticSource

        return SyntheticSource(rows=rows, seed=seed)
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if input is None:
        raise InputError(f"--input is required for --format {fmt}")
    if fmt == "criteo":
        from lightfmp.data.sources.criteo import CriteoSource

        return CriteoSource(input, label_map=label_map, missing_labels_ok=missing_labels_ok)
    if fmt == "avazu":
        from lightfmp.data.sources.avazu import AvazuSource

        return AvazuSource(input, label_map=label_map, missing_labels_ok=missing_labels_ok)
    if fmt == "movielens":
        from lightfmp.data.sources.movielens import MovieLensSource

        return MovieLensSource(input)
    from lightfmp.data.sources.table import TableSource

    return TableSource(input, fmt=fmt, label=label, categorical=categorical, numeric=numeric, drop=drop,
                       delimiter=delimiter, label_map=label_map)


def source_options(source: Source) -> dict[str, Any]:
    """What ``make_source`` needs to re-create a source for another file (stored in the schema)."""
    return dict(getattr(source, "options", {}) or {})
