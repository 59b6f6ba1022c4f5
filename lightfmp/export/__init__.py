"""Shipping a compact model: serving bundles (ONNX or torch.export, with the encoder), scoring engines
(eager PyTorch, ONNX Runtime) and dynamic int8 quantisation.

``lightfmp export`` writes a bundle (``bundle.export_run``); ``Bundle.load(dir).predict(rows)``
scores raw rows with it; ``lightfmp predict --engine onnxruntime --int8`` scores a run or a bundle.
onnx, onnxruntime and onnxscript are the ``serve`` extra: nothing here imports them until used.
"""
from lightfmp.export.bundle import FORMATS, Bundle, export_run, is_bundle

__all__ = ["FORMATS", "Bundle", "export_run", "is_bundle"]
