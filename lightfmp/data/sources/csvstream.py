"""Streaming, bounded-memory CSV/TSV reading with pyarrow, and one-line errors that name the line.

The file is memory-mapped and cut into chunks of about ``CHUNK_BYTES`` bytes ending after a
newline; a pool of threads (one per core, at most ``MAX_THREADS``) parses chunks with
``pyarrow.csv.read_csv`` side by side, and the tables are taken in file order, a few chunks in
flight, so memory does not grow with the file. (pyarrow's own streaming reader, ``open_csv``, is
single-threaded, and ``read_csv(use_threads=True)`` per chunk costs more CPU time than one
single-threaded ``read_csv`` per thread: docs/decisions.md#csv-parsing-in-chunks-on-a-thread-pool.)
Cutting at any newline is what pyarrow's own block splitter does with ``newlines_in_values=False``
(the default, kept here), and it is only valid for encodings in which byte 0x0A is always a newline
(UTF-8, latin-1: the ones accepted). pyarrow does not report line numbers for bad rows, so when it
fails we re-scan the file as text (the error path only) to find the first offending line and column.
Line numbers count from 1 and include a header line.
Empty lines are not skipped, which keeps line numbers exact: pyarrow reads a blank line as a row
whose cells are all empty (missing), so a label check names it.
"""
from __future__ import annotations

import codecs
import csv
import gzip
import itertools
import mmap
import os
import re
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Sequence

import pyarrow as pa
import pyarrow.csv as pacsv

from lightfmp.errors import InputError

# pyarrow parses small (cache-sized) blocks fastest; a 32 MB chunk (about 128k Criteo rows) per thread
# amortises the per-call set-up (docs/decisions.md#csv-parsing-in-chunks-on-a-thread-pool). Chunks are
# then grouped into tables of GROUP_ROWS rows so per-group work (dictionary unification, vocabulary
# lookups) is paid per half million rows, not per block.
BLOCK_SIZE = 1 << 20
CHUNK_BYTES = 32 << 20
MAX_THREADS = 8
GROUP_ROWS = 1 << 19
NULLS = [""]  # only an empty cell is missing: "NA" or "null" may be real categorical values
_ASCII_SAFE = {"utf-8", "iso8859-1", "ascii"}  # codecs.lookup names where 0x0A is only ever a newline
_NUMBER = re.compile(rb"^\s*[-+]?(\d+\.?\d*([eE][-+]?\d+)?|\.\d+([eE][-+]?\d+)?|nan|NaN|inf|-?inf)\s*$")


@dataclass(frozen=True)
class CsvLayout:
    """How one file is laid out: delimiter, whether line 1 is a header, and all column names."""

    delimiter: str
    header: bool
    names: tuple[str, ...]


BOM = b"\xef\xbb\xbf"
DELIMITERS = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}
_SNIFF_BYTES = 1 << 16
# Compressed or columnar files given as text: (magic bytes, what they are).
_MAGIC = ((b"\x1f\x8b", "gzip"), (b"PK\x03\x04", "zip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"),
          (b"\x28\xb5\x2f\xfd", "zstd"), (b"PAR1", "Parquet"))
_CONTROL = bytes(c for c in range(32) if c not in b"\t\n\r\x0b\x0c\x1b")


GZIP_MAGIC = b"\x1f\x8b"
GZIP_MAX_BYTES = 1 << 30  # compressed; gzip input is decompressed in memory, a larger file is refused


def is_gzip(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(2) == GZIP_MAGIC
    except OSError:
        return False


def open_raw(path: Path) -> BinaryIO:
    """The file's text bytes: gzip-compressed files (by their magic bytes, any name) are decompressed."""
    if is_gzip(path):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def check_text(path: Path, head: bytes) -> None:
    """Refuse a file whose first bytes are not text (compressed, Parquet, binary), in one line.

    pyarrow would otherwise fail with a message quoting hundreds of the file's bytes.
    """
    for magic, what in _MAGIC:
        if head.startswith(magic):
            raise InputError(f"not a text file ({what} bytes at byte 0); expected CSV/TSV text, plain or gzip-compressed",
                             path)
    nul = head.find(b"\x00")
    bad = [i for i, c in enumerate(head[:_SNIFF_BYTES]) if c in _CONTROL] if nul < 0 else [nul]
    # A stray control byte may be data; binary files have NUL bytes or many control bytes.
    if nul >= 0 or len(bad) > max(8, len(head) // 100):
        raise InputError(f"not a text file (found binary bytes near byte {bad[0]}); "
                         "expected CSV/TSV text, plain or gzip-compressed", path)


def first_line(path: Path) -> str:
    """The first line of a text file, whole, as UTF-8 (latin-1 where it is not UTF-8), BOM removed.

    An empty file or a binary one (``check_text``) is an InputError.
    """
    try:
        with open_raw(path) as fh:
            head = fh.read(_SNIFF_BYTES)
            check_text(path, head)
            parts = [head]
            while b"\n" not in parts[-1] and len(parts[-1]) == (_SNIFF_BYTES if len(parts) == 1 else 1 << 20):
                parts.append(fh.read(1 << 20))  # a header longer than the sniffed bytes: read it whole
    except IsADirectoryError:
        raise InputError("expected a file, got a folder", path) from None
    except (EOFError, OSError) as exc:  # a truncated or corrupt gzip file too
        if not isinstance(exc, OSError) or isinstance(exc, gzip.BadGzipFile):
            raise InputError("a corrupt or truncated gzip file", path) from None
        raise InputError(f"cannot read: {exc.strerror or exc}", path) from None
    data = b"".join(parts)
    line = data.split(b"\n", 1)[0].rstrip(b"\r")
    if line.startswith(BOM):
        line = line[len(BOM):]
    if not line.strip():
        raise InputError("the file is empty (expected a header or data rows)", path)
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("latin-1")


def detect_delimiter(line: str, path: Path, given: str | None = None, single_ok: bool = False) -> str:
    """``given``, else the most frequent of tab, comma, semicolon and pipe in the header line
    (``single_ok``: a header without any is one column, e.g. a file to score with one field)."""
    if given:
        return given
    best = max(DELIMITERS, key=line.count)
    if not line.count(best) and not single_ok:
        raise InputError("expected a header with columns separated by tab, comma, semicolon or pipe; "
                         "give --delimiter C", path, 1)
    return best


def split_header(line: str, delimiter: str, path: Path) -> tuple[str, ...]:
    """Column names of a header line (quotes as in CSV, spaces trimmed); duplicates are refused."""
    if '"' in line:
        limit = csv.field_size_limit()
        try:
            csv.field_size_limit(max(limit, len(line) + 1))
            cells = next(csv.reader([line], delimiter=delimiter, quotechar='"'))
        finally:
            csv.field_size_limit(limit)
    else:
        cells = line.split(delimiter)
    names = tuple(c.strip() for c in cells)
    dup = duplicates(names)
    if dup:
        raise InputError(f"duplicate column names in the header: {short(', '.join(map(repr, dup)))}", path, 1)
    return names


def duplicates(names: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    return sorted({n for n in names if n in seen or seen.add(n)})  # type: ignore[func-returns-value]


def short(text: object, limit: int = 60) -> str:
    """``text`` cut to ``limit`` characters with '...' (a user's value is never echoed whole)."""
    s = str(text)
    return s if len(s) <= limit else s[:limit - 3] + "..."


def stream_csv(
    path: Path,
    layout: CsvLayout,
    types: dict[str, pa.DataType],
    include: Sequence[str],
    block_size: int = BLOCK_SIZE,
    *,
    group_rows: int | None = None,
    chunk_bytes: int | None = None,
    quote_char: str | bool = '"',
    encoding: str = "utf8",
    stream: BinaryIO | None = None,
) -> Iterator[tuple[int, pa.Table]]:
    """Yield ``(line number of the group's first row, table)`` with only the ``include`` columns.

    Each table holds consecutive parsed blocks (as chunks) totalling about ``group_rows`` rows.

    ``stream`` replaces the file's bytes (MovieLens 1M's two-character ``::`` delimiter is
    rewritten to one character in memory); error lines are still located in ``path``.
    ``group_rows`` and ``chunk_bytes`` default to the module's ``GROUP_ROWS`` and ``CHUNK_BYTES``
    (read at call time, so tests can shrink them to exercise chunk and group boundaries).
    """
    group_rows = group_rows or GROUP_ROWS
    chunk_bytes = chunk_bytes or CHUNK_BYTES
    if codecs.lookup(encoding).name not in _ASCII_SAFE:
        raise ValueError(f"stream_csv cuts chunks at byte 0x0A, which needs UTF-8 or latin-1, not {encoding!r}")
    delimiter = layout.delimiter if len(layout.delimiter) == 1 else "\x1f"
    parse = pacsv.ParseOptions(delimiter=delimiter, ignore_empty_lines=False, quote_char=quote_char)
    convert = pacsv.ConvertOptions(
        column_types={k: v for k, v in types.items() if k in include},
        include_columns=list(include),
        null_values=NULLS,
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
    )
    line = 2 if layout.header else 1

    def parse_chunk(k: int, start: int, stop: int) -> pa.Table | None:
        read = pacsv.ReadOptions(column_names=list(layout.names), skip_rows=1 if layout.header and k == 0 else 0,
                                 block_size=block_size, use_threads=False, encoding=encoding)
        try:
            try:
                return pacsv.read_csv(pa.BufferReader(whole.slice(start, stop - start)), read_options=read,
                                      parse_options=parse, convert_options=convert)
            except pa.ArrowInvalid as exc:
                if "straddl" not in str(exc) and "Could not skip initial" not in str(exc):
                    raise
                # a line longer than the block (pyarrow cannot split a row): one block for the chunk
                read.block_size = stop - start + 1
                return pacsv.read_csv(pa.BufferReader(whole.slice(start, stop - start)), read_options=read,
                                      parse_options=parse, convert_options=convert)
        except pa.ArrowInvalid as exc:
            if k == 0 and layout.header and "Empty CSV file" in str(exc):
                return None  # the header line alone: no data rows
            raise
        finally:
            _drop(data, start, stop)

    try:
        data = _whole(path, stream)
        whole = pa.py_buffer(data)
        group: list[pa.Table] = []
        rows = 0
        ranges = enumerate(_line_chunks(data, chunk_bytes, len(BOM) if data[:len(BOM)] == BOM else 0))
        for table in _in_file_order(parse_chunk, ranges):
            group.append(table)
            rows += table.num_rows
            if rows >= group_rows:
                yield line, pa.concat_tables(group)
                line, group, rows = line + rows, [], 0
        if group:
            yield line, pa.concat_tables(group)
    except pa.ArrowInvalid as exc:
        raise explain_parse_error(path, layout, str(exc)) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc}", path) from None


def _in_file_order(parse_chunk: Callable[[int, int, int], pa.Table | None],
                   ranges: Iterator[tuple[int, tuple[int, int]]]) -> Iterator[pa.Table]:
    """The non-empty parsed chunks in file order, parsed on a thread pool: one chunk per thread plus one
    in flight, so memory holds a few chunks whatever the file's size."""
    workers = min(usable_cores(), MAX_THREADS)
    with ThreadPoolExecutor(workers, thread_name_prefix="lightfmp-csv") as pool:
        pending: deque[Future] = deque()
        while True:
            for k, (start, stop) in itertools.islice(ranges, workers + 1 - len(pending)):
                pending.append(pool.submit(parse_chunk, k, start, stop))
            if not pending:
                return
            table = pending.popleft().result()
            if table is not None and table.num_rows:
                yield table


def usable_cores() -> int:
    """Cores this process may run on (``taskset`` included), not the machine's count."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _whole(path: Path, stream: BinaryIO | None) -> mmap.mmap | bytes:
    """The input's bytes without copying a file: a read-only memory map (pages come from the page
    cache as pyarrow's threads touch them); a ``stream`` is read whole (its caller holds it in memory)."""
    if stream is not None:
        return stream.read()
    if is_gzip(path):
        if path.stat().st_size > GZIP_MAX_BYTES:
            raise InputError(f"a gzip file over {GZIP_MAX_BYTES >> 30} GiB is decompressed in memory; decompress it "
                             "first (gunzip) and give the text file", path)
        try:
            with gzip.open(path, "rb") as fh:
                return fh.read()
        except (EOFError, gzip.BadGzipFile, OSError):
            raise InputError("a corrupt or truncated gzip file", path) from None
    with open(path, "rb") as fh:
        if fh.seek(0, 2) == 0:
            return b""
        return mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)  # stays valid after the file is closed


def _drop(data: mmap.mmap | bytes, start: int, stop: int) -> None:
    """Unmap the parsed pages of a memory map (the parsed table holds copies): without this, every
    page of the file touched so far would count in this process's resident memory."""
    if isinstance(data, mmap.mmap):
        lo, hi = start - start % mmap.PAGESIZE, stop - stop % mmap.PAGESIZE
        if hi > lo:
            data.madvise(mmap.MADV_DONTNEED, lo, hi - lo)


def _line_chunks(data: mmap.mmap | bytes, size: int, start: int = 0) -> Iterator[tuple[int, int]]:
    """(start, stop) byte ranges of ``data`` of about ``size`` bytes, each ending after a newline
    (the last one may end without; a line longer than ``size`` makes its range longer).
    ``start`` skips a UTF-8 byte order mark."""
    n = len(data)
    while start < n:
        end = min(start + size, n)
        if end < n:
            cut = data.rfind(b"\n", start, end)
            if cut < 0:
                cut = data.find(b"\n", end)
            end = n if cut < 0 else cut + 1
        yield start, end
        start = end


def explain_parse_error(path: Path, layout: CsvLayout, message: str) -> InputError:
    """Turn a pyarrow parse/convert error into an InputError with the line (and column) found by a text scan."""
    m = re.search(r"Expected (\d+) columns, got (\d+)", message)
    if m or "Empty CSV file" in message:
        want = len(layout.names)
        for no, cells in _rows(path, layout):
            if len(cells) != want:
                return InputError(f"expected {want} columns, got {len(cells)}", path, no)
        return InputError(f"expected {want} columns per row ({message.splitlines()[0]})", path)
    m = re.search(r"In CSV column #(\d+): .*CSV conversion error to (\w+): invalid value '(.*)'", message, re.S)
    if m:
        col = layout.names[int(m.group(1))] if int(m.group(1)) < len(layout.names) else None
        if col is not None:
            j = layout.names.index(col)
            for no, cells in _rows(path, layout):
                if j < len(cells) and cells[j].strip() and not _NUMBER.match(cells[j]):
                    got = cells[j].decode("utf-8", "replace")
                    return InputError(f"expected a number, got {short(got)!r}", path, no, col)
        return InputError(f"expected a number, got {short(m.group(3))!r}", path, None, col)
    if "UTF8" in message or "UTF-8" in message:
        return InputError("expected UTF-8 text (found bytes that are not UTF-8)", path)
    return InputError(f"cannot parse: {short(message.splitlines()[0], 100)}", path)


def _rows(path: Path, layout: CsvLayout) -> Iterator[tuple[int, list[bytes]]]:
    """(line number, cells) of each data line; unquoted split, good enough to locate an error."""
    sep = layout.delimiter.encode()
    with open_raw(path) as fh:
        for no, raw in enumerate(fh, start=1):
            if no == 1 and layout.header:
                continue
            if no == 1 and raw.startswith(BOM):
                raw = raw[len(BOM):]
            yield no, raw.rstrip(b"\r\n").split(sep)
