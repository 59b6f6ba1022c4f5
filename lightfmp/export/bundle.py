"""The serving bundle: the compact model as a graph plus the encoder, so raw rows can be scored
without lightfmp's training code or the training data.

Layout (``lightfmp export --run RUN --to onnx|torch-export --out DIR``):

    bundle.json     manifest: format, model file, input and outputs, the encoder's id rules, the run
                    it came from, the export check, versions
    model.onnx      ONNX (opset from torch.onnx), input ``ids`` int32[batch, F], outputs ``logit`` and
                    ``probability`` float32[batch]; weights over 2 GiB in ``model.onnx.data``
    model.pt2       or the ``torch.export`` program, same input and outputs (``torch.export.load``)
    schema.json     the kept fields in the model's column order, the format and preprocessing rules
    vocab.parquet   (field, value, id): raw value -> id per kept field; 0 = OOV, 1 = missing

The encoder is the run's own schema and vocabulary, read by the same code as ``Run.encode`` (so a
value encodes to the same id whichever way it is scored); a serving system in another language
needs only vocab.parquet and the rules in schema.json's protocol. Only kept fields are in the model,
the schema and the vocabulary: the pruned fields are never read.

At export the graph is run on a batch of real-looking ids and compared with the eager model; the
largest logit difference is in the manifest, and an export that differs by more than 1e-4 is
refused (a graph that does not reproduce the model must not ship). The folder is written atomically,
as a run folder is.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from lightfmp.data.dataset import PreparedData
from lightfmp.data.schema import Schema
from lightfmp.errors import InputError
from lightfmp.export.trace import INPUT, LOGIT, PROBABILITY

MANIFEST, SCHEMA, VOCAB = "bundle.json", "schema.json", "vocab.parquet"
MODEL_FILES = {"onnx": "model.onnx", "torch-export": "model.pt2"}
FORMATS = tuple(MODEL_FILES)
KIND = "lightfmp-export"
CHECK_ROWS, CHECK_TOLERANCE = 512, 1e-4


def is_bundle(path: str | Path) -> bool:
    return (Path(path) / MANIFEST).is_file()


@dataclass
class Bundle:
    """A loaded bundle: ``Bundle.load(dir).predict(rows)`` scores raw rows (a file of the run's
    format, or a table of raw columns) as ``Run.predict`` does."""

    dir: Path
    manifest: dict[str, Any]
    schema: Schema

    @classmethod
    def load(cls, path: str | Path) -> "Bundle":
        from lightfmp.runs.folder import read_json_object

        d = Path(path)
        if not d.is_dir():
            raise InputError("no such export bundle (expected the --out folder of `lightfmp export`)", path=d)
        if not (d / MANIFEST).is_file():
            raise InputError(f"not an export bundle: no {MANIFEST}", path=d)
        manifest = read_json_object(d / MANIFEST)
        fmt = manifest.get("format")
        if manifest.get("kind") != KIND or fmt not in MODEL_FILES:
            raise InputError(f"not a lightfmp export manifest (kind {manifest.get('kind')!r}, format {fmt!r})",
                             path=d / MANIFEST)
        for name in (MODEL_FILES[fmt], SCHEMA, VOCAB):
            if not (d / name).is_file():
                raise InputError(f"incomplete export bundle: missing {name}", path=d)
        return cls(dir=d, manifest=manifest, schema=Schema.load(d / SCHEMA))

    @property
    def format(self) -> str:
        return str(self.manifest["format"])

    @property
    def model_path(self) -> Path:
        return self.dir / MODEL_FILES[self.format]

    def encode(self, rows: Any, id_column: str | None = None) -> tuple[np.ndarray, Any, Any]:
        """(X int32 [N, kept fields], y or None, ids or None), the same ids as ``Run.encode``.

        Built for many small batches: the vocabularies are read once (not per call), and a table is
        narrowed to the columns the kept fields read before it is converted, so the pruned fields'
        columns cost nothing. Evidence: docs/decisions.md#serving-encoder-reads-only-the-kept-fields;
        re-measure: ``python bench/serve.py`` (raw rows in)."""
        return self._data.encode_rows(self._narrow(rows, id_column), fields=self.schema.names, id_column=id_column)

    @cached_property
    def _data(self) -> Any:
        return _CachedVocab(self.dir, self.schema)

    def _narrow(self, rows: Any, id_column: str | None) -> Any:
        if isinstance(rows, (str, Path)):
            return rows
        import pyarrow as pa

        try:
            table = rows if isinstance(rows, pa.Table) else pa.table(rows)
        except (TypeError, ValueError, pa.ArrowInvalid, pa.ArrowTypeError):
            return rows  # the encoder's own error says what was expected
        # Avazu's time fields are derived from its raw 'hour' column.
        wanted = {*self.schema.names, self.schema.label, "hour", "label", "click", id_column}
        return table.select([c for c in table.column_names if c in wanted])

    def engine(self, int8: bool = False, threads: int | None = None):
        """The bundle's own engine: ONNX Runtime for an ONNX bundle, the program for torch-export.
        int8 needs the ONNX bundle (a saved program cannot be requantised here)."""
        from lightfmp.export.engines import OrtEngine, ProgramEngine

        if self.format == "onnx":
            if int8:
                from lightfmp.export.int8 import quantize_onnx

                return OrtEngine(quantize_onnx(self.model_path), threads)
            return OrtEngine(self.model_path, threads)
        if int8:
            raise InputError("--int8 on a torch-export bundle is not supported: export with --to onnx, "
                             "or score the run folder", path=self.dir)
        return ProgramEngine(self.model_path)

    def predict(self, rows: Any, engine: Any = None, batch_size: int = 65536) -> np.ndarray:
        """Click probabilities (float64 [N], input order) of raw rows."""
        from lightfmp.export.engines import score
        from lightfmp.metrics import sigmoid

        X = self.encode(rows)[0]
        logits, _ = score(engine or self.engine(), X, batch_size)
        return sigmoid(logits)


class _CachedVocab(PreparedData):
    """The bundle folder as a prepared data folder (schema.json and vocab.parquet) whose
    vocabularies are read once."""

    def __init__(self, dir: Path, schema: Schema):
        super().__init__(dir, schema)
        self._vocab: dict[str, Any] = {}

    def vocab(self, fields: Any = None) -> dict[str, Any]:
        names = list(fields) if fields is not None else self.schema.names
        missing = [n for n in names if n not in self._vocab]
        if missing:
            self._vocab.update(super().vocab(missing))
        return {n: self._vocab[n] for n in names}


def export_run(run_dir: str | Path, out: str | Path, to: str = "onnx") -> dict[str, Any]:
    """Write the bundle of the run at ``run_dir`` into ``out`` (checked with the 'export' kind first)
    and return its manifest."""
    from lightfmp.runs import load_run
    from lightfmp.runs.outputs import check_out_folder

    if to not in MODEL_FILES:
        raise InputError(f"--to: unknown format {to!r}; choose one of {', '.join(FORMATS)}")
    out_path = check_out_folder(out, "export", protect=(run_dir,))
    run = load_run(run_dir)
    if to == "onnx":
        from lightfmp.export.engines import onnxruntime

        onnxruntime()  # the check needs it: fail before the trace, not after
    return _write(run, out_path, to)


def _write(run: Any, out: Path, to: str) -> dict[str, Any]:
    from lightfmp.export import trace

    program = trace.export_program(run.model)
    from lightfmp.runs.folder import atomic_folder

    with atomic_folder(out) as tmp:
        model_file = tmp / MODEL_FILES[to]
        if to == "onnx":
            trace.save_onnx(program, model_file)
        else:
            trace.save_program(program, model_file)
        shutil.copyfile(run.dir / SCHEMA, tmp / SCHEMA)
        shutil.copyfile(run.vocab_path, tmp / VOCAB)
        manifest = _manifest(run, to, model_file)
        manifest["check"] = _check(run, tmp, manifest)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return manifest


def _manifest(run: Any, to: str, model_file: Path) -> dict[str, Any]:
    import torch

    import lightfmp

    schema: Schema = run.schema
    report = run.report
    versions = {"lightfmp": getattr(lightfmp, "__version__", None), "torch": torch.__version__}
    for mod in ("onnx", "onnxruntime"):
        try:
            versions[mod] = __import__(mod).__version__
        except ModuleNotFoundError:
            pass
    manifest: dict[str, Any] = {
        "kind": KIND,
        "version": 1,
        "format": to,
        "model_file": model_file.name,
        "input": {"name": INPUT, "dtype": "int32", "shape": ["batch", schema.num_fields], "columns": schema.names},
        "outputs": {LOGIT: "float32 [batch]", PROBABILITY: "float32 [batch], sigmoid(logit): the click probability"},
        "encoder": {
            "schema": SCHEMA,
            "vocabulary": VOCAB,
            "ids": schema.protocol.get("ids", "0 = OOV, 1 = missing, 2.. values"),
            "format": schema.protocol.get("format", schema.dataset),
            "numeric_bucketing": schema.protocol.get("numeric_bucketing"),
        },
        "run": {"dir": str(Path(run.dir).resolve()), "method": report.get("method"), "model": report.get("model"),
                "dataset": report.get("dataset"), "prune_ratio": report.get("prune_ratio"),
                "fields_total": report.get("fields_total"), "fields_kept": schema.names, "auc": report.get("auc"),
                "params": report.get("params_after")},
        "versions": versions,
    }
    if to == "onnx":
        from lightfmp.export.trace import onnx_ops

        manifest["onnx_ops"] = sorted(set(onnx_ops(model_file)))
    return manifest


def _check(run: Any, folder: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Score random valid ids with the written graph and the eager model; refuse a mismatch."""
    from lightfmp.export.engines import OrtEngine, ProgramEngine, TorchEngine

    rng = np.random.default_rng(0)
    sizes = np.asarray(run.schema.vocab_sizes)
    X = (rng.random((CHECK_ROWS, len(sizes))) * sizes).astype(np.int32)
    path = folder / manifest["model_file"]
    engine = OrtEngine(path) if manifest["format"] == "onnx" else ProgramEngine(path)
    diff = float(np.max(np.abs(engine.logits(X).astype(np.float64) - TorchEngine(run.model).logits(X))))
    if not diff <= CHECK_TOLERANCE:
        raise RuntimeError(f"the exported graph's logits differ from the model's by {diff:.3g} "
                           f"(> {CHECK_TOLERANCE}); the bundle was not written")
    return {"rows": CHECK_ROWS, "engine": engine.name, "max_abs_logit_difference": diff}
