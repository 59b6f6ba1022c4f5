"""Code, docstring and comment lines per Python file (docstrings say why; evidence lives in docs/decisions.md).

Usage:
    python bench/docstring_lines.py                 # every file under lightfmp/, then the total
    python bench/docstring_lines.py lightfmp/train lightfmp/nn/layers.py
    python bench/docstring_lines.py --at 91a4fa9 --exclude lightfmp/models/dcn.py lightfmp   # a commit's tree

Code lines: non-blank lines that are neither docstring nor comment lines.

Docstring lines: the module's, each class's and each function's docstring (first statement of the body),
counted from its first to its last line. Comment lines: lines whose first non-blank character is ``#``.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

_DEFINITIONS = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def _docstring_rows(source: str) -> set[int]:
    rows: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, _DEFINITIONS) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                rows |= set(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    return rows


def docstring_lines(source: str) -> int:
    """Lines of every module, class and function docstring in ``source``."""
    return len(_docstring_rows(source))


def code_lines(source: str) -> int:
    """Non-blank lines that are neither docstring nor comment lines."""
    doc = _docstring_rows(source)
    return sum(1 for i, line in enumerate(source.splitlines(), 1)
               if line.strip() and i not in doc and not line.lstrip().startswith("#"))


def comment_lines(source: str) -> int:
    """Lines that hold only a comment."""
    return sum(1 for line in source.splitlines() if line.lstrip().startswith("#"))


def python_files(paths: list[str]) -> list[Path]:
    """The .py files named, or found below the folders named, in a stable order."""
    out: list[Path] = []
    for name in paths:
        p = Path(name)
        out.extend(sorted(p.rglob("*.py")) if p.is_dir() else [p])
    return out


def _sources(paths: list[str], at: str | None) -> list[tuple[str, str]]:
    if at is None:
        return [(str(p), p.read_text()) for p in python_files(paths)]
    import subprocess

    names = subprocess.run(["git", "ls-tree", "-r", "--name-only", at, "--", *paths], check=True,
                           capture_output=True, text=True).stdout.split()
    return [(n, subprocess.run(["git", "show", f"{at}:{n}"], check=True, capture_output=True, text=True).stdout)
            for n in names if n.endswith(".py")]


def main(argv: list[str]) -> None:
    at = exclude = None
    if "--at" in argv:
        i = argv.index("--at")
        at, argv = argv[i + 1], argv[:i] + argv[i + 2:]
    excluded: list[str] = []
    while "--exclude" in argv:
        i = argv.index("--exclude")
        excluded.append(argv[i + 1])
        argv = argv[:i] + argv[i + 2:]
    totals = [0, 0, 0]
    for name, source in _sources(argv or ["lightfmp"], at):
        if any(name == e or name.startswith(e.rstrip("/") + "/") for e in excluded):
            continue
        counts = (code_lines(source), docstring_lines(source), comment_lines(source))
        totals = [t + c for t, c in zip(totals, counts)]
        print(f"{counts[0]:5d} {counts[1]:5d} {counts[2]:5d}  {name}")
    print(f"{totals[0]:5d} {totals[1]:5d} {totals[2]:5d}  total (code, docstring, comment lines)")


if __name__ == "__main__":
    main(sys.argv[1:])
