"""Tracing a compact model into a serving graph: a ``torch.export`` program, and ONNX from it.

Choices, from the export probe (shared docs, next_methods section 6):

* One program, two outputs: ``logit`` float[B] and ``probability`` float[B] (its sigmoid), from
  one input ``ids`` int32[B, F] (the encoder's output as it is: the graph casts to int64 and adds
  the per-field offsets itself).
* The batch dimension is a named ``Dim`` and the example batch has 2 rows: a batch of 1 lets the
  tracer specialise the dimension to the constant 1 (pytorch/pytorch#133653).
* The fused CPU ``Linear + ReLU`` (``lightfmp.nn.layers.linear_relu``) traces in its plain form
  under ``torch.export`` (it checks ``torch.compiler.is_exporting()``), so ONNX sees ``Gemm, Relu``.
* ONNX comes from the same ``ExportedProgram`` (``torch.onnx.export(dynamo=True)``), so both
  formats are one trace. A graph with a ``Loop`` (what EmbeddingBag with offsets becomes) is
  refused: ONNX Runtime runs it far slower than a Gather (docs/decisions.md#no-loop-in-the-onnx-graph).
"""
from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path
from typing import Iterator

import torch
from torch import Tensor, nn

INPUT, LOGIT, PROBABILITY = "ids", "logit", "probability"
EXAMPLE_ROWS = 2


class Serving(nn.Module):
    """The model as served: ids int32[B, F] -> (logit float[B], probability float[B])."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, ids: Tensor) -> tuple[Tensor, Tensor]:
        logit = self.model(ids)
        return logit, torch.sigmoid(logit)


def example_ids(vocab_sizes: list[int], rows: int = EXAMPLE_ROWS) -> Tensor:
    """A valid int32 batch (id i mod vocab size per field): export only needs shapes and dtypes."""
    sizes = torch.tensor(vocab_sizes, dtype=torch.int64)
    return (torch.arange(rows, dtype=torch.int64).unsqueeze(1) % sizes).to(torch.int32)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporters print progress lines and warnings (torchvision absent, deprecations): keep the
    CLI's stderr to our own one-line messages."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._export", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, lv in zip(loggers, levels):
            lg.setLevel(lv)


def export_program(model: nn.Module) -> torch.export.ExportedProgram:
    """The model (eval mode, CPU) as an ``ExportedProgram`` with a dynamic batch dimension."""
    model = model.cpu().eval()
    if getattr(model, "gate", None) is not None:
        raise ValueError("export needs the compact model without a gate: prune the fields first")
    x = example_ids(list(model.vocab_sizes))
    batch = torch.export.Dim("batch", min=1)
    with _quiet(), torch.no_grad():
        return torch.export.export(Serving(model), (x,), dynamic_shapes=({0: batch},), strict=False)


def save_program(program: torch.export.ExportedProgram, path: str | Path) -> Path:
    torch.export.save(program, str(path))
    return Path(path)


def load_program(path: str | Path) -> nn.Module:
    """A saved program as a callable module (ids tensor -> (logit, probability))."""
    with _quiet():
        return torch.export.load(str(path)).module()


def save_onnx(program: torch.export.ExportedProgram, path: str | Path) -> Path:
    """Convert ``program`` to ONNX at ``path``; weights beyond 2 GiB go to ``<path>.data`` beside it
    (protobuf's limit), which the exporter decides by size."""
    with _quiet():
        onnx_program = torch.onnx.export(program, input_names=[INPUT], output_names=[LOGIT, PROBABILITY],
                                         dynamo=True, verbose=False, optimize=True)
    loops = [n.op_type for n in onnx_program.model_proto.graph.node if n.op_type in ("Loop", "Scan")]
    if loops:
        raise ValueError(f"the ONNX graph holds {loops[0]} nodes (an EmbeddingBag with offsets?): "
                         "ONNX Runtime runs them far slower than plain lookups")
    with _quiet():
        onnx_program.save(str(path))
    return Path(path)


def onnx_ops(path: str | Path) -> list[str]:
    """The op types of an ONNX model's graph, in node order (for tests and the bundle manifest)."""
    import onnx

    return [n.op_type for n in onnx.load(str(path), load_external_data=False).graph.node]
