"""Encoding raw rows with a prepared data set's stored vocabularies (what ``predict`` reads).

A file is read by the data set's own source (the format and reading options recorded in the
schema's ``source_options``), leniently: the label column may be absent or blank, and only the
requested fields are read. An in-memory table goes through the same per-field conversion: its
columns are cast to the types the format's parser produces and handed to the source's
``block_of``, so a value encodes to the same id whichever way it arrives. MovieLens rows are a
join of three files, so they need a path.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lightfmp.data.sources import make_source
from lightfmp.data.sources.base import Block, coerce
from lightfmp.data.sources.csvstream import CsvLayout, short, stream_csv
from lightfmp.data.vocab import FieldEncoder
from lightfmp.errors import InputError

if TYPE_CHECKING:
    from lightfmp.data.dataset import PreparedData

_TABLE = Path("<table>")  # where an in-memory table's errors say they are


def _source(data: "PreparedData", input: Path | None) -> Any:
    """The data set's source for ``input`` (None: a source without files, for tables), lenient on labels."""
    schema = data.schema
    fmt = schema.protocol.get("format", schema.dataset)
    options = dict(schema.protocol.get("source_options") or {})
    if fmt in ("csv", "parquet"):
        from lightfmp.data.sources.table import TableSource

        return TableSource(input, fmt, strict=False, **options)
    if input is None:
        if fmt == "movielens":
            raise InputError("MovieLens rows are joined from the ratings and side-feature files: "
                             "give the path of a ratings file, not a table")
        from lightfmp.data.sources.avazu import AvazuSource
        from lightfmp.data.sources.criteo import CriteoSource

        # A synthetic data set's raw form is a Criteo TSV (lightfmp.data.synthetic.write_criteo_tsv).
        cls = AvazuSource if fmt == "avazu" else CriteoSource
        return cls(None, label_map=options.get("label_map"), missing_labels_ok=True)
    return make_source("criteo" if fmt == "synthetic" else fmt, input, missing_labels_ok=True, **options)


def encode_rows(data: "PreparedData", source: Any, fields: list[str] | None,
                id_column: str | None) -> tuple[np.ndarray, np.ndarray | None, Any]:
    """(X, y or None, ids or None); see ``PreparedData.encode_rows``."""
    schema = data.schema
    names = list(fields) if fields is not None else schema.names
    unknown = [n for n in names if n not in schema.names]
    if unknown:
        raise InputError(f"unknown fields {short(unknown)}; the data set has {schema.num_fields} fields "
                         f"({short(', '.join(schema.names))})")
    if isinstance(source, (str, Path)):
        src = _source(data, Path(source))
        blocks = src.blocks(fields=names)
        ids = _file_ids(src, id_column) if id_column is not None else None
        where: object = source
    else:
        table = _as_table(source)
        src = _source(data, None)
        wanted = [f for f in src.fields() if f.name in names]
        avazu = schema.protocol.get("format") == "avazu"
        need = ["hour" if avazu and f.name in _DERIVED else f.name for f in wanted]
        absent = [c for c in need if c not in table.column_names]
        if absent:
            raise InputError(f"expected column {short(absent[0])!r} in the table", _TABLE, None, absent[0])
        if id_column is not None and id_column not in table.column_names:
            raise InputError(f"no id column {short(id_column)!r} in the table", _TABLE, None, id_column)
        ids = _strings(table.column(id_column)) if id_column is not None else None
        table = _blank_is_missing(table)
        if hasattr(src, "types"):
            types = {k: v for k, v in src.types().items() if k not in ("label", "click")}
            table = coerce(table, types, _TABLE)
        blocks = iter([src.block_of(table, wanted, _TABLE, 1)])
        where = _TABLE
    vocab = data.vocab(names)
    encoders = [FieldEncoder(vocab[n]) for n in names]
    xs: list[np.ndarray] = []
    ys: list[np.ndarray | None] = []
    for block in blocks:
        xs.append(_encode(block, names, encoders))
        ys.append(block.labels)
    if not xs or not sum(len(x) for x in xs):
        raise InputError("no data rows to encode", where)
    X = np.concatenate(xs)
    y = None if any(v is None for v in ys) else np.concatenate(ys)  # type: ignore[arg-type]
    if y is not None and np.isnan(y).any():
        y = None  # a blank label: rows to score, not to evaluate
    if ids is not None and len(ids) != len(X):
        raise InputError(f"id column {short(id_column)!r}: {len(ids)} values for {len(X)} rows", where)
    return X, y, ids


_DERIVED = ("hour", "weekday", "is_weekend")  # Avazu's time fields all come from the raw 'hour' column


def _encode(block: Block, names: list[str], encoders: list[FieldEncoder]) -> np.ndarray:
    xb = np.empty((block.num_rows, len(names)), dtype=np.int32)
    for j, n in enumerate(names):
        xb[:, j] = encoders[j].encode(block.fields[n])
    return xb


def _as_table(source: Any) -> pa.Table:
    """``source`` as a pyarrow Table (a RecordBatch, a dict of columns, a pandas DataFrame, ...)."""
    if isinstance(source, pa.Table):
        return source
    if isinstance(source, pa.RecordBatch):
        return pa.Table.from_batches([source])
    try:
        return pa.table(source)
    except (TypeError, ValueError, pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InputError(f"expected a path or a table of raw columns, got {type(source).__name__} "
                         f"({short(exc)})") from None


def _blank_is_missing(table: pa.Table) -> pa.Table:
    """Empty strings as nulls: the parser reads an empty cell as missing, so a table must too."""
    cols = {}
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            col = pc.if_else(pc.equal(col, ""), pa.scalar(None, col.type), col)
        cols[name] = col
    return pa.table(cols)


def _strings(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Raw values as a numpy array of str ('' where missing), in row order."""
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        col = col.cast(pa.string())
    return np.array(["" if v is None else v for v in col.to_pylist()], dtype=str)


def _file_ids(src: Any, id_column: str) -> np.ndarray:
    """The ``id_column`` of every file of ``src`` as raw strings (a second, one-column read)."""
    files = getattr(src, "files", None)
    if not files:
        raise InputError(f"id column {short(id_column)!r}: this format has no id column")
    parts = []
    for i, path in enumerate(files):
        if getattr(src, "fmt", None) == "parquet":
            import pyarrow.parquet as pq

            if id_column not in pq.ParquetFile(path).schema_arrow.names:
                raise InputError(f"no id column {short(id_column)!r} in the file", path, None, id_column)
            parts.append(_strings(pq.read_table(path, columns=[id_column]).column(id_column)))
            continue
        layouts = getattr(src, "_layouts", None)
        layout: CsvLayout = layouts[path] if isinstance(layouts, dict) else layouts[i]
        if id_column not in layout.names:
            raise InputError(f"no id column {short(id_column)!r} in the file", path, 1, id_column)
        for _, t in stream_csv(path, layout, {id_column: pa.string()}, [id_column]):
            parts.append(_strings(t.column(id_column)))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=str)
