"""The synthetic format: rows straight from the generator, preprocessed exactly as raw Criteo.

No text is written or parsed: each generator chunk is already a Criteo-typed Arrow table, so
``prepare --format synthetic --rows N`` and preparing the TSV that
:func:`lightfmp.data.synthetic.write_criteo_tsv` writes give identical data folders.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from lightfmp.data.sources.base import Block, FieldInfo, Source, check_labels
from lightfmp.data.sources.criteo import criteo_block, criteo_fields
from lightfmp.data.synthetic import DEFAULT_ROWS, SyntheticConfig, SyntheticGenerator
from lightfmp.errors import InputError


@dataclass
class SyntheticSource(Source):
    """``rows`` generated rows (default 100,000) from :class:`SyntheticGenerator`."""

    rows: int | None = None
    seed: int = 2021
    config: SyntheticConfig | None = None
    generator: SyntheticGenerator = field(init=False)

    def __post_init__(self) -> None:
        self.dataset = "synthetic"
        if self.rows is None:
            self.rows = DEFAULT_ROWS
        if self.rows <= 0:
            raise InputError(f"--rows must be a positive number of rows, got {self.rows}")
        self.generator = SyntheticGenerator(self.config or SyntheticConfig(seed=self.seed))

    def fields(self) -> list[FieldInfo]:
        g = self.generator
        return criteo_fields(g.numeric_names, g.categorical_names)

    def protocol(self) -> dict[str, Any]:
        return {"numeric_bucketing": "floor(ln(x)^2) if x > 2 else int(x)", "numeric_min_count": "none (white list)"}

    def truth(self) -> dict[str, Any]:
        return self.generator.truth()

    def blocks(self, fields: Sequence[str] | None = None, rows: int | None = None) -> Iterator[Block]:
        wanted = [f for f in self.fields() if fields is None or f.name in fields]
        n = self.rows if rows is None else min(rows, self.rows)
        line = 1
        for table in self.generator.chunks(n):
            labels = check_labels(table.column("label"), Path("<synthetic>"), line, "label")
            yield Block(Path("<synthetic>"), line, labels, criteo_block(table, wanted), table.num_rows)
            line += table.num_rows
