"""Any table (``csv`` with a header line, or ``parquet``): one label column, the rest are fields.

The label is ``--label COLUMN`` (default: a column named ``label``, else ``click``). Field kinds
are declared with ``--categorical a,b`` / ``--numeric c,d``; undeclared columns are inferred
from the first file (floating point -> numeric, everything else -> categorical, so integer ids
stay categorical). Numeric fields are bucketed by the Criteo rule (``floor(ln(x)^2)`` for x > 2,
``int(x)`` otherwise) and keep every bucket, as Criteo's I1..I13; categorical values are strings
with the min-count threshold. ``--drop a,b`` names columns that are not fields (a row id), and
``--label-map yes=1,no=0`` maps raw label values; both are stored in the schema, so ``predict``
reads a file the same way. Parquet is read in row batches, CSV in blocks: bounded memory.

CSV text is UTF-8 (a leading byte order mark is skipped), so column names and values round-trip
exactly. The delimiter is ``--delimiter C``, else detected from the header line (the most
frequent of tab, comma, semicolon and pipe; a header with none of them is refused, since a table
needs a label and a field). Duplicate column names are refused (a field must be named uniquely).
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
from lightfmp.data.sources.base import (Block, FieldBlock, FieldInfo, Source, check_labels, dictionary_block,
                                        integer_block, parse_label_map)
from lightfmp.data.sources.csvstream import (NULLS, CsvLayout, detect_delimiter, duplicates, explain_parse_error,
                                             first_line, is_gzip, short, split_header, stream_csv)
from lightfmp.data.sources.files import check_regular, data_files
from lightfmp.errors import InputError

_STR = pa.dictionary(pa.int32(), pa.string())
_BATCH_ROWS = 1 << 17
_NUMBER_RE = r"^\s*[-+]?(\d+\.?\d*([eE][-+]?\d+)?|\.\d+([eE][-+]?\d+)?)\s*$"


def parse_delimiter(value: str | None) -> str | None:
    """``--delimiter``: one character, or ``tab`` / ``\\t`` / ``comma`` / ``semicolon`` / ``pipe``."""
    if value is None or value == "":
        return None
    named = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|", "space": " "}
    d = named.get(value.strip().lower(), value) if len(value) != 1 else value
    if len(d) != 1 or d in ('"', "\n", "\r"):
        raise InputError(f"--delimiter: expected one character (or tab, comma, semicolon, pipe), got {short(value)!r}")
    return d


class TableSource(Source):
    """CSV or Parquet files with a label column; see the module docstring.

    ``strict=False`` (used to encode files for ``predict``) takes the declared fields as given and
    lets the file lack the label and any field that is not read, and a label cell be blank.
    """

    def __init__(self, input: str | Path, fmt: str = "csv", label: str | None = None,
                 categorical: Sequence[str] | None = None, numeric: Sequence[str] | None = None,
                 strict: bool = True, drop: Sequence[str] | None = None, delimiter: str | None = None,
                 label_map: Any = None):
        if delimiter is not None and fmt != "csv":
            raise InputError(f"--delimiter: only for --format csv, not --format {fmt}")
        self.input, self.fmt = input, fmt
        self.delimiter = parse_delimiter(delimiter)
        self.drop = list(drop or [])
        self.label_map = parse_label_map(label_map)
        self.missing_labels_ok = not strict
        self.dataset = Path(input).stem if input is not None else fmt
        self.files = data_files(input) if input is not None or strict else []  # None: tables only (block_of)
        self._layouts: dict[Path, CsvLayout] = {}
        self._columns = [self._header(p) for p in self.files]
        cols = self._columns[0] if self._columns else ()
        if not strict:
            self.label_column = label or "label"
            self._kinds = {**{c: CATEGORICAL for c in categorical or []}, **{c: NUMERIC for c in numeric or []}}
            self._fields = [c for c in cols if c in self._kinds] + [c for c in self._kinds if c not in cols]
            self.categorical, self.numeric = list(categorical or []), list(numeric or [])
            return
        if label is None:
            label = next((c for c in ("label", "click") if c in cols), None)
            if label is None:
                raise InputError(f"expected --label COLUMN (no 'label' or 'click' column among "
                                 f"{short(', '.join(map(repr, cols)))})", self.files[0])
        elif label not in cols:
            raise InputError(f"--label: expected a column of the table, got {short(label)!r}", self.files[0], 1)
        self.label_column = label
        cat, num = list(categorical or []), list(numeric or [])
        for name in self.drop:
            if name not in cols:
                raise InputError(f"--drop: expected a column of the table, got {short(name)!r}", self.files[0], 1)
            if name == label:
                raise InputError(f"--drop: {short(name)!r} is the label column", self.files[0], 1)
            if name in cat + num:
                raise InputError(f"--drop: {short(name)!r} is also given to --categorical/--numeric")
        for name in cat + num:
            if name not in cols:
                raise InputError(f"expected a column of the table for --categorical/--numeric, got {short(name)!r}",
                                 self.files[0], None, name)
        both = set(cat) & set(num)
        if both:
            raise InputError(f"columns declared both categorical and numeric: {short(sorted(both))}")
        self._fields = [c for c in cols if c != label and c not in self.drop]
        inferred = self._infer(self.files[0], [c for c in self._fields if c not in cat + num])
        kinds = {**inferred, **{c: CATEGORICAL for c in cat}, **{c: NUMERIC for c in num}}
        self._kinds = kinds
        self.categorical = [c for c in self._fields if kinds[c] == CATEGORICAL]
        self.numeric = [c for c in self._fields if kinds[c] == NUMERIC]
        if not self._fields:
            raise InputError("expected at least one feature column besides the label", self.files[0])
        for p, c in zip(self.files[1:], self._columns[1:]):
            if [x for x in c if x != label and x not in self.drop] != self._fields:
                raise InputError(f"expected the same columns as {short(self.files[0].name)}", p, 1)

    @property
    def options(self) -> dict[str, Any]:
        """The column roles, plus the reading options that were given (so older schemas read the same)."""
        extra = {"drop": self.drop or None, "delimiter": self.delimiter, "label_map": self.label_map}
        return {"label": self.label_column, "categorical": self.categorical, "numeric": self.numeric,
                **{k: v for k, v in extra.items() if v}}

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
            check_regular(path)
            try:
                names = tuple(pq.ParquetFile(path).schema_arrow.names)
            except (pa.ArrowInvalid, OSError) as exc:
                raise InputError(f"expected a Parquet file ({short(exc)})", path) from None
            dup = duplicates(names)
            if dup:
                raise InputError(f"duplicate column names in the Parquet schema: {short(', '.join(map(repr, dup)))}",
                                 path)
            return names
        return self._layout(path).names

    def _layout(self, path: Path) -> CsvLayout:
        if path not in self._layouts:
            line = first_line(path)
            delimiter = detect_delimiter(line, path, self.delimiter, single_ok=self.missing_labels_ok)
            self._layouts[path] = CsvLayout(delimiter, True, split_header(line, delimiter, path))
        return self._layouts[path]

    def _infer(self, path: Path, columns: list[str]) -> dict[str, str]:
        if not columns:
            return {}
        if self.fmt == "parquet":
            schema = pq.ParquetFile(path).schema_arrow
            types = {c: schema.field(c).type for c in columns}
        else:
            layout = self._layout(path)
            block = 1 << 20
            while True:
                try:  # open_csv parses the first block to infer the types, so a malformed row can fail here
                    reader = pacsv.open_csv(
                        pa.input_stream(str(path), compression="gzip" if is_gzip(path) else None),
                        read_options=pacsv.ReadOptions(column_names=list(layout.names), skip_rows=1, block_size=block),
                        parse_options=pacsv.ParseOptions(delimiter=layout.delimiter),
                        convert_options=pacsv.ConvertOptions(include_columns=columns, null_values=NULLS,
                                                             strings_can_be_null=True),
                    )
                    break
                except pa.ArrowInvalid as exc:
                    if ("straddl" in str(exc) or "Could not skip" in str(exc)) and block < path.stat().st_size:
                        block *= 4  # a line longer than the block: pyarrow needs it whole in one block
                        continue
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
                yield self.block_of(batch, wanted, path, line)

    def block_of(self, batch: pa.Table | pa.RecordBatch, wanted: Sequence[FieldInfo], path: Path, line: int) -> Block:
        """A Block of parsed (or in-memory) columns: the label if present, each wanted field."""
        labels = None
        if self.label_column in batch.column_names:
            labels = check_labels(batch.column(self.label_column), path, line, self.label, self.label_map,
                                  self.missing_labels_ok)
        out = {f.name: self._field(batch.column(f.name), f, path, line) for f in wanted}
        return Block(path, line, labels, out, batch.num_rows)

    def _batches(self, path: Path, include: list[str]) -> Iterator[tuple[int, pa.RecordBatch]]:
        if self.fmt == "parquet":
            line = 1
            try:
                for batch in pq.ParquetFile(path).iter_batches(batch_size=_BATCH_ROWS, columns=include):
                    yield line, batch
                    line += batch.num_rows
            except (pa.ArrowInvalid, OSError) as exc:
                raise InputError(f"cannot read Parquet: {short(exc)}", path) from None
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
                raise InputError(f"expected a number, got {short(text[i].as_py())!r}", path, line + i, f.name)
            col = pc.cast(text, pa.float64())
        valid = valid_mask(col) if col.null_count else None
        x = to_numpy(col).astype(np.float64, copy=False)
        return integer_block(log2_bucket(x), valid)
