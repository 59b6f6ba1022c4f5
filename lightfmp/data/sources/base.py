"""What every raw-data source hands to the preparation engine: blocks of per-field value codes.

A source turns its raw format into a stream of :class:`Block` objects. In a block each field is a
:class:`FieldBlock`: the distinct raw values seen in that block (an Arrow array, after any
format-specific transform such as Criteo's ln^2 bucketing) and one int32 code per row pointing
into them (``-1`` = missing). The engine never sees raw text, so counting values and encoding
them with a vocabulary are the same few vectorised operations for every format.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lightfmp.data.arrow import to_numpy, valid_mask
from lightfmp.data.schema import CATEGORICAL, NUMERIC
from lightfmp.errors import InputError

# Offsets up to this span are encoded by direct indexing instead of sorting (bucketed numerics).
_DIRECT_SPAN = 1 << 20


@dataclass
class FieldBlock:
    """One field of one block: distinct values (no nulls) and int32 codes into them, -1 = missing."""

    values: pa.Array
    codes: np.ndarray


@dataclass
class Block:
    """Consecutive rows of one input file: labels (0/1 float32, or None) and every requested field."""

    path: Path
    first_line: int
    labels: np.ndarray | None
    fields: dict[str, FieldBlock]
    num_rows: int


@dataclass(frozen=True)
class FieldInfo:
    """A field as a source declares it: name, kind, Arrow value type and whether min-count applies."""

    name: str
    kind: str = CATEGORICAL
    value_type: str = "string"  # "string", "int64" or "float64": how vocab.parquet values are read back
    thresholded: bool = True  # False: every value is kept (the OptFS white list for Criteo I1..I13)


@dataclass
class Source(ABC):
    """A raw data set in one format. Subclasses set ``dataset`` and implement the two methods."""

    dataset: str = field(init=False, default="unknown")

    @abstractmethod
    def fields(self) -> list[FieldInfo]:
        """Fields in output order."""

    @abstractmethod
    def blocks(self, fields: Sequence[str] | None = None, rows: int | None = None) -> Iterator[Block]:
        """Blocks in file order; only ``fields`` (all when None), at most ``rows`` rows in total."""

    @property
    def label(self) -> str:
        return "label"

    def protocol(self) -> dict[str, Any]:
        """Format-specific preprocessing facts recorded in the schema."""
        return {}

    def truth(self) -> dict[str, Any] | None:
        """The planted ground truth, for synthetic data only."""
        return None


def masked_array(values: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    """A primitive Arrow array with nulls where ``missing``, built from buffers.

    (``pa.array(numpy_array)`` imports pandas to check its input, which costs most of a second.)
    """
    values = np.ascontiguousarray(values)
    if values.dtype == bool:
        raise TypeError("masked_array takes numbers; pass np.flatnonzero(mask) to select")
    n = len(values)
    if missing is None or not missing.any():
        return pa.Array.from_buffers(pa.from_numpy_dtype(values.dtype), n, [None, pa.py_buffer(values)], null_count=0)
    validity = pa.py_buffer(np.packbits(~missing, bitorder="little"))
    return pa.Array.from_buffers(pa.from_numpy_dtype(values.dtype), n, [validity, pa.py_buffer(values)],
                                 null_count=int(missing.sum()))


def dictionary_block(arr: pa.Array | pa.ChunkedArray) -> FieldBlock:
    """FieldBlock of a string-like column: dictionary-encode it (a no-op if it already is).

    Chunks with their own dictionaries (one per parsed CSV block) are unified in C++ first, so the
    group has one dictionary and one code array.
    """
    if isinstance(arr, pa.ChunkedArray):
        if not pa.types.is_dictionary(arr.type):
            arr = pc.dictionary_encode(arr.combine_chunks())
        elif arr.num_chunks == 1:
            arr = arr.chunk(0)
        else:
            arr = arr.unify_dictionaries()
            chunks = arr.chunks
            codes = np.concatenate([_codes(c) for c in chunks]) if chunks else np.zeros(0, np.int32)
            return _clean(chunks[0].dictionary, codes)
    if not pa.types.is_dictionary(arr.type):
        arr = pc.dictionary_encode(arr)
    return _clean(arr.dictionary, _codes(arr))


def _codes(arr: pa.DictionaryArray) -> np.ndarray:
    codes = to_numpy(arr.indices)
    if arr.null_count:
        codes = np.where(valid_mask(arr), codes, -1)
    return codes.astype(np.int32, copy=False)


def _clean(values: pa.Array, codes: np.ndarray) -> FieldBlock:
    if values.null_count:  # a null inside the dictionary itself: treat those codes as missing
        bad = np.flatnonzero(~valid_mask(values))
        codes = np.where(np.isin(codes, bad), -1, codes).astype(np.int32)
    return FieldBlock(values, codes)


def integer_block(v: np.ndarray, valid: np.ndarray | None) -> FieldBlock:
    """FieldBlock of int64 values: direct offsets when the span is small (bucketed), else np.unique."""
    if valid is not None and not valid.all():
        present = v[valid]
    else:
        valid, present = None, v
    if present.size == 0:
        return FieldBlock(pa.array([], pa.int64()), np.full(v.shape[0], -1, np.int32))
    lo, hi = int(present.min()), int(present.max())
    if hi - lo < _DIRECT_SPAN:
        codes = (v - lo).astype(np.int32)
        values = masked_array(np.arange(lo, hi + 1, dtype=np.int64))
    else:
        uniq, inv = np.unique(np.where(valid, v, lo) if valid is not None else v, return_inverse=True)
        codes, values = inv.astype(np.int32).reshape(-1), masked_array(uniq)
    if valid is not None:
        codes[~valid] = -1
    return FieldBlock(values, codes)


def float_block(v: np.ndarray, valid: np.ndarray | None) -> FieldBlock:
    """FieldBlock of float64 values via np.unique (NaN counts as missing)."""
    ok = ~np.isnan(v) if valid is None else valid & ~np.isnan(v)
    codes = np.full(v.shape[0], -1, np.int32)
    if not ok.any():
        return FieldBlock(pa.array([], pa.float64()), codes)
    uniq, inv = np.unique(v[ok], return_inverse=True)
    codes[ok] = inv.reshape(-1)
    return FieldBlock(masked_array(uniq), codes)


def check_labels(raw: pa.Array | pa.ChunkedArray, path: Path, first_line: int, column: str) -> np.ndarray:
    """Labels as float32 0/1; the first other value (or a missing one) is an InputError naming its line.

    Text labels must be exactly "0" or "1"; numeric labels must equal 0 or 1 (so "1.0" read as a
    number passes). Dictionary-typed labels are checked on their few distinct values only.
    """
    if isinstance(raw, pa.ChunkedArray):  # chunk by chunk: their dictionaries differ
        parts, line = [], first_line
        for chunk in raw.chunks:
            parts.append(check_labels(chunk, path, line, column))
            line += len(chunk)
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)
    if pa.types.is_dictionary(raw.type):
        # Check the few distinct values, then map codes: no per-row strings.
        lut = np.array([{"0": 0.0, "1": 1.0}.get(v, np.nan) for v in raw.dictionary.to_pylist()] + [np.nan])
        value = lut[_codes(raw)]  # a missing label (code -1) picks the NaN at the end
        if not np.isnan(value).any():
            return value.astype(np.float32)
        raw = raw.dictionary_decode()
    if pa.types.is_boolean(raw.type):
        raw = raw.cast(pa.int8())
    n = len(raw)
    valid = valid_mask(raw) if raw.null_count else np.ones(n, bool)
    if pa.types.is_string(raw.type) or pa.types.is_large_string(raw.type):
        text = to_numpy(raw)
        ones, zeros = text == "1", text == "0"
        ok = valid & (ones | zeros)
        value = ones
    elif pa.types.is_integer(raw.type) or pa.types.is_floating(raw.type):
        value = to_numpy(raw).astype(np.float64)
        ok = valid & ((value == 0) | (value == 1))
    else:
        raise InputError(f"expected a 0/1 label column, got type {raw.type}", path, None, column)
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        got = "an empty value" if not valid[i] else repr(raw[i].as_py())
        raise InputError(f"expected a label 0 or 1, got {got}", path, first_line + i, column)
    return np.asarray(value, dtype=np.float32)
