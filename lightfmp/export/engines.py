"""Scoring engines behind one call: ``engine.logits(X int32 [N, F]) -> float32 [N]``.

* ``TorchEngine``: the eager module (the run's model, or a torch int8 copy), under
  ``torch.inference_mode``.
* ``ProgramEngine``: a saved ``torch.export`` program (a torch-export bundle).
* ``OrtEngine``: an ONNX Runtime session on the CPU provider.

ONNX Runtime session choices: intra-op threads default to torch's thread count, so the engines
compare on equal terms; one inter-op thread (the graph is a chain); spinning off
(``session.intra_op.allow_spinning=0``), since spinning workers steal the cores that the encoder or
another process needs; all graph optimisations on (ORT fuses Gemm+Relu and, for int8, the
quantise+MatMulInteger chain). Evidence: docs/decisions.md#onnx-runtime-session-options; re-measure:
``python bench/serve.py``.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lightfmp.errors import InputError
from lightfmp.export.trace import INPUT, LOGIT

ENGINES = ("torch", "onnxruntime")


class TorchEngine:
    """Eager PyTorch on the CPU."""

    name = "torch"

    def __init__(self, model: nn.Module):
        self.model = model.cpu().eval()

    def logits(self, X: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self.model(torch.from_numpy(np.ascontiguousarray(X))).float().numpy()


class ProgramEngine:
    """A ``torch.export`` program loaded from a bundle (``model.pt2``)."""

    name = "torch-export"

    def __init__(self, path: str | Path):
        from lightfmp.export.trace import load_program

        self.module = load_program(path)

    def logits(self, X: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self.module(torch.from_numpy(np.ascontiguousarray(X, dtype=np.int32)))[0].float().numpy()


def onnxruntime():
    """The onnxruntime module, or a one-line InputError saying which extra installs it."""
    try:
        import onnxruntime as ort
    except ModuleNotFoundError:
        raise InputError("ONNX Runtime is not installed: pip install -e '.[serve]'") from None
    return ort


class OrtEngine:
    """An ONNX Runtime CPU session on a model file or serialized model bytes."""

    name = "onnxruntime"

    def __init__(self, model: str | Path | bytes, threads: int | None = None):
        ort = onnxruntime()
        so = ort.SessionOptions()
        so.intra_op_num_threads = int(threads or torch.get_num_threads())
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.log_severity_level = 3  # errors only: no warnings on stderr
        source = model if isinstance(model, bytes) else str(model)
        self.session = ort.InferenceSession(source, so, providers=["CPUExecutionProvider"])

    def logits(self, X: np.ndarray) -> np.ndarray:
        return self.session.run([LOGIT], {INPUT: np.ascontiguousarray(X, dtype=np.int32)})[0]


def score(engine, X: np.ndarray, batch_size: int = 65536) -> tuple[np.ndarray, float]:
    """Logits float64 [N] of ``X`` in batches, and the seconds the engine spent (as ``predict_logits``)."""
    n = int(X.shape[0])
    out = np.empty(n, dtype=np.float64)
    seconds = 0.0
    for i in range(0, n, batch_size):
        xb = np.ascontiguousarray(X[i:i + batch_size], dtype=np.int32)
        t = time.perf_counter()
        out[i:i + len(xb)] = engine.logits(xb)
        seconds += time.perf_counter() - t
    return out, seconds


def for_run(model: nn.Module, engine: str = "torch", int8: bool = False,
            threads: int | None = None) -> tuple[object, object | None]:
    """(the engine asked for, and when ``int8`` its fp32 twin to measure the change against) for an
    eager model. For ONNX Runtime the model is traced once into a temporary folder (a session reads
    its weights when created, so the folder can go at once)."""
    import tempfile

    if engine not in ENGINES:
        raise InputError(f"--engine: unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if engine == "torch":
        if not int8:
            return TorchEngine(model), None
        from lightfmp.export.int8 import quantize_torch

        return TorchEngine(quantize_torch(model)), TorchEngine(model)
    onnxruntime()
    from lightfmp.export.trace import export_program, save_onnx

    with tempfile.TemporaryDirectory(prefix="lightfmp-onnx-") as tmp:
        path = save_onnx(export_program(model), Path(tmp) / "model.onnx")
        fp32 = OrtEngine(path, threads)
        if not int8:
            return fp32, None
        from lightfmp.export.int8 import quantize_onnx

        return OrtEngine(quantize_onnx(path), threads), fp32
