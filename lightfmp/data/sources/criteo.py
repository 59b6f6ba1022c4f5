"""Criteo (Kaggle Display Advertising Challenge) raw files: label, I1..I13, C1..C26.

Raw Kaggle files are TAB-separated without a header; the DeepCTR sample is comma-separated with a
header and writes integers as floats. Each file's delimiter and header are detected from its first
line. A file with 39 columns has no label (a file to score with ``predict``).

Preprocessing follows OptFS (see ../shared/docs/methods.md): I1..I13 are read as numbers and
bucketed by ``floor(ln(x)^2)`` for x > 2, ``int(x)`` otherwise, and keep every value (OptFS's
white list, so no min-count on them); C1..C26 are strings with the min-count threshold; an empty
cell is missing, a value of its own.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import pyarrow as pa

from lightfmp.data.arrow import to_numpy, valid_mask
from lightfmp.data.bucketing import log2_bucket
from lightfmp.data.schema import CATEGORICAL, NUMERIC
from lightfmp.data.sources.base import Block, FieldBlock, FieldInfo, dictionary_block, integer_block
from lightfmp.data.sources.csvfiles import CsvFilesSource
from lightfmp.data.sources.csvstream import CsvLayout, first_line
from lightfmp.errors import InputError

NUMERIC_NAMES = [f"I{i}" for i in range(1, 14)]
CATEGORICAL_NAMES = [f"C{i}" for i in range(1, 27)]
_STR = pa.dictionary(pa.int32(), pa.string())


def criteo_fields(numeric: Sequence[str] = NUMERIC_NAMES, categorical: Sequence[str] = CATEGORICAL_NAMES) -> list[FieldInfo]:
    return [FieldInfo(n, NUMERIC, "int64", thresholded=False) for n in numeric] + [
        FieldInfo(c, CATEGORICAL, "string") for c in categorical
    ]


def criteo_block(table: pa.Table | pa.RecordBatch, wanted: Sequence[FieldInfo]) -> dict[str, FieldBlock]:
    """Raw Criteo-typed columns (numbers as float/int, categoricals as strings) to FieldBlocks."""
    out: dict[str, FieldBlock] = {}
    for f in wanted:
        col = table.column(f.name)
        if isinstance(col, pa.ChunkedArray):
            col = col.combine_chunks()
        if f.kind == NUMERIC:
            valid = valid_mask(col) if col.null_count else None
            x = to_numpy(col).astype(np.float64, copy=False)
            out[f.name] = integer_block(log2_bucket(x), valid)
        else:
            out[f.name] = dictionary_block(col)
    return out


@dataclass
class CriteoSource(CsvFilesSource):
    """Raw Criteo files (a file or a folder of them); see the module docstring for the protocol."""

    def __post_init__(self) -> None:
        self.dataset = "criteo"
        super().__post_init__()

    @staticmethod
    def _layout(path: Path) -> CsvLayout:
        line = first_line(path)
        delim = "\t" if "\t" in line else ","
        cells = line.split(delim)
        header = cells[0].strip().strip('"').lower() in ("label", "clicked", "click", "y")
        if len(cells) == 40:
            names = ("label", *NUMERIC_NAMES, *CATEGORICAL_NAMES)
        elif len(cells) == 39:
            names = (*NUMERIC_NAMES, *CATEGORICAL_NAMES)
        else:
            raise InputError(f"expected 40 Criteo columns (label, I1..I13, C1..C26), got {len(cells)}", path, 1)
        return CsvLayout(delim, header, names)

    def fields(self) -> list[FieldInfo]:
        return criteo_fields()

    def protocol(self) -> dict[str, Any]:
        return {"numeric_bucketing": "floor(ln(x)^2) if x > 2 else int(x)", "numeric_min_count": "none (white list)"}

    @staticmethod
    def types() -> dict[str, pa.DataType]:
        """How each column is parsed (an in-memory table is cast to these first)."""
        types: dict[str, pa.DataType] = {"label": _STR}
        types.update({n: pa.float64() for n in NUMERIC_NAMES})
        types.update({c: _STR for c in CATEGORICAL_NAMES})
        return types

    def blocks(self, fields: Sequence[str] | None = None, rows: int | None = None) -> Iterator[Block]:
        wanted = [f for f in self.fields() if fields is None or f.name in fields]

        def include(layout: CsvLayout) -> list[str]:
            return (["label"] if "label" in layout.names else []) + [f.name for f in wanted]

        for path, layout, line, batch in self._batches(self.types(), include, rows):
            yield self.block_of(batch, wanted, path, line)

    def block_of(self, batch: pa.Table | pa.RecordBatch, wanted: Sequence[FieldInfo], path: Path, line: int) -> Block:
        """A Block of parsed columns (typed as ``types()``): the label if present, each wanted field."""
        labels = self.labels_of(batch, "label", path, line)
        return Block(path, line, labels, criteo_block(batch, wanted), batch.num_rows)
