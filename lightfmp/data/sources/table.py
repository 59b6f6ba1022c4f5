"""Any table (``csv`` with a header line, or ``parquet``): one label column, the rest are fields.

The label is ``--label COLUMN`` (default: a column named ``label``, else ``click``). Field kinds
are declared with ``--categorical a,b`` / ``--numeric c,d``; undeclared columns are inferred
from the first file (floating point -> numeric, everything else -> categorical, so integer ids
stay categorical). Numeric fields are bucketed by the Criteo rule (``floor(ln(x)^2)`` for x > 2,
``int(x)`` otherwise) and keep every bucket, as Criteo's I1..I13; categorical values are strings
with the min-count threshold. The CSV delimiter is detected from the header line (the most
frequent of ``, TAB ; |``). Parquet is read in row batches, CSV in blocks: bounded memory.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from lightfmp.data.arrow import to_numpy, valid_mask
from lightfmp.data.bucketing import log2_bucket
from lightfmp.data.schema import CATEGORICAL, NUMERIC
from lightfmp.data.sources.base import Block, FieldBlock, FieldInfo, Source, check_labels, dictionary_block, integer_block
from lightfmp.data.sources.csvstream import NULLS, CsvLayout, explain_parse_error, first_line, stream_csv
from lightfmp.data.sources.files import data_files
from lightfmp.errors import InputError

_STR = pa.dictionary(pa.int32(), pa.string())
_BATCH_ROWS = 1 << 17
_NUMBER_RE = r"^\s*[-+]?(\d+\.?\d*([eE][-+]?\d+)?|\.\d+([eE][-+]?\d+)?)\s*$"


class TableSource(Source):
    """CSV or Parquet files with a label column; see the module docstring.

    ``strict=False`` (used to encode files for ``predict``) takes the declared fields as given and
    lets the file lack the label and any field that is not read.
    """

    def __init__(self, input: str | Path, fmt: str = "csv", label: str | None = None,
                 categorical: Sequence[str] | None = None, numeric: Sequence[str] | None = None,
                 strict: bool = True):
        self.input, self.fmt = input, fmt
        self.dataset = Path(input).stem if input is not None else fmt
        self.files = data_files(input)
        self._columns = [self._header(p) for p in self.files]
        cols = self._columns[0]
        if not strict:
            self.label_column = label or "label"
            self._kinds = {**{c: CATEGORICAL for c in categorical or []}, **{c: NUMERIC for c in numeric or []}}
            self._fields = [c for c in cols if c in self._kinds] + [c for c in self._kinds if c not in cols]
            self.categorical, self.numeric = list(categorical or []), list(numeric or [])
            return
        if label is None:
            label = next((c for c in ("label", "click") if c in cols), None)
            if label is None:
                raise InputError(f"expected --label COLUMN (no 'label' or 'click' column among {list(cols)})", self.files[0])
        self.label_column = label
        cat, num = list(categorical or []), list(numeric or [])
        for name in cat + num:
            if name not in cols:
                raise InputError(f"expected a column of the table for --categorical/--numeric, got {name!r}", self.files[0], None, name)
        both = set(cat) & set(num)
        if both:
            raise InputError(f"columns declared both categorical and numeric: {sorted(both)}")
        inferred = self._infer(self.files[0], [c for c in cols if c != label and c not in cat + num])
        kinds = {**inferred, **{c: CATEGORICAL for c in cat}, **{c: NUMERIC for c in num}}
        self._fields = [c for c in cols if c != label]
        self._kinds = kinds
        self.categorical = [c for c in self._fields if kinds[c] == CATEGORICAL]
        self.numeric = [c for c in self._fields if kinds[c] == NUMERIC]
        if not self._fields:
            raise InputError("expected at least one feature column besides the label", self.files[0])
        for p, c in zip(self.files[1:], self._columns[1:]):
            if [x for x in c if x != label] != self._fields:
                raise InputError(f"expected the same columns as {self.files[0].name}", p, 1)

    @property
    def options(self) -> dict[str, Any]:
        return {"label": self.label_column, "categorical": self.categorical, "numeric": self.numeric}

    @property
    def label(self) -> str:
        return str(self.label_column)

    def fields(self) -> list[FieldInfo]:
        return [
            FieldInfo(c, NUMERIC, "int64", thresholded=False) if self._kinds[c] == NUMERIC else FieldInfo(c)
            for c in self._fields
        ]

    def protocol(self) -> dict[str, Any]:
        return {"numeric_bucketing": "floor(ln(x)^2) if x > 2 else int(x)", "numeric_min_count": "none (white list)"}

    # ---- layout ----------------------------------------------------------------------------
    def _header(self, path: Path) -> tuple[str, ...]:
        if self.fmt == "parquet":
            try:
                return tuple(pq.ParquetFile(path).schema_arrow.names)
            except (pa.ArrowInvalid, OSError) as exc:
                raise InputError(f"expected a Parquet file ({exc})", path) from None
        line = first_line(path)
        return tuple(c.strip().strip('"') for c in line.split(self._delimiter(line)))

    @staticmethod
    def _delimiter(line: str) -> str:
        return max([",", "\t", ";", "|"], key=line.count)

    def _layout(self, path: Path) -> CsvLayout:
        line = first_line(path)
        return CsvLayout(self._delimiter(line), True, self._header(path))

    def _infer(self, path: Path, columns: list[str]) -> dict[str, str]:
        if not columns:
            return {}
        if self.fmt == "parquet":
            schema = pq.ParquetFile(path).schema_arrow
            types = {c: schema.field(c).type for c in columns}
        else:
            layout = self._layout(path)
            try:  # open_csv parses the first block to infer the types, so a malformed row can fail here
                reader = pacsv.open_csv(
                    str(path),
                    read_options=pacsv.ReadOptions(column_names=list(layout.names), skip_rows=1, block_size=1 << 20),
                    parse_options=pacsv.ParseOptions(delimiter=layout.delimiter),
                    convert_options=pacsv.ConvertOptions(include_columns=columns, null_values=NULLS,
                                                         strings_can_be_null=True),
                )
            except pa.ArrowInvalid as exc:
                raise explain_parse_error(path, layout, str(exc)) from None
            try:
                types = {c: reader.schema.field(c).type for c in columns}
            finally:
                reader.close()
        return {c: NUMERIC if pa.types.is_floating(t) else CATEGORICAL for c, t in types.items()}

    # ---- reading ---------------------------------------------------------------------------
    def blocks(self, fields: Sequence[str] | None = None, rows: int | None = None) -> Iterator[Block]:
        wanted = [f for f in self.fields() if fields is None or f.name in fields]
        left = rows
        for path, cols in zip(self.files, self._columns):
            has_label = self.label_column in cols
            include = ([self.label_column] if has_label else []) + [f.name for f in wanted]
            absent = [c for c in include if c not in cols]
            if absent:
                raise InputError(f"expected column {absent[0]!r} in the header", path, 1, absent[0])
            for line, batch in self._batches(path, include):
                if left is not None:
                    if left <= 0:
                        return
                    batch = batch.slice(0, left)
                    left -= batch.num_rows
                labels = check_labels(batch.column(self.label_column), path, line, self.label) if has_label else None
                out: dict[str, FieldBlock] = {}
                for f in wanted:
                    out[f.name] = self._field(batch.column(f.name), f, path, line)
                yield Block(path, line, labels, out, batch.num_rows)

    def _batches(self, path: Path, include: list[str]) -> Iterator[tuple[int, pa.RecordBatch]]:
        if self.fmt == "parquet":
            line = 1
            try:
                for batch in pq.ParquetFile(path).iter_batches(batch_size=_BATCH_ROWS, columns=include):
                    yield line, batch
                    line += batch.num_rows
            except (pa.ArrowInvalid, OSError) as exc:
                raise InputError(f"cannot read Parquet: {exc}", path) from None
            return
        types = {c: (pa.float64() if self._kinds.get(c) == NUMERIC else _STR) for c in include}
        types[self.label_column] = _STR
        yield from stream_csv(path, self._layout(path), types, include)

    @staticmethod
    def _field(col: pa.Array, f: FieldInfo, path: Path, line: int) -> FieldBlock:
        if f.kind != NUMERIC:
            if not (pa.types.is_dictionary(col.type) or pa.types.is_string(col.type)):
                col = pc.cast(col, pa.string())
            return dictionary_block(col)
        if not (pa.types.is_floating(col.type) or pa.types.is_integer(col.type)):
            text = pc.cast(col, pa.string())
            ok = to_numpy(pc.fill_null(pc.match_substring_regex(text, _NUMBER_RE), True))
            if not ok.all():
                i = int(np.flatnonzero(~ok)[0])
                raise InputError(f"expected a number, got {text[i].as_py()!r}", path, line + i, f.name)
            col = pc.cast(text, pa.float64())
        valid = valid_mask(col) if col.null_count else None
        x = to_numpy(col).astype(np.float64, copy=False)
        return integer_block(log2_bucket(x), valid)
