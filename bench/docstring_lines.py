"""Docstring and comment lines per Python file (issue 24: docstrings say why; evidence lives in docs/decisions.md).

Usage:
    python bench/docstring_lines.py                 # every file under lightfmp/, then the total
    python bench/docstring_lines.py lightfmp/train lightfmp/nn/layers.py

Docstring lines: the module's, each class's and each function's docstring (first statement of the body),
counted from its first to its last line. Comment lines: lines whose first non-blank character is ``#``.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

_DEFINITIONS = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def docstring_lines(source: str) -> int:
    """Lines of every module, class and function docstring in ``source``."""
    total = 0
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, _DEFINITIONS) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                total += (first.end_lineno or first.lineno) - first.lineno + 1
    return total


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


def main(argv: list[str]) -> None:
    total_doc = total_comment = 0
    for path in python_files(argv or ["lightfmp"]):
        source = path.read_text()
        doc, comment = docstring_lines(source), comment_lines(source)
        total_doc, total_comment = total_doc + doc, total_comment + comment
        print(f"{doc:5d} {comment:5d}  {path}")
    print(f"{total_doc:5d} {total_comment:5d}  total (docstring lines, comment lines)")


if __name__ == "__main__":
    main(sys.argv[1:])
