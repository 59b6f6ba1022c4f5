"""`DataSpec`: where a run's data comes from, one object instead of eleven loose options.

Either a prepared folder (``data``) or a raw format read and prepared on the fly into the cache
(``fmt`` with ``input``, or ``rows`` for synthetic data; `lightfmp.data.open.open_data`). The CLI's
data options are read from these fields (`lightfmp.knobs`); bench scripts and the Python API build
one directly: ``DataSpec(fmt="criteo", input="../shared/data/criteo_kaggle_sample/wide_resdnn").open()``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lightfmp.data.sources import FORMATS
from lightfmp.knobs import knob


def names(text: str | None) -> tuple[str, ...] | None:
    """'a, b,c' -> ('a', 'b', 'c'); empty -> None (the roles are then inferred)."""
    out = tuple(v.strip() for v in (text or "").split(",") if v.strip())
    return out or None


@dataclass(frozen=True)
class DataSpec:
    """A run's data: a prepared folder, or a raw format with its reading options."""

    data: str | None = knob(None, "Prepared data folder (from `lightfmp prepare`).", flag="--data", path=True)
    fmt: str | None = knob(None, "Raw format, prepared on the fly and cached (instead of --data).", flag="--format",
                           choices=FORMATS)
    input: str | None = knob(None, "Raw input file or folder for --format.", flag="--input", path=True)
    rows: int | None = knob(None, "Rows to generate (synthetic) or read at most (raw formats).", flag="--rows", min=1)
    label: str | None = knob(None, "csv/parquet with --format: the label column (default label or click).",
                             flag="--label")
    categorical: tuple[str, ...] | None = knob(None, "csv/parquet with --format: comma-separated categorical "
                                               "columns.", flag="--categorical", parse=names)
    numeric: tuple[str, ...] | None = knob(None, "csv/parquet with --format: comma-separated numeric columns "
                                           "(bucketed).", flag="--numeric", parse=names)
    drop: tuple[str, ...] | None = knob(None, "csv/parquet with --format: comma-separated columns that are not "
                                        "fields (row ids).", flag="--drop", parse=names)
    delimiter: str | None = knob(None, "csv with --format: the column delimiter (default: detected from the "
                                 "header).", flag="--delimiter")
    label_map: str | None = knob(None, "With --format: raw label values to 0/1, e.g. yes=1,no=0.", flag="--label-map")
    pretrain_size: int | None = knob(None, "Rows of D_S drawn when preparing (None: 2,000, or half the training rows "
                                     "below 4,000).")
    seed: int = knob(2021, "The split's seed (fixed, so runs with different training seeds share the split).")

    def open(self, progress: bool = False) -> Any:
        """The PreparedData (`lightfmp.data.open.open_data`)."""
        from lightfmp.data.open import open_data

        return open_data(data=self.data, fmt=self.fmt, input=self.input, rows=self.rows, seed=self.seed,
                         pretrain_size=self.pretrain_size, progress=progress, label=self.label,
                         categorical=list(self.categorical) if self.categorical else None,
                         numeric=list(self.numeric) if self.numeric else None,
                         drop=list(self.drop) if self.drop else None, delimiter=self.delimiter,
                         label_map=self.label_map)

    @property
    def paths(self) -> tuple[str | None, str | None]:
        """The user's own paths, which an output folder must never replace."""
        return self.data, self.input
