"""The data layer: raw formats -> prepared folders of int32 ids (numpy + pyarrow only, never torch).

Public API: ``PreparedData`` (open a prepared folder; ``encode_rows`` encodes a raw file or an
in-memory table with its vocabularies), ``prepare`` (build one), ``open_data`` (what
training verbs call: a folder, or an on-the-fly cached preparation), the synthetic generator
(``SyntheticGenerator``, ``write_criteo_tsv``) and the ``Schema``. Imported lazily so that
``import lightfmp.data`` stays cheap.

Bad input (labels other than 0/1, a split with one class, binary or compressed text, a pipe, a
corrupt ``schema.json`` or ``vocab.parquet``) is an ``InputError`` of one line naming the file.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "PreparedData": "lightfmp.data.dataset",
    "prepare": "lightfmp.data.prepare",
    "open_data": "lightfmp.data.open",
    "SyntheticConfig": "lightfmp.data.synthetic",
    "SyntheticGenerator": "lightfmp.data.synthetic",
    "write_criteo_tsv": "lightfmp.data.synthetic",
    "Schema": "lightfmp.data.schema",
    "FieldSpec": "lightfmp.data.schema",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'lightfmp.data' has no attribute {name!r}")
