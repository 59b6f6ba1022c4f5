"""MovieLens (GroupLens) folders: ratings joined with user and item side features.

Layouts: 100K (``u.data`` TAB ``user item rating ts``, ``u.user`` ``id|age|gender|occupation|zip``,
``u.item`` ``id|title|release date|video date|url|19 genre flags``, latin-1) and 1M (``ratings.dat``,
``users.dat`` ``id::gender::age::occupation::zip``, ``movies.dat`` ``id::Title (Year)::Genre|Genre``).

Fields (all categorical, min-count threshold): user_id, item_id, age, gender, occupation, zip,
release_year, genres (the genre combination as one value, e.g. ``Action|Comedy``). Label:
rating >= 4 (the usual CTR reading of explicit ratings). Choices: side tables are joined by
vectorised id lookup, a rating whose user or item is absent from the side table gets missing
side features; the whole ratings file is read at once (1M ratings is ~24 MB) and handed on in
blocks of ``_BLOCK_ROWS``. A ratings file given instead of a folder (e.g. for ``predict``) is read
with the side tables found next to it.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lightfmp.data.arrow import string_array, to_numpy
from lightfmp.data.sources.base import Block, FieldBlock, FieldInfo, Source, dictionary_block, masked_array
from lightfmp.data.sources.csvstream import CsvLayout, first_line, stream_csv
from lightfmp.data.sources.files import check_regular
from lightfmp.errors import InputError

FIELDS = ("user_id", "item_id", "age", "gender", "occupation", "zip", "release_year", "genres")
GENRES_100K = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)
_BLOCK_ROWS = 1 << 18
_SEP = "\x1f"  # pyarrow needs a one-character delimiter; "::" files are rewritten with this


def _read(path: Path, names: Sequence[str], delimiter: str, types: dict[str, pa.DataType] | None = None) -> pa.Table:
    """A whole (small) MovieLens table; bad rows become InputErrors naming their line."""
    first_line(path)
    col_types = {n: (types or {}).get(n, pa.string()) for n in names}
    layout = CsvLayout(delimiter, False, tuple(names))
    stream = io.BytesIO(path.read_bytes().replace(b"::", _SEP.encode())) if delimiter == "::" else None
    batches = [b for _, b in stream_csv(path, layout, col_types, list(names), quote_char=False,
                                        encoding="latin1", stream=stream)]
    return pa.concat_tables(batches) if batches else pa.table({n: pa.array([], col_types[n]) for n in names})


@dataclass
class MovieLensSource(Source):
    """A MovieLens 100K or 1M folder; see the module docstring."""

    input: str | Path
    layout: str = field(init=False)

    def __post_init__(self) -> None:
        self.dataset = "movielens"
        path = Path(self.input)
        if not path.exists():
            raise InputError("no such file or folder (expected a MovieLens 100K or 1M folder)", path)
        check_regular(path)
        folder = path if path.is_dir() else path.parent
        if (folder / "u.data").exists() or path.name == "u.data":
            self.layout = "100k"
            self.ratings = path if path.is_file() else folder / "u.data"
            self.users, self.items = folder / "u.user", folder / "u.item"
        elif (folder / "ratings.dat").exists() or path.suffix == ".dat":
            self.layout = "1m"
            self.ratings = path if path.is_file() else folder / "ratings.dat"
            self.users, self.items = folder / "users.dat", folder / "movies.dat"
        else:
            raise InputError("expected a MovieLens folder with u.data (100K) or ratings.dat (1M)", path)
        for p in (self.users, self.items):
            if not p.exists():
                raise InputError(f"missing side-feature file {p.name} next to the ratings", p)

    @property
    def label(self) -> str:
        return "rating>=4"

    def fields(self) -> list[FieldInfo]:
        return [FieldInfo(n, value_type="string") for n in FIELDS]

    def protocol(self) -> dict[str, Any]:
        return {"layout": self.layout, "label_rule": "rating >= 4"}

    # ---- side tables: columns aligned with id lookup arrays ------------------------------
    def _users(self) -> tuple[np.ndarray, dict[str, pa.Array]]:
        if self.layout == "100k":
            t = _read(self.users, ["user_id", "age", "gender", "occupation", "zip"], "|", {"user_id": pa.int64()})
        else:
            t = _read(self.users, ["user_id", "gender", "age", "occupation", "zip"], "::", {"user_id": pa.int64()})
        ids = to_numpy(t.column("user_id")).astype(np.int64)
        cols = {n: pc.cast(t.column(n), pa.string()).combine_chunks() for n in ("age", "gender", "occupation", "zip")}
        return ids, cols

    def _items(self) -> tuple[np.ndarray, dict[str, pa.Array]]:
        if self.layout == "100k":
            names = ["item_id", "title", "release_date", "video_date", "url", *[f"g{i}" for i in range(19)]]
            t = _read(self.items, names, "|", {"item_id": pa.int64(), **{f"g{i}": pa.int8() for i in range(19)}})
            year = pc.utf8_slice_codeunits(t.column("release_date"), -4)
            flags = np.stack([to_numpy(t.column(f"g{i}").fill_null(0)) for i in range(19)], 1)
            code = flags.astype(np.int64) @ (1 << np.arange(19, dtype=np.int64))
            uniq, inv = np.unique(code, return_inverse=True)
            # Loop over distinct genre combinations (a few hundred), never over rows.
            names_u = ["|".join(g for i, g in enumerate(GENRES_100K) if c >> i & 1) for c in uniq.tolist()]
            genres = string_array(names_u).take(masked_array(inv.reshape(-1).astype(np.int64)))
        else:
            t = _read(self.items, ["item_id", "title", "genres"], "::", {"item_id": pa.int64()})
            title = t.column("title").combine_chunks()
            year = pc.struct_field(pc.extract_regex(title, r"\((?P<y>\d{4})\)\s*$"), [0])
            genres = t.column("genres")
        ids = to_numpy(t.column("item_id")).astype(np.int64)
        year = pc.if_else(pc.equal(year, ""), pa.nulls(1, year.type)[0], year)
        return ids, {"release_year": pc.cast(year, pa.string()).combine_chunks()
                     if isinstance(year, pa.ChunkedArray) else pc.cast(year, pa.string()),
                     "genres": genres.combine_chunks() if isinstance(genres, pa.ChunkedArray) else genres}

    def blocks(self, fields: Sequence[str] | None = None, rows: int | None = None) -> Iterator[Block]:
        wanted = [n for n in FIELDS if fields is None or n in fields]
        names = ["user_id", "item_id", "rating", "ts"]
        types = {"user_id": pa.int64(), "item_id": pa.int64(), "rating": pa.float64(), "ts": pa.string()}
        ratings = _read(self.ratings, names, "\t" if self.layout == "100k" else "::", types)
        if rows is not None:
            ratings = ratings.slice(0, rows)
        uid = to_numpy(ratings.column("user_id"))
        iid = to_numpy(ratings.column("item_id"))
        rating = to_numpy(ratings.column("rating"))
        bad = np.isnan(rating) | (rating < 0) | np.isnan(uid.astype(float)) | np.isnan(iid.astype(float))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError("expected user id, item id and a numeric rating", self.ratings, i + 1)
        labels = (rating >= 4).astype(np.float32)
        side: dict[str, pa.Array] = {}
        if set(wanted) & {"age", "gender", "occupation", "zip"}:
            u_ids, u_cols = self._users()
            pos = _lookup(u_ids, uid)
            side.update({n: _take(c, pos) for n, c in u_cols.items()})
        if set(wanted) & {"release_year", "genres"}:
            i_ids, i_cols = self._items()
            pos = _lookup(i_ids, iid)
            side.update({n: _take(c, pos) for n, c in i_cols.items()})
        side["user_id"] = pc.cast(ratings.column("user_id"), pa.string()).combine_chunks()
        side["item_id"] = pc.cast(ratings.column("item_id"), pa.string()).combine_chunks()
        for start in range(0, len(labels), _BLOCK_ROWS):
            n = min(_BLOCK_ROWS, len(labels) - start)
            out: dict[str, FieldBlock] = {f: dictionary_block(side[f].slice(start, n)) for f in wanted}
            yield Block(self.ratings, start + 1, labels[start:start + n], out, n)


def _lookup(ids: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Row of each key in ``ids`` (-1 when absent), by sorting: no per-row Python."""
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    pos = np.searchsorted(sorted_ids, keys).clip(max=max(len(ids) - 1, 0))
    hit = (sorted_ids[pos] == keys) if len(ids) else np.zeros(len(keys), bool)
    return np.where(hit, order[pos], -1)


def _take(col: pa.Array, pos: np.ndarray) -> pa.Array:
    return col.take(masked_array(pos.astype(np.int64), pos < 0))
