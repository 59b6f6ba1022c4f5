"""The run folder: everything needed to report on a run and to `predict` without the training data.

Layout (docs/architecture.md):
    report.json    `make_report` keys (NaN/inf written as null: JSON has no NaN)
    model.pt       {"build_args": model.build_args(), "state_dict": CPU tensors} (a sparse run: "sparse_state",
                   the compressed form of `lightfmp.sparse.pack_state`); rebuilt with
                   `lightfmp.models.from_build_args`, so loading runs no pickled code
                   (torch.load(weights_only=True))
    schema.json    the kept fields only, in the model's column order
    vocab.parquet  the rows of the data folder's vocab.parquet for the kept fields
    config.json    the resolved configuration (model, training, method) that produced the run

Writing is atomic: everything goes to a hidden temporary sibling folder which is renamed into place
only when complete; an existing folder of the same name is replaced only then, so a failure leaves
the old run (or nothing), never a half-written folder that looks complete.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch
from torch import nn

from lightfmp.data.schema import Schema
from lightfmp.errors import InputError

REPORT, MODEL, SCHEMA, VOCAB, CONFIG = "report.json", "model.pt", "schema.json", "vocab.parquet", "config.json"
GATED = "gated_model.pt"
TEST_SCORES = "test_scores.npy"  # the test split's probabilities, row order: paired bootstraps between runs


@dataclass
class Run:
    """A loaded run: the compact model (CPU, eval mode), its schema, report, config and vocabulary path.

    ``Run.load("runs/my_run").predict("new.csv")`` scores raw rows without the training data.
    """

    model: nn.Module
    schema: Schema
    report: dict[str, Any]
    config: dict[str, Any]
    vocab_path: Path
    dir: Path

    @classmethod
    def load(cls, run_dir: str | Path) -> "Run":
        return load_run(run_dir)

    def encode(self, rows: Any, id_column: str | None = None) -> tuple[Any, Any, Any]:
        """(X int32 [N, kept fields], y or None, ids or None) of raw rows: a file of the run's format, or a
        table (pyarrow Table, dict of columns, pandas DataFrame) with the raw columns by name."""
        from lightfmp.data.dataset import PreparedData

        # The run folder holds schema.json and vocab.parquet like a prepared folder, for its kept fields.
        return PreparedData(self.dir, self.schema).encode_rows(rows, fields=self.schema.names, id_column=id_column)

    def predict(self, rows: Any, batch_size: int = 65536, device: str = "cpu") -> Any:
        """Click probabilities (float64 numpy [N], input order) of raw rows (see ``encode``)."""
        from lightfmp.metrics import sigmoid
        from lightfmp.train import predict_logits

        X = self.encode(rows)[0]
        logits, _ = predict_logits(self.model.to(device), X, batch_size=batch_size, device=device)
        return sigmoid(logits)


def json_safe(obj: Any) -> Any:
    """Replace NaN/inf floats by None, recursively, and tuples by lists."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy / torch scalars
        try:
            return json_safe(obj.item())
        except (ValueError, RuntimeError):
            pass
    return obj


def _kept_vocab(source: str | Path | pa.Table, names: list[str]) -> pa.Table:
    if isinstance(source, pa.Table):
        table = source
    else:
        path = Path(source)
        path = path / VOCAB if path.is_dir() else path
        if not path.exists():
            raise InputError(f"expected {VOCAB} (the vocabularies) here", path=path)
        table = pq.read_table(path)
    missing = [c for c in ("field", "value", "id") if c not in table.column_names]
    if missing:
        raise InputError(f"vocabulary table lacks columns {missing}")
    return table.filter(pc.is_in(table["field"], value_set=pa.array(names, type=table.schema.field("field").type)))


def write_run(out_dir: str | Path, report: dict[str, Any], model: nn.Module, schema: Schema,
              data_dir_or_vocab: str | Path | pa.Table, config: dict[str, Any],
              test_scores: np.ndarray | None = None, sparse: bool = False) -> Path:
    """Write a run folder atomically and return its path.

    Args:
        report: from `make_report`.
        model: the compact model; one with a per-sample gate (AdaFS, MvFS: not foldable) is written as
            gated_model.pt without model.pt and vocab.parquet, so `predict` refuses it with one line.
        schema: the schema of the model's input columns (kept fields only).
        data_dir_or_vocab: the prepared data folder, a vocab.parquet path, or a pyarrow table.
        config: the resolved configuration (JSON-serialisable).
        test_scores: the test split's probabilities in its row order (float32), for paired comparisons.
        sparse: store the weights compressed (`lightfmp.sparse.pack_state`: values and positions or bits of the
            nonzero entries), so the file is close to the density times the dense file; loads to the same values.
    """
    gate = getattr(model, "gate", None)
    build_args = model.build_args()
    vocab_sizes = build_args.get("vocab_sizes") if isinstance(build_args, dict) else None
    if vocab_sizes is not None and list(vocab_sizes) != schema.vocab_sizes:
        raise ValueError(f"model vocab sizes {list(vocab_sizes)} do not match the schema's {schema.vocab_sizes}")
    out = Path(out_dir)
    with atomic_folder(out) as tmp:
        (tmp / REPORT).write_text(json.dumps(json_safe(report), indent=1, allow_nan=False))
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        if gate is None and sparse:
            from lightfmp.sparse import pack_state

            torch.save({"build_args": build_args, "sparse_state": pack_state(state)}, tmp / MODEL)
            pq.write_table(_kept_vocab(data_dir_or_vocab, schema.names), tmp / VOCAB)
        elif gate is None:
            torch.save({"build_args": build_args, "state_dict": state}, tmp / MODEL)
            pq.write_table(_kept_vocab(data_dir_or_vocab, schema.names), tmp / VOCAB)
        else:
            torch.save({"build_args": build_args, "gate": type(gate).__name__, "state_dict": state}, tmp / GATED)
        schema.save(tmp / SCHEMA)
        (tmp / CONFIG).write_text(json.dumps(json_safe(config), indent=1, allow_nan=False))
        if test_scores is not None:
            np.save(tmp / TEST_SCORES, np.asarray(test_scores, dtype=np.float32))
    return out


def write_task_run(out_dir: str | Path, report: dict[str, Any], model: nn.Module, config: dict[str, Any],
                   sparse: bool = False) -> Path:
    """A top-K or next-item run folder: report.json, config.json and model.pt (the state dict, compressed
    for a sparse run); the model is rebuilt from config.json's model and data by `lightfmp.experiment`."""
    out = Path(out_dir)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    with atomic_folder(out) as tmp:
        (tmp / REPORT).write_text(json.dumps(json_safe(report), indent=1, allow_nan=False))
        if sparse:
            from lightfmp.sparse import pack_state

            torch.save({"sparse_state": pack_state(state)}, tmp / MODEL)
        else:
            torch.save({"state_dict": state}, tmp / MODEL)
        (tmp / CONFIG).write_text(json.dumps(json_safe(config), indent=1, allow_nan=False))
    return out


@contextmanager
def atomic_folder(out: Path) -> Iterator[Path]:
    """A hidden sibling folder to fill; renamed to ``out`` (replacing it) only when the block succeeds,
    removed when it fails, so ``out`` is never half-written. Run folders and export bundles use it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
        old = None
        if out.exists():
            old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(out, old)
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def load_run(run_dir: str | Path) -> Run:
    """Read a run folder written by `write_run`; the model is on CPU in eval mode."""
    from lightfmp.models import from_build_args

    d = Path(run_dir)
    if not d.is_dir():
        raise InputError("no such run folder (expected the --out folder of train, prune or select)", path=d)
    for name in (REPORT, MODEL, SCHEMA, VOCAB, CONFIG):
        if not (d / name).is_file():
            raise InputError(f"expected a run folder with {name} (written by train/prune/select)", path=d)
    try:
        blob = torch.load(d / MODEL, map_location="cpu", weights_only=True)
    except Exception as exc:  # empty (EOFError), truncated, not a torch file, or unpickling refused
        raise InputError(f"not a readable model file, corrupt or truncated ({type(exc).__name__})",
                         path=d / MODEL) from None
    try:
        model = from_build_args(blob["build_args"])
        if "sparse_state" in blob:  # a sparse run's compressed weights (`write_run(sparse=True)`)
            from lightfmp.sparse import unpack_state

            model.load_state_dict(unpack_state(blob["sparse_state"]))
        else:
            model.load_state_dict(blob["state_dict"])
    except Exception as exc:  # a readable file that does not hold our model
        first = (str(exc).splitlines() or [""])[0][:120]
        raise InputError(f"cannot load the model weights ({type(exc).__name__}: {first})", path=d / MODEL) from None
    model.eval()
    return Run(model=model, schema=Schema.load(d / SCHEMA), report=read_json_object(d / REPORT),
               config=read_json_object(d / CONFIG), vocab_path=d / VOCAB, dir=d)


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; an empty, corrupt or non-object file is one InputError naming it."""
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise InputError("not a JSON text file (binary content)", path=path) from None
    except json.JSONDecodeError as exc:
        what = "empty" if exc.doc.strip() == "" else f"corrupt JSON at line {exc.lineno}, column {exc.colno}"
        raise InputError(f"{what} (expected the JSON object lightfmp wrote)", path=path) from None
    if not isinstance(obj, dict):
        raise InputError(f"expected a JSON object, found {type(obj).__name__}", path=path)
    return obj
