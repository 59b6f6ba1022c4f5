"""``open_data``: what every training verb calls to get its data.

``--data DIR`` opens a prepared folder. ``--format F --input PATH`` (or ``--format synthetic
--rows N``) prepares on the fly into a cache folder named by a hash of everything that determines
the result: the format, the absolute input path, each input file's size and modification time,
and the options (the reading options ``--drop``, ``--delimiter`` and ``--label-map`` only when
given, so older keys do not change). A second call with the same key reuses the folder; a changed
file gets a new key. The cache root is ``cache_root``, else ``$LIGHTFMP_CACHE``, else
``~/.cache/lightfmp``; each preparation first removes the folders killed preparations left there.
The input must be a regular file or a folder (a pipe such as ``/dev/stdin`` cannot be prepared).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Sequence

from lightfmp.data.dataset import PreparedData
from lightfmp.data.sources import FORMATS, column_roles, reading_options
from lightfmp.data.sources.files import check_regular, data_files
from lightfmp.errors import InputError

# Bump when preprocessing changes, so stale caches are not reused.
CACHE_VERSION = 1


def cache_root_dir(cache_root: str | Path | None = None) -> Path:
    if cache_root is not None:
        return Path(cache_root)
    env = os.environ.get("LIGHTFMP_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "lightfmp"


def cache_key(fmt: str, input: str | Path | None, **options: object) -> str:
    """Hex digest over the format, the absolute input path, input file sizes and mtimes, and options."""
    stamp: list[object] = []
    if input is not None:
        root = Path(input).resolve()
        # A MovieLens folder also reads files data_files() would skip (e.g. u.user): stat them all.
        files = sorted(p for p in root.iterdir() if p.is_file()) if root.is_dir() else data_files(root)
        stamp = [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    blob = json.dumps({"v": CACHE_VERSION, "fmt": fmt, "input": str(Path(input).resolve()) if input else None,
                       "files": stamp, "options": options}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def open_data(
    data: str | Path | None = None,
    fmt: str | None = None,
    input: str | Path | None = None,
    rows: int | None = None,
    seed: int = 2021,
    pretrain_size: int | None = None,
    cache_root: str | Path | None = None,
    progress: bool = True,
    label: str | None = None,
    categorical: Sequence[str] | None = None,
    numeric: Sequence[str] | None = None,
    drop: Sequence[str] | None = None,
    delimiter: str | None = None,
    label_map: object = None,
) -> PreparedData:
    """A prepared folder (``data``) or a cached on-the-fly preparation of ``fmt``/``input``.

    ``label``, ``categorical``, ``numeric``: the table formats' column roles, as ``prepare`` takes
    them (csv and parquet only; other formats fix their columns, and a prepared folder has them).
    ``drop``, ``delimiter``, ``label_map``: the reading options, as ``prepare`` takes them.
    """
    roles = {**column_roles(label, categorical, numeric), **reading_options(drop, delimiter, label_map)}
    if roles and data is not None:  # the format check is make_source's
        given = ", ".join("--" + k.replace("_", "-") for k in roles)
        raise InputError(f"{given}: not with --data (a prepared folder keeps the "
                         "column roles it was prepared with)")
    if data is not None:
        if fmt is not None or input is not None:
            raise InputError("give either --data or --format/--input, not both")
        return PreparedData.load(data)
    if fmt is None:
        raise InputError("expected --data DIR, or --format F with --input PATH (or --format synthetic --rows N)")
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if fmt != "synthetic" and input is None:
        raise InputError(f"--input is required for --format {fmt}")
    if input is not None and not Path(input).exists():
        raise InputError("no such file or folder (expected a data file or a folder of them)", input)
    if input is not None:
        check_regular(Path(input))
    # only the roles given enter the key, so keys of entries made without them do not change
    key = cache_key(fmt, input, rows=rows, seed=seed, pretrain_size=pretrain_size, min_count=2, **roles)
    out = cache_root_dir(cache_root) / f"{fmt}-{key}"
    if (out / "schema.json").exists():
        try:
            return PreparedData.load(out)
        except InputError:
            pass  # an incomplete folder (should not happen: folders are renamed when complete): rebuild
    from lightfmp.data.prepare import prepare, remove_stale

    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(out.parent)
    return prepare(fmt, input, out, rows=rows, seed=seed, pretrain_size=pretrain_size, progress=progress, **roles)
