"""The part every delimited-text source shares: a file or folder of files, each with its own layout
(header or not), streamed in bounded memory with an overall row limit."""
from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import pyarrow as pa

from lightfmp.data.sources.base import Source, check_labels, parse_label_map
from lightfmp.data.sources.csvstream import CsvLayout, stream_csv
from lightfmp.data.sources.files import data_files


@dataclass
class CsvFilesSource(Source):
    """A Source over ``input`` (a file or a folder); subclasses give ``_layout(path)`` per file.

    ``label_map`` maps raw label values to 0/1 (``--label-map``); ``missing_labels_ok`` (scoring a
    file) lets a label cell be blank. ``input=None`` makes a source without files, whose
    ``block_of`` converts in-memory tables (``PreparedData.encode_rows``).
    """

    input: str | Path | None
    label_map: Any = None
    missing_labels_ok: bool = False
    files: list[Path] = field(init=False)

    def __post_init__(self) -> None:
        self.label_map = parse_label_map(self.label_map)
        self.files = data_files(self.input) if self.input is not None else []
        self._layouts = [self._layout(p) for p in self.files]

    @property
    def options(self) -> dict[str, Any]:
        return {"label_map": self.label_map} if self.label_map else {}

    def labels_of(self, batch: pa.Table | pa.RecordBatch, column: str, path: Path, line: int) -> Any:
        """The checked 0/1 labels of ``column`` (``--label-map`` applied), or None when the batch has none."""
        if column not in batch.column_names:
            return None
        return check_labels(batch.column(column), path, line, column, self.label_map, self.missing_labels_ok)

    @staticmethod
    @abstractmethod
    def _layout(path: Path) -> CsvLayout:
        """Delimiter, header and column names of one file (reads only its first line)."""

    def _batches(self, types: dict[str, pa.DataType], include: Callable[[CsvLayout], Sequence[str]],
                 rows: int | None) -> Iterator[tuple[Path, CsvLayout, int, pa.RecordBatch]]:
        """(path, layout, first line, batch) over every file in order, at most ``rows`` rows in all."""
        left = rows
        for path, layout in zip(self.files, self._layouts):
            for line, batch in stream_csv(path, layout, types, list(include(layout))):
                if left is not None:
                    if left <= 0:
                        return
                    batch = batch.slice(0, left)
                    left -= batch.num_rows
                yield path, layout, line, batch
