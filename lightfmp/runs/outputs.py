"""Where a verb may write: an ``--out`` that could lose something of the user's is refused before any work.

Every writing verb checks its destination first, so a refusal costs nothing and leaves nothing behind:

- a run folder (`train`, `prune`, `select`) or a data folder (`prepare`) may be new, empty, or a
  folder of the same kind that lightfmp wrote (then it is replaced when the new one is complete);
- anything else is refused: an existing file, a folder holding files lightfmp did not write, a
  folder of the other kind, the current folder or one above it, the input data or a folder above it;
- an export bundle (`export`) likewise: new, empty, or a bundle lightfmp wrote (its bundle.json
  names the kind), replaced when the new one is complete;
- `predict --out` may be a new file or a score file that `predict` wrote, in an existing folder.

Our own folders are recognised by their contents (nothing but the file names we write, and the file
that identifies the kind: a run's report.json or checkpoint.pt, a data folder's schema.json), not by
a marker, so folders written before this check are still ours. Whether a folder can be written is
asked of the file system (``os.access``, which also sees a read-only mount) at the nearest existing
folder, so a missing parent folder is fine for run and data folders: it is created.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

from lightfmp.errors import InputError

RUN_FILES = frozenset({"report.json", "model.pt", "gated_model.pt", "schema.json", "vocab.parquet",
                       "config.json", "checkpoint.pt", "mask_heatmap.png", "test_scores.npy"})
DATA_FILES = frozenset({"schema.json", "vocab.parquet", "pretrain_index.npy", "truth.json",
                        *(f"{s}_{k}.npy" for s in ("train", "valid", "test") for k in "Xy")})
EXPORT_FILES = frozenset({"bundle.json", "model.onnx", "model.onnx.data", "model.pt2", "schema.json", "vocab.parquet"})
SCORES_HEADER = "probability"  # the last column of every file `predict` writes


def folder_kind(path: Path) -> str | None:
    """'run', 'data' or 'export' when ``path`` is a folder lightfmp wrote, 'empty', or None (someone else's)."""
    names = {p.name for p in path.iterdir()}
    if not names:
        return "empty"
    if names <= RUN_FILES and ("checkpoint.pt" in names or _is_report(path / "report.json")):
        return "run"
    if names <= DATA_FILES and "schema.json" in names:
        return "data"
    if names <= EXPORT_FILES and _is_manifest(path / "bundle.json"):
        return "export"
    return None


def _is_report(path: Path) -> bool:
    try:
        return "method" in json.loads(path.read_text())
    except (OSError, ValueError, TypeError):
        return False


def _is_manifest(path: Path) -> bool:
    try:
        return json.loads(path.read_text()).get("kind") == "lightfmp-export"
    except (OSError, ValueError, TypeError, AttributeError):
        return False


_WHAT = {"run": "run folder", "data": "prepared data folder", "export": "serving bundle folder"}


def check_out_folder(out: str | Path, kind: str, protect: Iterable[str | Path | None] = ()) -> Path:
    """Refuse (InputError) an ``--out`` folder for a ``kind`` ('run', 'data' or 'export') that could lose data.

    ``protect``: the verb's inputs (the data folder, raw input files): ``out`` may not be one of them
    nor a folder above one, since replacing ``out`` would delete them.
    """
    what = _WHAT[kind]
    p = Path(out)
    if str(out).strip() == "":
        raise InputError(f"--out: expected a folder name for the {what}, got an empty one")
    target = p.resolve()
    cwd = Path.cwd().resolve()
    if target == cwd or target in cwd.parents:
        raise InputError(f"--out: is the current folder or one above it; replacing it with the {what} would "
                         f"delete everything in it; name a new folder, e.g. --out runs/my_run", path=out)
    for q in protect:
        if q is None:
            continue
        qr = Path(q).resolve()
        if target == qr or target in qr.parents:
            raise InputError(f"--out: is the input {qr.name!r} or a folder holding it; writing the {what} there "
                             "would delete the input; name another folder", path=out)
    if p.exists() and not p.is_dir():
        raise InputError(f"--out: exists and is a file; expected a new or empty folder for the {what}", path=out)
    if p.is_dir():
        try:
            found = folder_kind(p)
        except OSError as exc:
            raise InputError(f"--out: cannot list the folder ({exc.strerror})", path=out) from None
        if found is None:
            raise InputError(f"--out: the folder exists and holds files lightfmp did not write; refusing to "
                             f"replace it with a {what}; name a new or empty folder", path=out)
        if found not in ("empty", kind):
            other = _WHAT[found]
            raise InputError(f"--out: is a {other}, not a {what}; refusing to replace it; name another folder",
                             path=out)
        _check_writable(p)  # checkpoints are written into it
    _check_writable(p.parent)  # the finished folder is assembled beside it, then renamed
    return p


def check_out_file(out: str | Path, protect: Iterable[str | Path | None] = ()) -> Path:
    """Refuse an ``--out`` score file that is a folder, lies in a missing or read-only folder, is an input,
    or is an existing file that `predict` did not write."""
    p = Path(out)
    if str(out).strip() == "" or p.is_dir():
        raise InputError("--out: is a folder; expected the name of a CSV file to write the scores into", path=out)
    for q in protect:
        if q is not None and Path(q).exists() and p.resolve() == Path(q).resolve():
            raise InputError("--out: is the input file; writing the scores there would destroy it", path=out)
    parent = p.parent
    if not parent.exists():
        raise InputError(f"--out: the folder {str(parent)!r} does not exist; create it first", path=out)
    if not parent.is_dir():
        raise InputError(f"--out: {str(parent)!r} is a file, not a folder", path=out)
    if p.exists() and not _is_scores(p):
        raise InputError("--out: the file exists and was not written by `lightfmp predict`; refusing to "
                         "replace it; name a new file", path=out)
    _check_writable(parent)
    return p


def _is_scores(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.readline(4096)
    except OSError:
        return False
    return head.rstrip(b"\r\n").decode("utf-8", "replace").split(",")[-1] == SCORES_HEADER


def _check_writable(folder: Path) -> None:
    """The nearest existing folder at or above ``folder`` must be a writable folder (where we create)."""
    q = folder
    while not q.exists() and q != q.parent:
        q = q.parent
    if not q.is_dir():
        raise InputError(f"--out: {str(q)!r} is a file, so no folder can be created under it")
    if not os.access(q, os.W_OK | os.X_OK):
        raise InputError(f"--out: cannot write into {str(q)!r} (no write permission, or a read-only file system)")
