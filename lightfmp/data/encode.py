"""Encoding a raw file with a prepared data set's stored vocabularies (what ``predict`` reads)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lightfmp.data.sources import make_source
from lightfmp.data.vocab import FieldEncoder
from lightfmp.errors import InputError

if TYPE_CHECKING:
    from lightfmp.data.dataset import PreparedData


def encode_file(data: "PreparedData", path: Path, fields: list[str] | None) -> tuple[np.ndarray, np.ndarray | None]:
    """(X int32 [N, len(fields)], y float32 [N] or None); see ``PreparedData.encode_raw``."""
    schema = data.schema
    names = list(fields) if fields is not None else schema.names
    unknown = [n for n in names if n not in schema.names]
    if unknown:
        raise InputError(f"unknown fields {unknown}; the data set's fields are {schema.names}")
    fmt = schema.protocol.get("format", schema.dataset)
    options = dict(schema.protocol.get("source_options") or {})
    # A synthetic data set's raw form is a Criteo TSV (lightfmp.data.synthetic.write_criteo_tsv).
    if fmt in ("csv", "parquet"):
        from lightfmp.data.sources.table import TableSource

        source = TableSource(path, fmt, strict=False, **options)
    else:
        source = make_source("criteo" if fmt == "synthetic" else fmt, path, **options)
    vocab = data.vocab(names)
    encoders = [FieldEncoder(vocab[n]) for n in names]
    xs: list[np.ndarray] = []
    ys: list[np.ndarray | None] = []
    for block in source.blocks(fields=names):
        xb = np.empty((block.num_rows, len(names)), dtype=np.int32)
        for j, n in enumerate(names):
            xb[:, j] = encoders[j].encode(block.fields[n])
        xs.append(xb)
        ys.append(block.labels)
    if not xs:
        raise InputError("no data rows to encode", path)
    X = np.concatenate(xs)
    y = None if any(v is None for v in ys) else np.concatenate(ys)  # type: ignore[arg-type]
    return X, y
