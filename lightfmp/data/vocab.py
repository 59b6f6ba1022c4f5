"""Per-field vocabularies: streaming value counts, the min-count rule, and vectorised encoding.

Ids follow ``lightfmp.data.schema``: 0 = OOV (seen fewer than ``min_count`` times, or never),
1 = missing, 2.. = kept values. Choices:

* Counts are merged block by block as small Arrow tables and consolidated whenever the pending
  rows pass ``_MERGE_ROWS`` *and* the size of the last consolidated table (so a field with more
  distinct values than ``_MERGE_ROWS`` is not re-aggregated on every block: the merges stay
  linear in the rows, not in rows x distinct values). Memory is bounded by the number of distinct
  values, never by the number of rows. The consolidation is ``dictionary_encode`` plus a weighted
  ``bincount``, not ``Table.group_by``: group_by goes through pyarrow.acero, whose import pulls in
  pyarrow.dataset and pandas (docs/decisions.md#vocabulary-counts-merged-by-bincount).
* Categorical ids are ordered by descending count, ties by value (deterministic, and frequent
  values get small ids); fields without a threshold (bucketed numerics) are ordered by value, so
  their ids are monotone in the bucket.
* Encoding looks up each block's *distinct* values in the vocabulary (``pyarrow.compute.index_in``
  for strings, ``numpy.searchsorted`` for numbers) and then gathers by the per-row codes: the
  per-row work is one integer gather.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lightfmp.data.arrow import to_numpy, valid_mask
from lightfmp.data.schema import FIRST_VALUE_ID, MISSING_ID, OOV_ID
from lightfmp.data.sources.base import FieldBlock, masked_array

# Per field: bounds the unmerged count tables (docs/decisions.md#vocabulary-counts-merged-by-bincount).
_MERGE_ROWS = 1_000_000


class ValueCounter:
    """Counts of every non-missing value of one field, accumulated over blocks."""

    def __init__(self) -> None:
        self._parts: list[pa.Table] = []
        self._pending = 0
        self._merged = 0  # rows of the last consolidated table
        self.missing = 0

    def add(self, fb: FieldBlock) -> None:
        counts = np.bincount(fb.codes + 1, minlength=len(fb.values) + 1)
        self.missing += int(counts[0])
        counts = counts[1:]
        seen = counts > 0
        if not seen.all():
            part = pa.table({"v": fb.values.take(masked_array(np.flatnonzero(seen))),
                             "c": masked_array(counts[seen].astype(np.int64))})
        else:
            part = pa.table({"v": fb.values, "c": masked_array(counts.astype(np.int64))})
        self._parts.append(part)
        self._pending += part.num_rows
        if self._pending > max(_MERGE_ROWS, 2 * self._merged) and len(self._parts) > 1:
            self._merge()

    def _merge(self) -> None:
        t = pa.concat_tables(self._parts, promote_options="permissive")
        enc = pc.dictionary_encode(t.column("v").combine_chunks())
        # Sums of int64 counts in float64 weights: exact below 2^53 rows.
        sums = np.bincount(to_numpy(enc.indices), weights=to_numpy(t.column("c")), minlength=len(enc.dictionary))
        t = pa.table({"v": enc.dictionary, "c": masked_array(sums.astype(np.int64))})
        self._parts, self._pending, self._merged = [t], t.num_rows, t.num_rows

    def table(self) -> pa.Table:
        """Distinct values ``v`` with their total counts ``c``."""
        if not self._parts:
            return pa.table({"v": pa.array([], pa.string()), "c": pa.array([], pa.int64())})
        if len(self._parts) > 1 or self._parts[0].column("v").num_chunks > 1:
            self._merge()
        return self._parts[0]


def build_vocab(counts: pa.Table, min_count: int, thresholded: bool) -> pa.Array:
    """Kept values in id order (value at position i gets id ``FIRST_VALUE_ID + i``)."""
    if thresholded:
        keep = np.flatnonzero(to_numpy(counts.column("c")) >= min_count)
        counts = counts.take(masked_array(keep.astype(np.int64)))
        order = pc.sort_indices(counts, sort_keys=[("c", "descending"), ("v", "ascending")])
    else:
        order = pc.sort_indices(counts, sort_keys=[("v", "ascending")])
    return counts.column("v").take(order).combine_chunks()


class FieldEncoder:
    """Maps a FieldBlock to int32 ids with a fixed vocabulary (see module docstring)."""

    def __init__(self, vocab: pa.Array):
        self.vocab = vocab
        self.size = FIRST_VALUE_ID + len(vocab)
        self._numeric = pa.types.is_integer(vocab.type) or pa.types.is_floating(vocab.type)
        if self._numeric:
            v = to_numpy(vocab)
            self._order = np.argsort(v, kind="stable")
            self._sorted = v[self._order]

    def lookup(self, values: pa.Array) -> np.ndarray:
        """Id of each distinct value (OOV_ID when absent)."""
        if len(values) == 0:
            return np.zeros(0, np.int32)
        if self._numeric:
            v = to_numpy(values).astype(self._sorted.dtype, copy=False)
            if len(self._sorted) == 0:
                return np.full(len(v), OOV_ID, np.int32)
            pos = np.searchsorted(self._sorted, v).clip(max=len(self._sorted) - 1)
            hit = self._sorted[pos] == v
            return np.where(hit, self._order[pos] + FIRST_VALUE_ID, OOV_ID).astype(np.int32)
        if values.type != self.vocab.type:
            values = values.cast(self.vocab.type)
        idx = pc.index_in(values, value_set=self.vocab)
        pos = to_numpy(idx)  # float64 with NaN where absent, when any is absent
        return np.where(np.isnan(pos), OOV_ID, pos + FIRST_VALUE_ID).astype(np.int32) if idx.null_count \
            else (pos + FIRST_VALUE_ID).astype(np.int32)

    def encode(self, fb: FieldBlock) -> np.ndarray:
        return self.encode_codes(fb.values, fb.codes)

    def encode_codes(self, values: pa.Array, codes: np.ndarray) -> np.ndarray:
        """Ids for per-row ``codes`` into the distinct ``values`` (-1 = missing)."""
        return self.table(values)[codes + 1]

    def table(self, values: pa.Array) -> np.ndarray:
        """int32 [1 + len(values)]: ``MISSING_ID`` then the id of each distinct value, so that
        ``table[code + 1]`` encodes a per-row code (-1 = missing); ``prepare`` concatenates the
        fields' tables to encode a whole row-major code matrix with one gather."""
        return np.concatenate([np.array([MISSING_ID], np.int32), self.lookup(values)])
