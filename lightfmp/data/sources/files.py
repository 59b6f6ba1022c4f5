"""Resolving ``--input``: a file, or a folder meaning all of its data files in name order."""
from __future__ import annotations

from pathlib import Path

from lightfmp.errors import InputError

# Files in a data folder that are documentation, not data.
_SKIP_SUFFIXES = {".md", ".txt.md", ".json", ".py", ".sh", ".pl", ".zip", ".gz", ".tar"}
_SKIP_NAMES = {"README", "LICENSE", "SOURCE.md"}


NOT_REGULAR = "expected a regular file or a folder of files, not a pipe or device; save the data to a file first"


def check_regular(path: Path) -> None:
    """Refuse a pipe, socket or device (``/dev/stdin``): it can be read only once, and preparing
    reads a file twice (and memory-maps it), so it must be saved to a file first."""
    if path.exists() and not path.is_file() and not path.is_dir():
        raise InputError(NOT_REGULAR, path)


def data_files(input: str | Path | None, what: str = "--input") -> list[Path]:
    """The data files named by ``input``; a missing path or an empty folder is an InputError."""
    if input is None:
        raise InputError(f"{what} is required for this format")
    path = Path(input)
    if not path.exists():
        raise InputError("no such file or folder (expected a data file or a folder of them)", path)
    check_regular(path)
    if path.is_file():
        return [path]
    files = sorted(
        p for p in path.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.name not in _SKIP_NAMES and p.suffix not in _SKIP_SUFFIXES
    )
    if not files:
        raise InputError("the folder holds no data files", path)
    # Conventional order for split folders, so row order (and so the split) is stable and natural.
    rank = {"train": 0, "dev": 1, "valid": 1, "validation": 1, "test": 2}
    return sorted(files, key=lambda p: (rank.get(p.stem.lower(), 3), p.name))
