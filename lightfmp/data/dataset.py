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
        return cls(d, Schema.load(d / "schema.json"))

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(X int32 [N, F] memmap, y float32 [N]) of ``"train"``, ``"valid"`` or ``"test"``."""
        if name not in SPLITS:
            raise KeyError(f"unknown split {name!r}; expected one of {SPLITS}")
        return np.load(self.dir / f"{name}_X.npy", mmap_mode="r"), np.load(self.dir / f"{name}_y.npy")

    @cached_property
    def pretrain_index(self) -> np.ndarray:
        """Sorted positions of D_S inside train."""
        return np.load(self.dir / "pretrain_index.npy")

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
        table = pq.read_table(self.dir / "vocab.parquet", filters=[("field", "in", names)] if names else None)
        types = self.schema.protocol.get("value_types", {})
        out = {}
        for n in names:
            part = table.filter(pc.equal(table.column("field"), n))
            part = part.take(pc.sort_indices(part.column("id")))
            values = part.column("value").combine_chunks()
            t = types.get(n, "string")
            out[n] = values.cast(pa.int64() if t == "int64" else pa.float64()) if t != "string" else values
        return out

    def encode_raw(self, path: str | Path, fields: list[str] | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Encode a raw file of this data set's format: (X int32 [N, len(fields)], y float32 or None).

        Only the named fields are read, in that order (all when None); unseen values get OOV_ID.
        ``y`` is None when the file has no label column.
        """
        from lightfmp.data.encode import encode_file

        return encode_file(self, Path(path), fields)

    def __repr__(self) -> str:
        return f"PreparedData({str(self.dir)!r}, dataset={self.schema.dataset!r}, fields={self.schema.num_fields})"
