"""Avazu (Kaggle Click-Through Rate Prediction, 2014) CSV files: ``id,click,hour,...,C21``.

The header line is optional per file (the sample keeps it only in train.csv); a file of 23
columns has no ``click`` column (a file to score). Protocol (OptFS ``avazu2TF.py``): ``id`` is
dropped; ``hour`` (``YYMMDDHH``) becomes ``hour`` (hour of day), ``weekday`` (Monday = 0) and
``is_weekend``; every field is categorical with the min-count threshold: 24 fields.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import pyarrow as pa

from lightfmp.data.arrow import to_numpy, valid_mask
from lightfmp.data.sources.base import Block, FieldBlock, FieldInfo, dictionary_block, integer_block
from lightfmp.data.sources.csvfiles import CsvFilesSource
from lightfmp.data.sources.csvstream import CsvLayout, duplicates, first_line, short
from lightfmp.errors import InputError

COLUMNS = (
    "id", "click", "hour", "C1", "banner_pos", "site_id", "site_domain", "site_category", "app_id", "app_domain",
    "app_category", "device_id", "device_ip", "device_model", "device_type", "device_conn_type",
    "C14", "C15", "C16", "C17", "C18", "C19", "C20", "C21",
)
RAW_FIELDS = COLUMNS[3:]
TIME_FIELDS = ("hour", "weekday", "is_weekend")
_STR = pa.dictionary(pa.int32(), pa.string())


def split_hour(hour: np.ndarray, valid: np.ndarray, path: Path, line: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hour of day, weekday (Mon = 0) and is-weekend of ``YYMMDDHH`` integers, validated."""
    hh, dd, mm, yy = hour % 100, (hour // 100) % 100, (hour // 10_000) % 100, hour // 1_000_000
    bad = valid & ((hh > 23) | (dd < 1) | (dd > 31) | (mm < 1) | (mm > 12) | (yy < 0) | (yy > 99))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"expected an hour as YYMMDDHH, got {int(hour[i])}", path, line + i, "hour")
    ym = ((2000 + np.where(valid, yy, 70) - 1970) * 12 + np.where(valid, mm, 1) - 1).astype("datetime64[M]")
    days = ym.astype("datetime64[D]") + (np.where(valid, dd, 1) - 1).astype("timedelta64[D]")
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    return hh, weekday, (weekday >= 5).astype(np.int64)


@dataclass
class AvazuSource(CsvFilesSource):
    """Avazu CSV files (a file or a folder); see the module docstring for the protocol."""

    def __post_init__(self) -> None:
        self.dataset = "avazu"
        super().__post_init__()

    @staticmethod
    def _layout(path: Path) -> CsvLayout:
        cells = [c.strip().strip('"') for c in first_line(path).split(",")]
        header = cells[0] == "id"
        names = tuple(cells) if header else None
        if names is None:
            if len(cells) == 24:
                names = COLUMNS
            elif len(cells) == 23:
                names = tuple(c for c in COLUMNS if c != "click")
        if names is not None and duplicates(names):
            raise InputError(f"duplicate column names in the header: {short(', '.join(map(repr, duplicates(names))))}",
                             path, 1)
        if names is None or set(names) - set(COLUMNS) or not set(COLUMNS) - {"click"} <= set(names):
            raise InputError(f"expected the 24 Avazu columns ({','.join(COLUMNS[:4])},...,C21), got {len(cells)}", path, 1)
        return CsvLayout(",", header, names)

    @property
    def label(self) -> str:
        return "click"

    def fields(self) -> list[FieldInfo]:
        return [FieldInfo(n, value_type="int64") for n in TIME_FIELDS] + [FieldInfo(n) for n in RAW_FIELDS]

    def protocol(self) -> dict[str, Any]:
        return {"dropped": ["id"], "hour": "YYMMDDHH -> hour of day, weekday (Mon=0), is_weekend"}

    @staticmethod
    def types() -> dict[str, pa.DataType]:
        """How each column is parsed (an in-memory table is cast to these first)."""
        types: dict[str, pa.DataType] = {c: _STR for c in COLUMNS}
        types["hour"] = pa.int64()
        return types

    def blocks(self, fields: Sequence[str] | None = None, rows: int | None = None) -> Iterator[Block]:
        wanted = [f for f in self.fields() if fields is None or f.name in fields]
        need_hour = any(f.name in TIME_FIELDS for f in wanted)
        raw = [f.name for f in wanted if f.name in RAW_FIELDS]

        def include(layout: CsvLayout) -> list[str]:
            return (["click"] if "click" in layout.names else []) + (["hour"] if need_hour else []) + raw

        for path, layout, line, batch in self._batches(self.types(), include, rows):
            yield self.block_of(batch, wanted, path, line)

    def block_of(self, batch: pa.Table | pa.RecordBatch, wanted: Sequence[FieldInfo], path: Path, line: int) -> Block:
        """A Block of parsed columns (typed as ``types()``): the label if present, each wanted field."""
        labels = self.labels_of(batch, "click", path, line)
        out: dict[str, FieldBlock] = {}
        if any(f.name in TIME_FIELDS for f in wanted):
            col = batch.column("hour")
            valid = valid_mask(col)
            h = to_numpy(col.fill_null(0)).astype(np.int64)
            for name, v in zip(TIME_FIELDS, split_hour(h, valid, path, line)):
                out[name] = integer_block(v, valid)
        for f in wanted:
            if f.name in RAW_FIELDS:
                out[f.name] = dictionary_block(batch.column(f.name))
        return Block(path, line, labels, {f.name: out[f.name] for f in wanted}, batch.num_rows)
