"""Dynamic int8 quantisation of the Linear layers, for eager PyTorch and for ONNX Runtime.

Dynamic: weights are stored int8, each batch's activations are quantised to uint8 on the fly from
their own min/max, the product is accumulated in int32 and rescaled to float. No calibration data is
needed, which suits a CLI flag. What is quantised, in both engines alike:

* the hidden Linear layers of the MLP (where a DNN or DeepFM spends its multiply-adds);
* not the embedding tables (a lookup has no arithmetic to save, and ids index rows exactly),
* not the heads with one output (a dot product per sample: nothing to gain, and the logit would
  carry the largest relative error), and not CIN's weights (they are not Linear layers).

Weights are quantised per output channel (one scale per row): a hidden unit with small weights keeps
its resolution beside one with large weights. One operand gets 7 bits instead of 8, as both runtimes
advise for AVX2 CPUs without VNNI, whose u8 x s8 kernels (``vpmaddubsw``) add two products into int16
and can saturate: ONNX Runtime's weights (``reduce_range``), torch fbgemm's activations (its dynamic
Linear always does so).
"""
from __future__ import annotations

import contextlib
import copy
import logging
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np
from torch import nn


def quantize_torch(model: nn.Module) -> nn.Module:
    """An eager int8 copy of ``model``: its MLP's Linear layers as ``torch.ao`` dynamic quantised Linear
    (fbgemm kernels); the original is untouched."""
    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    from lightfmp.nn.layers import MLP

    q = copy.deepcopy(model).cpu().eval()
    targets = {}
    for name, m in q.named_modules():
        if isinstance(m, MLP):
            # The fused Linear+ReLU reads ``.weight`` as a float tensor: a quantised Linear has none,
            # so the copy runs its layers one module at a time.
            m._fused = tuple(False for _ in m._fused)
            for sub, lin in m.named_modules():
                if isinstance(lin, nn.Linear) and lin.out_features > 1:
                    targets[f"{name}.{sub}" if name else sub] = per_channel_dynamic_qconfig
    if not targets:
        return q
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization's deprecation notice
        torch.backends.quantized.engine = "fbgemm" if "fbgemm" in torch.backends.quantized.supported_engines \
            else torch.backends.quantized.engine
        return quantize_dynamic(q, targets, inplace=True)


def quantize_onnx(model_path: str | Path) -> bytes:
    """The serialized int8 ONNX model of an fp32 one from ``trace.save_onnx``.

    ORT's dynamic quantiser handles ``MatMul`` but not ``Gemm`` (what a Linear exports as), so each
    Gemm with constant weights is first rewritten as ``MatMul`` (weights transposed to [in, out])
    plus ``Add`` of the bias; only those MatMuls with more than one output column are quantised.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    m = onnx.load(str(model_path))
    names = _gemm_to_matmul(m)
    with tempfile.TemporaryDirectory(prefix="lightfmp-int8-") as tmp, _root_logger_quiet():
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        onnx.save(m, str(src))
        if names:
            quantize_dynamic(src, dst, op_types_to_quantize=["MatMul"], nodes_to_quantize=names,
                             per_channel=True, reduce_range=True, weight_type=QuantType.QInt8)
        else:
            dst = src
        return dst.read_bytes()


@contextlib.contextmanager
def _root_logger_quiet() -> Iterator[None]:
    """ORT's quantiser warns through the root logger (``logging.warning``), which would also install a
    stderr handler on the root logger for good (``basicConfig``); a NullHandler for the duration
    keeps both away from the CLI's one-line output."""
    root = logging.getLogger()
    handler, level = logging.NullHandler(), root.level
    root.addHandler(handler)
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _gemm_to_matmul(model) -> list[str]:
    """Rewrite constant-weight Gemms (alpha = beta = 1, no transA) in place; the new MatMuls' names
    that are worth quantising (more than one output column)."""
    import onnx
    from onnx import helper, numpy_helper

    g = model.graph
    inits = {t.name: t for t in g.initializer}
    nodes, quantize = [], []
    for n in g.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        if n.op_type != "Gemm" or n.input[1] not in inits or attrs.get("transA", 0) \
                or attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0:
            nodes.append(n)
            continue
        w = numpy_helper.to_array(inits[n.input[1]])
        if attrs.get("transB", 0):
            w = np.ascontiguousarray(w.T)
        wname = f"{n.input[1]}__in_out"
        g.initializer.append(numpy_helper.from_array(w, wname))
        base = n.name or f"gemm_{len(nodes)}"
        has_bias = len(n.input) > 2 and n.input[2] != ""
        mm_out = f"{n.output[0]}__matmul" if has_bias else n.output[0]
        mm = helper.make_node("MatMul", [n.input[0], wname], [mm_out], name=f"{base}__matmul")
        nodes.append(mm)
        if has_bias:
            nodes.append(helper.make_node("Add", [mm_out, n.input[2]], [n.output[0]], name=f"{base}__bias"))
        if w.shape[1] > 1:
            quantize.append(mm.name)
    del g.node[:]
    g.node.extend(nodes)
    # Drop the transposed-away originals that nothing reads any more.
    used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
    keep = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(keep)
    onnx.checker.check_model(model)
    return quantize
