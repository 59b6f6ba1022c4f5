"""``prepare``: raw data -> vocabularies -> int32 id matrices per split, in two streaming passes.

Pass 1 parses the input once: labels, per-field value counts, and each group's per-row codes
spilled to disk (int32, as large as the output itself) with the group's distinct values. The
vocabularies, the stratified split and D_S are decided from counts and labels alone. Pass 2 reads
the spill (no re-parsing: parsing is most of the cost), maps each group's distinct values to ids
once and writes each split's rows into preallocated ``.npy`` files at their final positions.
Memory is bounded by the group size, the labels (4 bytes a row) and the distinct values, never by
the file.

Everything is written into ``<out>.tmp-<pid>`` and renamed to ``<out>`` only when complete; on any
error the temporary folder is removed, so no complete-looking output is ever left behind. A killed
prepare cannot clean up: the next one into the same ``<out>`` (or the same cache root) removes the
``.tmp-<pid>`` / ``.old-<pid>`` folders whose process is gone (``remove_stale``). Labels that leave
a split with a single class are refused after the split is drawn, before anything is encoded.

What runs in parallel: parsing is most of the time (pyarrow, 32 MB chunks on one thread per core,
``sources.csvstream``), so pass 1 reads one group ahead in a background thread and pass 2 encodes
groups on one thread per core; the work spreads over the cores a machine has free, and on a single
free core the gain is the CPU time saved alone. Evidence: docs/decisions.md#prepare-in-two-streaming-passes;
re-measure: ``python bench/prepare.py --rows 1000000 --repeat 3`` (and ``--rows 4000000 --repeat 1``
for memory).
"""
from __future__ import annotations

import json
import os
import pickle
import queue
import re
import shutil
import sys
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from lightfmp.data.arrow import string_array
from lightfmp.data.dataset import PreparedData
from lightfmp.data.schema import FieldSpec, Schema
from lightfmp.data.sources import Source, make_source, source_options
from lightfmp.data.sources.base import Block, FieldBlock, masked_array
from lightfmp.data.sources.csvstream import short, usable_cores
from lightfmp.data.split import SPLITS, draw_pretrain, stratified_split
from lightfmp.data.vocab import FieldEncoder, ValueCounter, build_vocab
from lightfmp.errors import InputError


def prepare(
    fmt: str,
    input: str | Path | None,
    out: str | Path,
    *,
    rows: int | None = None,
    seed: int = 2021,
    min_count: int = 2,
    pretrain_size: int | None = None,
    label: str | None = None,
    categorical: Sequence[str] | None = None,
    numeric: Sequence[str] | None = None,
    drop: Sequence[str] | None = None,
    delimiter: str | None = None,
    label_map: Any = None,
    progress: bool = True,
) -> PreparedData:
    """Prepare ``input`` of format ``fmt`` into the data folder ``out`` (see docs/architecture.md).

    ``rows`` keeps the first N rows (for ``synthetic``: generates N rows, default 100,000).
    ``min_count`` applies to categorical fields only (numeric buckets keep every value, as OptFS).
    ``pretrain_size``: rows of D_S; None is the paper's 2,000, or half the training rows when there are
    fewer than 4,000 (``split.default_pretrain_size``); a number is taken as given.
    ``drop``, ``delimiter`` and ``label_map`` are the reading options of ``make_source``; they are
    stored in the schema (``source_options``), so a file to score is read the same way.
    """
    if rows is not None and rows < 1:
        raise InputError(f"--rows must be a positive number of rows, got {rows}")
    if min_count < 1:
        raise InputError(f"--min-count must be at least 1, got {min_count}")
    if pretrain_size is not None and pretrain_size < 1:
        raise InputError(f"--pretrain-size must be at least 1, got {pretrain_size}")
    source = make_source(fmt, input, rows=rows, seed=seed, label=label, categorical=categorical, numeric=numeric,
                         drop=drop, delimiter=delimiter, label_map=label_map)
    protocol = {
        "format": fmt,
        "input": str(Path(input).resolve()) if input is not None else None,
        "rows": rows,
        "seed": seed,
        "min_count": min_count,
        "min_count_applies_to": "categorical fields",
        "pretrain_size": pretrain_size,
        "split": "label-stratified 8:1:1, numpy default_rng(seed); D_S uniform from train with default_rng((seed, 1))",
        "ids": "0 = OOV (count < min_count or unseen), 1 = missing, 2.. values",
        "source_options": source_options(source),
        **source.protocol(),
    }
    return write_prepared(source, Path(out), protocol, rows=rows, seed=seed, min_count=min_count,
                          pretrain_size=pretrain_size, progress=progress)


MIN_CLASS_ROWS = 3  # rows of each class the split needs to give every split both classes


def check_classes(y: np.ndarray, code: np.ndarray, label: str, where: object) -> None:
    """Refuse labels that leave a split with one class: no AUC could be computed on it.

    One line with the 0/1 counts per split, e.g. ``label 'click': the test split has no positive
    rows (train 0/1: 790/10, valid 99/1, test 100/0); ...``.
    """
    counts = [(int(((code == i) & (y == 0)).sum()), int(((code == i) & (y == 1)).sum())) for i in range(len(SPLITS))]
    shown = ", ".join(f"{s} {n}/{p}" for s, (n, p) in zip(SPLITS, counts))
    total = (sum(c[0] for c in counts), sum(c[1] for c in counts))
    for cls, word in ((1, "positive"), (0, "negative")):
        if total[cls] == 0:
            gap = f"the data has no {word} rows"
        else:
            empty = [s for s, c in zip(SPLITS, counts) if c[cls] == 0]
            if not empty:
                continue
            gap = f"the {' and '.join(empty)} split{'s have' if len(empty) > 1 else ' has'} no {word} rows"
        raise InputError(f"label {short(label, 40)!r}: {gap} (train 0/1: {shown.removeprefix('train ')}); "
                         f"at least {MIN_CLASS_ROWS} rows of each class are needed", where)


_STALE = re.compile(r"^(?P<name>.+)\.(?:tmp|old)-(?P<pid>\d+)$")


def remove_stale(parent: Path, name: str | None = None) -> None:
    """Remove ``<name>.tmp-<pid>`` / ``<name>.old-<pid>`` folders left in ``parent`` by a killed
    prepare (any name when None: a cache root), where no process ``pid`` is alive any more.

    A folder of a live process (this one included) is left alone; so is a pid that was reused.
    """
    try:
        entries = list(parent.iterdir())
    except OSError:
        return
    for p in entries:
        m = _STALE.match(p.name)
        if m is None or (name is not None and m.group("name") != name) or not p.is_dir() or p.is_symlink():
            continue
        if not _alive(int(m.group("pid"))):
            shutil.rmtree(p, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid <= 0:
        return True  # not a pid this code writes: leave it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's live process (or not a pid: leave it)
    return True


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise InputError("exists and is a file (expected a folder to write the prepared data into)", out)
    if out.is_dir() and any(out.iterdir()) and not (out / "schema.json").exists():
        raise InputError("exists, is not empty and is not a prepared data folder; refusing to overwrite it", out)


def _bar(progress: bool, desc: str, total: int | None) -> tqdm:
    return tqdm(total=total, desc=desc, unit=" rows", unit_scale=True, leave=False, file=sys.stderr,
                disable=not (progress and sys.stderr.isatty()))


def write_prepared(
    source: Source,
    out: Path,
    protocol: dict[str, Any],
    *,
    rows: int | None,
    seed: int,
    min_count: int,
    pretrain_size: int | None,
    progress: bool,
) -> PreparedData:
    """Parse once, spill codes, decide vocabularies and split, then encode the spill (module docstring)."""
    _check_out(out)
    remove_stale(out.parent, out.name)
    fields = source.fields()
    names = [f.name for f in fields]
    tmp = out.parent / f"{out.name}.tmp-{os.getpid()}"
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        (tmp / "spill").mkdir(parents=True)
        y, vocabs, missing, groups = _count_pass(source, tmp / "spill", fields, rows, min_count, progress,
                                                 protocol.get("input"))
        code = stratified_split(y, seed)
        check_classes(y, code, source.label, protocol.get("input"))
        sizes = np.bincount(code, minlength=3)
        pretrain_index = draw_pretrain(int(sizes[0]), pretrain_size, seed)
        _encode_pass(tmp, groups, names, vocabs, code, sizes, progress)
        shutil.rmtree(tmp / "spill")
        for i, s in enumerate(SPLITS):
            np.save(tmp / f"{s}_y.npy", y[code == i])
        np.save(tmp / "pretrain_index.npy", pretrain_index)
        _write_vocab(tmp / "vocab.parquet", names, vocabs)
        protocol = dict(protocol)
        protocol["pretrain_size"] = int(len(pretrain_index))  # the default resolved: what D_S holds
        protocol["value_types"] = {f.name: f.value_type for f in fields}
        protocol["thresholded"] = {f.name: f.thresholded for f in fields}
        protocol["summary"] = {
            "rows": {s: int(sizes[i]) for i, s in enumerate(SPLITS)},
            "positive_rate": {s: float(y[code == i].mean()) if sizes[i] else None for i, s in enumerate(SPLITS)},
            "missing": missing,
            "pretrain_rows": int(len(pretrain_index)),
        }
        schema = Schema(
            fields=tuple(FieldSpec(f.name, f.kind, len(vocabs[f.name]) + 2) for f in fields),
            label=source.label,
            dataset=source.dataset,
            protocol=protocol,
        )
        schema.save(tmp / "schema.json")
        truth = source.truth()
        if truth is not None:
            (tmp / "truth.json").write_text(json.dumps(truth, indent=1))
        _replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return PreparedData.load(out)


def _count_pass(source: Source, spill: Path, fields, rows: int | None, min_count: int, progress: bool,
                where: object) -> tuple[np.ndarray, dict[str, pa.Array], dict[str, int], list[tuple[int, Path]]]:
    """Labels, vocabularies, missing counts, and the spilled groups (rows, path) in file order.

    Each group's codes go to ``spill/<k>.codes`` (raw int32) and its distinct values to ``spill/<k>.pkl``, so
    the raw input is parsed once. The codes are row-major int32 [n, F] and already offset into the
    concatenation of the fields' lookup tables (``1 + code`` plus, for field j, the sum over the
    fields before j of ``1 + len(values)``; see ``FieldEncoder.table``), so pass 2 encodes a group
    with one gather into C-ordered rows, ready to write.
    """
    names = [f.name for f in fields]
    counters = {n: ValueCounter() for n in names}
    labels: list[np.ndarray] = []
    groups: list[tuple[int, Path]] = []
    first_path = None
    with _bar(progress, "prepare: reading", None) as bar:
        for k, block in enumerate(_prefetch(source.blocks(rows=rows))):
            first_path = first_path or block.path
            if block.labels is None:
                raise InputError(f"expected a label column ({source.label!r}) to prepare training data", block.path)
            labels.append(block.labels)
            parts = [block.fields[n] for n in names]
            for n, fb in zip(names, parts):
                counters[n].add(fb)
            _row_major(parts, block.num_rows).tofile(spill / f"{k}.codes")
            with open(spill / f"{k}.pkl", "wb") as fh:
                pickle.dump([fb.values for fb in parts], fh, protocol=5)
            groups.append((block.num_rows, spill / str(k)))
            bar.update(block.num_rows)
    y = np.concatenate(labels) if labels else np.zeros(0, np.float32)
    if len(y) == 0:
        raise InputError("no data rows (expected at least one row after any header)", where or first_path)
    vocabs = {f.name: build_vocab(counters[f.name].table(), min_count, f.thresholded) for f in fields}
    return y, vocabs, {n: counters[n].missing for n in names}, groups


_CHUNK_ROWS = 8192  # rows per cache-sized tile of the column -> row transpose (1.3 MB for 39 int32 fields)


def _row_major(parts: list[FieldBlock], n: int) -> np.ndarray:
    """int32 [n, F] C-ordered, column j = ``parts[j].codes + 1 + base_j`` (``_count_pass``).

    Filled in tiles of ``_CHUNK_ROWS`` rows: writing whole columns into a row-major matrix strides
    over all of it once per field, several times slower (docs/decisions.md#prepare-writes-codes-in-row-tiles).
    """
    sizes = [1 + len(fb.values) for fb in parts]
    bases = [1 + int(b) for b in np.cumsum([0] + sizes[:-1])]  # Python ints: the add stays int32
    if sum(sizes) >= 2**31:
        raise InputError(f"a group of {n} rows has {sum(sizes)} distinct values; too many for int32 codes")
    out = np.empty((n, len(parts)), dtype=np.int32)
    for s in range(0, n, _CHUNK_ROWS):
        e = min(s + _CHUNK_ROWS, n)
        for j, fb in enumerate(parts):
            np.add(fb.codes[s:e], bases[j], out=out[s:e, j])
    return out


def _prefetch(blocks: Iterator[Block]) -> Iterator[Block]:
    """``blocks``, produced one block ahead by a background thread.

    Parsing (pyarrow's threads) and building a block's field codes (numpy) release the GIL, so the
    next block is read while this one is counted and spilled: on two cores the two overlap instead
    of taking turns. The queue holds one finished block, so memory grows by one group at most.
    An error in the producer (an ``InputError`` naming a line) is re-raised here, in order; when
    the consumer stops early the producer is told to stop and joined.
    """
    q: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for b in blocks:
                while not stop.is_set():
                    try:
                        q.put((b, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put((done, None))
        except BaseException as exc:  # handed to the consumer, raised there
            q.put((done, exc))
        finally:
            close = getattr(blocks, "close", None)
            if close is not None:
                close()

    t = threading.Thread(target=produce, name="lightfmp-prepare-read", daemon=True)
    t.start()
    try:
        while True:
            item, exc = q.get()
            if exc is not None:
                raise exc
            if item is done:
                return
            yield item
    finally:
        stop.set()
        while t.is_alive():  # drain so a producer blocked on put() sees the stop flag
            try:
                q.get(timeout=0.1)
            except queue.Empty:
                pass
        t.join()


def _encode_pass(tmp: Path, groups: list[tuple[int, Path]], names: list[str], vocabs: dict[str, pa.Array],
                 code: np.ndarray, sizes: np.ndarray, progress: bool) -> None:
    """Encode the spilled groups and write each split's rows at their final positions.

    Per group: the fields' lookup tables of its distinct values are concatenated, the spilled rows
    are put in split order (a stable argsort of the split codes, so each split's share is one
    contiguous slice) and encoded with one gather, and each slice is written at its final offset
    with ``os.pwrite``: plain writes keep the output out of this process's resident memory (a
    memmap would count every page). Offsets are known from the split codes before any group is
    encoded, so groups are independent: they run on one thread per core (at most
    ``_ENCODE_THREADS``; numpy and pyarrow release the GIL), at most one group per thread in flight.
    """
    encoders = [FieldEncoder(vocabs[n]) for n in names]
    F = len(names)
    files, heads = [], []
    for i, s in enumerate(SPLITS):
        mm = np.lib.format.open_memmap(tmp / f"{s}_X.npy", mode="w+", dtype=np.int32, shape=(int(sizes[i]), F))
        heads.append(mm.offset)  # header length: data starts here
        del mm
        files.append(os.open(tmp / f"{s}_X.npy", os.O_WRONLY))
    starts = np.cumsum([0] + [n for n, _ in groups])
    # rows of each split before each group: where that group's share of the split goes
    before = np.cumsum([np.zeros(3, np.int64)] + [np.bincount(code[a:b], minlength=3) for a, b in zip(starts, starts[1:])],
                       axis=0)

    slice_rows = min(max((n for n, _ in groups), default=1), _ENCODE_ROWS)

    def encode(k: int) -> int:
        n, stem = groups[k]
        with open(stem.with_suffix(".pkl"), "rb") as fh:
            values = pickle.load(fh)
        table = np.concatenate([e.table(v) for e, v in zip(encoders, values)])
        raw_b, taken_b, xb_b = _thread_buffers(slice_rows, F)
        written = [int(before[k, i]) for i in range(3)]  # rows of each split before this slice
        with open(stem.with_suffix(".codes"), "rb", buffering=0) as fh:
            for a in range(0, n, slice_rows):  # slices in file order keep each split's rows in file order
                m = min(slice_rows, n - a)
                raw, taken, xb = raw_b[:m], taken_b[:m], xb_b[:m]
                _read_exactly(fh, memoryview(raw).cast("B"), stem)
                cb = code[starts[k] + a:starts[k] + a + m]
                # mode="clip": the codes are in range by construction, and numpy buffers `out` under "raise"
                np.take(raw, np.argsort(cb, kind="stable"), axis=0, out=taken, mode="clip")
                np.take(table, taken, out=xb, mode="clip")
                first = 0
                for i, c in enumerate(np.bincount(cb, minlength=3).tolist()):
                    if c:
                        _pwrite_all(files[i], memoryview(xb[first:first + c]).cast("B"),
                                    heads[i] + written[i] * F * 4)
                    written[i] += c
                    first += c
        return n

    workers = min(usable_cores(), _ENCODE_THREADS)
    try:
        with _bar(progress, "prepare: encoding", len(code)) as bar, \
                ThreadPoolExecutor(workers, thread_name_prefix="lightfmp-encode") as pool:
            pending: deque[Future] = deque()
            for k in range(len(groups)):
                pending.append(pool.submit(encode, k))
                if len(pending) >= workers:
                    bar.update(pending.popleft().result())
            while pending:
                bar.update(pending.popleft().result())
    finally:
        for fd in files:
            os.close(fd)


_ENCODE_THREADS = 4
_ENCODE_ROWS = 1 << 16  # rows encoded at a time: 10 MB a work array at 39 fields, whatever the group size
_local = threading.local()


def _thread_buffers(rows: int, F: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """This thread's three int32 [rows, F] work arrays (spilled codes, split-ordered codes, encoded ids).

    Reused for every slice the thread encodes: fresh whole-group arrays are freed into glibc's
    per-thread arenas rather than returned to the system, so peak memory would grow with the number
    of groups. Evidence: docs/decisions.md#per-thread-work-buffers-in-prepare; re-measure: peak memory
    of ``python bench/prepare.py --rows 1000000 --repeat 1`` against ``--rows 4000000``.
    """
    bufs = getattr(_local, "bufs", None)
    if bufs is None or bufs[0].shape != (rows, F):
        bufs = _local.bufs = tuple(np.empty((rows, F), dtype=np.int32) for _ in range(3))
    return bufs


def _read_exactly(fh: BinaryIO, into: memoryview, where: Path) -> None:
    """Fill ``into`` from the file's current position."""
    got = 0
    while got < len(into):
        k = fh.readinto(into[got:])
        if not k:
            raise OSError(f"{where}: expected {len(into)} more bytes, found {got}")
        got += k


def _pwrite_all(fd: int, data: memoryview, offset: int) -> None:
    """``os.pwrite`` until every byte is written (one call may write less, e.g. over 2 GB on Linux)."""
    while len(data):
        k = os.pwrite(fd, data, offset)
        data, offset = data[k:], offset + k


def _write_vocab(path: Path, names: list[str], vocabs: dict[str, pa.Array]) -> None:
    lens = [len(vocabs[n]) for n in names]
    field_idx = masked_array(np.repeat(np.arange(len(names), dtype=np.int32), lens))
    field = pa.DictionaryArray.from_arrays(field_idx, string_array(names)).cast(pa.string())
    value = pa.concat_arrays([vocabs[n].cast(pa.string()) for n in names]) if names else string_array([])
    ids = masked_array(np.concatenate([np.arange(2, k + 2, dtype=np.int32) for k in lens]) if lens
                       else np.zeros(0, np.int32))
    table = pa.table({"field": field, "value": value, "id": ids})
    pq.write_table(table, path)


def _replace(tmp: Path, out: Path) -> None:
    """Move the finished folder into place; an existing prepared folder is replaced."""
    if out.exists():
        old = out.parent / f"{out.name}.old-{os.getpid()}"
        out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(out)
