"""A prepared data folder (layout in docs/architecture.md), opened read-only with memory maps."""
from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lightfmp.data.schema import Schema
from lightfmp.data.split import SPLITS
from lightfmp.errors import InputError

# A file or table can be corrupt in many ways; these are the ones pyarrow and the OS raise.
_READ_ERRORS = (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, KeyError, ValueError, TypeError, EOFError)


def short(text: object, limit: int = 60) -> str:
    s = str(text).splitlines()[0] if str(text) else ""
    return s if len(s) <= limit else s[:limit - 3] + "..."


def check_vocab(path: Path) -> None:
    """Read ``vocab.parquet``'s footer and check its columns; one InputError naming it otherwise."""
    try:
        names = pq.read_schema(path).names
    except _READ_ERRORS as exc:
        what = "empty file" if path.is_file() and path.stat().st_size == 0 else short(exc)
        raise InputError(f"not a vocabulary file ({what}); prepare the data again", path) from None
    missing = [c for c in ("field", "value", "id") if c not in names]
    if missing:
        raise InputError(f"not a vocabulary file (no column {', '.join(missing)}); prepare the data again", path)


def read_vocab(path: Path, names: Sequence[str] | None = None) -> pa.Table:
    """``vocab.parquet`` (rows of ``names`` only, when given) with its columns checked; a missing,
    empty or corrupt file is one InputError naming it (the run folder reads its copy through this too)."""
    if not path.is_file():
        raise InputError("missing (expected the vocabularies of a prepared data or run folder)", path)
    try:
        table = pq.read_table(path, filters=[("field", "in", list(names))] if names else None)
    except _READ_ERRORS as exc:
        what = "empty file" if path.stat().st_size == 0 else short(exc)
        raise InputError(f"not a vocabulary file ({what}); prepare the data again", path) from None
    missing = [c for c in ("field", "value", "id") if c not in table.column_names]
    if missing:
        raise InputError(f"not a vocabulary file (no column {', '.join(missing)}); prepare the data again", path)
    return table

_FILES = ["schema.json", "vocab.parquet", "pretrain_index.npy"] + [f"{s}_{k}.npy" for s in SPLITS for k in "Xy"]


class PreparedData:
    """Splits, D_S, vocabularies and the schema of one prepared data set.

    ``split(name)`` returns memory-mapped arrays (nothing is read until used); ``pretrain()`` and
    ``continued()`` materialise D_S and train minus D_S (the paper's Sec. 3 two training sets) with
    one vectorised gather each. ``encode_raw`` encodes a raw file of the data set's own format with
    the stored vocabularies, for ``lightfmp predict``.
    """

    def __init__(self, dir: Path, schema: Schema):
        self.dir = dir
        self.schema = schema

    @classmethod
    def load(cls, dir: str | Path) -> "PreparedData":
        d = Path(dir)
        if not d.is_dir():
            raise InputError("no such prepared data folder (expected the --out folder of `lightfmp prepare`)", d)
        missing = [f for f in _FILES if not (d / f).exists()]
        if missing:
            raise InputError(f"not a complete prepared data folder: missing {', '.join(missing)}", d)
        schema = Schema.load(d / "schema.json")
        check_vocab(d / "vocab.parquet")  # its footer only: a corrupt file fails here, not mid-run
        return cls(d, schema)

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(X int32 [N, F] memmap, y float32 [N]) of ``"train"``, ``"valid"`` or ``"test"``."""
        if name not in SPLITS:
            raise KeyError(f"unknown split {name!r}; expected one of {SPLITS}")
        try:
            X = np.load(self.dir / f"{name}_X.npy", mmap_mode="r")
            y = np.load(self.dir / f"{name}_y.npy")
        except (OSError, ValueError, EOFError) as exc:
            raise InputError(f"cannot read the {name} split ({short(exc)}); prepare the data again", self.dir) from None
        if X.ndim != 2 or y.ndim != 1 or len(X) != len(y) or X.shape[1] != self.schema.num_fields:
            raise InputError(f"corrupt {name} split: X {X.shape} and y {y.shape} do not match the schema's "
                             f"{self.schema.num_fields} fields; prepare the data again", self.dir)
        return X, y

    @cached_property
    def pretrain_index(self) -> np.ndarray:
        """Sorted positions of D_S inside train."""
        try:
            return np.load(self.dir / "pretrain_index.npy")
        except (OSError, ValueError, EOFError) as exc:
            raise InputError(f"cannot read ({short(exc)}); prepare the data again",
                             self.dir / "pretrain_index.npy") from None

    def pretrain(self) -> tuple[np.ndarray, np.ndarray]:
        """(X, y) of D_S, the pretraining subset drawn from train."""
        X, y = self.split("train")
        return np.asarray(X[self.pretrain_index]), y[self.pretrain_index]

    def continued(self) -> tuple[np.ndarray, np.ndarray]:
        """(X, y) of train minus D_S, for continued training."""
        X, y = self.split("train")
        keep = np.ones(len(y), dtype=bool)
        keep[self.pretrain_index] = False
        return np.asarray(X[keep]), y[keep]

    @property
    def truth(self) -> dict[str, Any] | None:
        p = self.dir / "truth.json"
        return json.loads(p.read_text()) if p.exists() else None

    @property
    def summary(self) -> dict[str, Any]:
        return dict(self.schema.protocol.get("summary", {}))

    def vocab(self, fields: Sequence[str] | None = None) -> dict[str, pa.Array]:
        """Kept values per field in id order (id = 2 + position), typed as when they were read."""
        names = list(fields) if fields is not None else self.schema.names
        table = read_vocab(self.dir / "vocab.parquet", names)
        types = self.schema.protocol.get("value_types", {})
        out = {}
        for n in names:
            part = table.filter(pc.equal(table.column("field"), n))
            part = part.take(pc.sort_indices(part.column("id")))
            values = part.column("value").combine_chunks()
            t = types.get(n, "string")
            try:
                out[n] = values.cast(pa.int64() if t == "int64" else pa.float64()) if t != "string" else values
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise InputError(f"corrupt vocabulary: field {n!r} holds values that are not {t}",
                                 self.dir / "vocab.parquet") from None
        return out

    def encode_raw(self, path: str | Path, fields: list[str] | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Encode a raw file of this data set's format: (X int32 [N, len(fields)], y float32 or None).

        Only the named fields are read, in that order (all when None); unseen values get OOV_ID.
        ``y`` is None when the file has no label column or a blank label on any row.
        """
        X, y, _ = self.encode_rows(Path(path), fields)
        return X, y

    def encode_rows(self, source: Any, fields: Sequence[str] | None = None, *,
                    id_column: str | None = None) -> tuple[np.ndarray, np.ndarray | None, Any]:
        """Encode raw rows with the stored vocabularies: (X int32 [N, len(fields)], y or None, ids or None).

        ``source`` is a path (a file of this data set's format, read as ``prepare`` read it, with
        its ``--drop``/``--delimiter``/``--label-map``) or an in-memory table of raw columns by name
        (a ``pyarrow.Table``, or anything ``pyarrow.table`` takes: a dict of columns, a pandas
        DataFrame), each field converted by the same code as the format's parser output. ``y`` is
        None when there is no label column or any label is blank (rows to score). ``ids`` are the
        raw values of ``id_column`` as strings, in input order (None without ``id_column``).
        """
        from lightfmp.data.encode import encode_rows

        return encode_rows(self, source, list(fields) if fields is not None else None, id_column)

    def __repr__(self) -> str:
        return f"PreparedData({str(self.dir)!r}, dataset={self.schema.dataset!r}, fields={self.schema.num_fields})"
