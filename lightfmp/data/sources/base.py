"""What every raw-data source hands to the preparation engine: blocks of per-field value codes.

A source turns its raw format into a stream of :class:`Block` objects. In a block each field is a
:class:`FieldBlock`: the distinct raw values seen in that block (an Arrow array, after any
format-specific transform such as Criteo's ln^2 bucketing) and one int32 code per row pointing
into them (``-1`` = missing). The engine never sees raw text, so counting values and encoding
them with a vocabulary are the same few vectorised operations for every format.
"""
from __future__ import annotations

from collections import Counter
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lightfmp.data.arrow import to_numpy, valid_mask
from lightfmp.data.schema import CATEGORICAL
from lightfmp.data.sources.csvstream import short
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


def parse_label_map(value: "str | Mapping[str, Any] | None") -> dict[str, float] | None:
    """``'yes=1,no=0'`` (or a mapping) -> ``{'yes': 1.0, 'no': 0.0}``; None stays None.

    Raw label values are matched as text, so a numeric column is compared by its printed value.
    """
    if value is None or value == "" or value == {}:
        return None
    pairs = value.items() if isinstance(value, Mapping) else [
        tuple(p.rsplit("=", 1)) if "=" in p else (p, None) for p in str(value).split(",") if p.strip()]
    out: dict[str, float] = {}
    for raw, target in pairs:
        key = str(raw).strip()
        t = str(target).strip() if target is not None else ""
        if not key or t not in ("0", "1", "0.0", "1.0"):
            shown = short(f"{raw}={target}" if target is not None else str(raw))
            raise InputError(f"--label-map: expected VALUE=0 or VALUE=1 pairs separated by commas, got {shown!r}")
        out[key] = float(t)
    return out


def _label_counts(text: np.ndarray, valid: np.ndarray) -> list[tuple[str, int]]:
    """(value, count) of every distinct raw label, most frequent first; missing as '(empty)'."""
    counts = Counter("(empty)" if not ok else str(v) for v, ok in zip(text.tolist(), valid.tolist()))
    return sorted(counts.items(), key=lambda t: (-t[1], t[0]))


def _bad_labels(text: np.ndarray, valid: np.ndarray, ok: np.ndarray, path: Path, first_line: int,
                column: str, mapped: bool) -> InputError:
    """One line: the label values found with their counts, a --label-map hint, the first bad line."""
    i = int(np.flatnonzero(~ok)[0])
    counts = _label_counts(text, valid)
    shown = ", ".join(f"{short(v, 20)!r} x {c}" if v != "(empty)" else f"(empty) x {c}" for v, c in counts[:6])
    if len(counts) > 6:
        shown += f", and {len(counts) - 6} more"
    if not valid[~ok].any():
        empty = int((~valid).sum())
        return InputError(f"expected a label 0 or 1, got an empty value ({empty} of {len(valid)} rows here are "
                          "empty; a label is needed on every row)", path, first_line + i, column)
    names = [v for v, _ in counts if v != "(empty)"]
    others = [v for v in names if v not in ("0", "1")]
    if len(names) == 2 and len(others) == 2 and all(len(v) <= 20 and "," not in v for v in others):
        pos = next((v for v in others if v.strip().lower() in _POSITIVE), others[1])  # else the rarer one
        neg = others[0] if pos == others[1] else others[1]
        hint = f"map them with --label-map {pos}=1,{neg}=0"
    else:
        hint = "map them with --label-map VALUE=0|1,..."
    if mapped:
        hint = "not covered by --label-map; " + hint
    return InputError(f"expected 0/1 label values, found {shown} ({hint})",
                      path, first_line + i, column)


_POSITIVE = {"1", "yes", "y", "true", "t", "click", "clicked", "pos", "positive", "+1", "+"}


def check_labels(raw: pa.Array | pa.ChunkedArray, path: Path, first_line: int, column: str,
                 label_map: Mapping[str, float] | None = None, missing_ok: bool = False) -> np.ndarray:
    """Labels as float32 0/1; any other value is an InputError listing the values found with counts.

    Text labels must be exactly "0" or "1" (or a key of ``label_map``); numeric labels must equal
    0 or 1 (so "1.0" read as a number passes), or, with a ``label_map``, match a key as printed.
    ``missing_ok`` (scoring a file) turns a missing label into NaN instead of an error.
    """
    if isinstance(raw, pa.ChunkedArray):
        raw = raw.combine_chunks() if raw.num_chunks != 1 else raw.chunk(0)
    if pa.types.is_boolean(raw.type) or pa.types.is_null(raw.type):  # null: a table's all-blank column
        raw = raw.cast(pa.int8())
    lut_map = {"0": 0.0, "1": 1.0, **(label_map or {})}
    if (pa.types.is_integer(raw.type) or pa.types.is_floating(raw.type)) and not label_map:
        n = len(raw)
        valid = valid_mask(raw) if raw.null_count else np.ones(n, bool)
        value = to_numpy(raw).astype(np.float64)
        ok = valid & ((value == 0) | (value == 1))
        if missing_ok:
            ok |= ~valid
        if not ok.all():
            text = np.array([str(v) for v in raw.to_pylist()], dtype=object)
            raise _bad_labels(text, valid, ok, path, first_line, column, False)
        return np.where(valid, value, np.nan).astype(np.float32)
    if not pa.types.is_dictionary(raw.type):
        if not (pa.types.is_string(raw.type) or pa.types.is_large_string(raw.type)):
            if not (pa.types.is_integer(raw.type) or pa.types.is_floating(raw.type)):
                raise InputError(f"expected a 0/1 label column, got type {raw.type}", path, None, column)
            raw = pc.cast(raw, pa.string())
        raw = pc.dictionary_encode(raw)
    # Check the few distinct values, then map codes: no per-row strings.
    values = raw.dictionary
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        values = pc.cast(values, pa.string())
    lut = np.array([lut_map.get(v, np.inf) if v is not None else np.nan for v in values.to_pylist()] + [np.nan])
    value = lut[_codes(raw)]  # a missing label (code -1) picks the NaN at the end
    ok = np.isfinite(value) | (np.isnan(value) if missing_ok else False)
    if not ok.all():
        valid = ~np.isnan(value)
        names = np.array(values.to_pylist() + [None], dtype=object)
        raise _bad_labels(names[_codes(raw) % (len(names))] if len(names) > 1 else np.full(len(value), None, object),
                          valid, ok, path, first_line, column, bool(label_map))
    return value.astype(np.float32)


def coerce(table: pa.Table, types: Mapping[str, pa.DataType], where: object) -> pa.Table:
    """``table`` with each column of ``types`` cast to its type, as the CSV reader would produce it.

    Used to encode an in-memory table exactly as a parsed file: a value that cannot be cast (text
    in a numeric field) is an InputError naming the column.
    """
    cols = {}
    for name in table.column_names:
        col, want = table.column(name), types.get(name)
        if want is not None and col.type != want:
            try:
                if pa.types.is_dictionary(want) and not (pa.types.is_string(col.type) or pa.types.is_dictionary(col.type)):
                    col = pc.cast(col, pa.string())
                if pa.types.is_dictionary(col.type) and not pa.types.is_dictionary(want):
                    col = col.cast(col.type.value_type)
                if pa.types.is_floating(want) and (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
                    col = pc.if_else(pc.equal(pc.utf8_trim_whitespace(col), ""), pa.scalar(None, col.type), col)
                col = col.cast(want)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise InputError(f"cannot read as {want}: {short(str(exc).splitlines()[0])}", where, None, name) from None
        cols[name] = col
    return pa.table(cols)
