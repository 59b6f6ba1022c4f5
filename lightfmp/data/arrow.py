"""Arrow -> numpy for primitive arrays straight from the buffers.

``pyarrow.Array.to_numpy`` goes through pyarrow's pandas-compatibility layer, which imports pandas
on first use: most of a second per process, a large share of preparing a small file. These helpers
read the value and validity buffers directly (zero-copy where possible) and fall back to
``to_numpy`` for anything that is not a fixed-width number or boolean.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

_DTYPES = {
    pa.int8(): np.int8, pa.int16(): np.int16, pa.int32(): np.int32, pa.int64(): np.int64,
    pa.uint8(): np.uint8, pa.uint16(): np.uint16, pa.uint32(): np.uint32, pa.uint64(): np.uint64,
    pa.float32(): np.float32, pa.float64(): np.float64,
}


def _bits(buf: pa.Buffer, offset: int, n: int) -> np.ndarray:
    return np.unpackbits(np.frombuffer(buf, np.uint8), bitorder="little", count=offset + n)[offset:].astype(bool)


def valid_mask(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """True where a value is present."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.null_count == 0:
        return np.ones(len(arr), dtype=bool)
    buf = arr.buffers()[0]
    if buf is None:  # e.g. a null-typed array
        return np.zeros(len(arr), dtype=bool)
    return _bits(buf, arr.offset, len(arr))


def to_numpy(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Values as numpy; nulls become NaN (numbers, as float64 for integers) or False (booleans)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    t = arr.type
    n = len(arr)
    if pa.types.is_boolean(t):
        out = _bits(arr.buffers()[1], arr.offset, n) if n else np.zeros(0, bool)
        return out & valid_mask(arr) if arr.null_count else out
    dt = _DTYPES.get(t)
    if dt is None:
        return arr.to_numpy(zero_copy_only=False)
    if n == 0:
        return np.zeros(0, dtype=dt)
    out = np.frombuffer(arr.buffers()[1], dtype=dt, count=n, offset=arr.offset * np.dtype(dt).itemsize)
    if arr.null_count:
        out = out.astype(np.float64)
        out[~valid_mask(arr)] = np.nan
    return out


def string_array(values: list[str]) -> pa.Array:
    """A string array built from buffers (``pa.array(list)`` may import pandas to inspect the list)."""
    data = [v.encode("utf-8") for v in values]
    offsets = np.zeros(len(data) + 1, dtype=np.int32)
    np.cumsum([len(b) for b in data], out=offsets[1:])
    return pa.StringArray.from_buffers(len(data), pa.py_buffer(offsets), pa.py_buffer(b"".join(data)))
