"""Compressed weights: a state dict whose mostly-zero tensors are stored as their nonzero values plus where
they are, so the file of a model at density d is close to d times the dense file.

Per floating-point tensor, the smallest of three encodings (bytes for n entries, nnz nonzero, 4-byte values):
    dense     the tensor as is                                    4n
    bits      nonzero values + a bit per entry (np.packbits)      4 nnz + n / 8
    index     nonzero values + their int32 flat positions         8 nnz   (below 1/32 density)
so density 0.2 costs 0.2 + 1/32 = 0.23 of the dense bytes. Which entries are stored is read from the weights
(every entry that is not +0.0), not from a mask: the decoded tensors equal the masked dense model's bit for
bit (`SparseTraining` zeroes with ``masked_fill_``, so its inactive weights are +0.0, never -0.0), and so do its
scores; an active weight that happens to be 0 costs nothing. Other tensors (int buffers) stay dense.

The blob is plain tensors, strings, ints and lists, so `torch.load(weights_only=True)` reads it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import Tensor

FORMAT = "lightfmp-sparse-1"


def _encode(t: Tensor) -> dict[str, Any]:
    t = t.detach().cpu().contiguous()
    if not t.is_floating_point() or t.numel() == 0:
        return {"kind": "dense", "data": t}
    flat = t.reshape(-1)
    nz = (flat != 0) | torch.signbit(flat)  # -0.0 is kept as a value, so decoding is bit-exact
    nnz, n, item = int(nz.sum()), flat.numel(), flat.element_size()
    costs = {"dense": n * item, "bits": nnz * item + (n + 7) // 8, "index": nnz * (item + 4)}
    kind = min(costs, key=costs.get)
    if kind == "dense":
        return {"kind": "dense", "data": t}
    entry: dict[str, Any] = {"kind": kind, "shape": list(t.shape), "values": flat[nz].clone()}
    if kind == "bits":
        entry["bits"] = torch.from_numpy(np.packbits(nz.numpy()))
    else:
        entry["index"] = nz.nonzero().squeeze(1).to(torch.int32 if n < 2**31 else torch.int64)
    return entry


def _decode(entry: Mapping[str, Any]) -> Tensor:
    if entry["kind"] == "dense":
        return entry["data"]
    values = entry["values"]
    shape = [int(s) for s in entry["shape"]]
    n = int(np.prod(shape)) if shape else 1
    out = torch.zeros(n, dtype=values.dtype)
    if entry["kind"] == "bits":
        nz = torch.from_numpy(np.unpackbits(entry["bits"].numpy(), count=n).astype(bool))
        out[nz] = values
    else:
        out[entry["index"].long()] = values
    return out.view(shape)


def pack_state(state: Mapping[str, Tensor]) -> dict[str, Any]:
    """A state dict in the compressed form (module doc); `unpack_state` inverts it exactly."""
    return {"format": FORMAT, "tensors": {name: _encode(t) for name, t in state.items()}}


def unpack_state(blob: Mapping[str, Any]) -> dict[str, Tensor]:
    """The dense CPU state dict of a `pack_state` blob."""
    if blob.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} blob (format {blob.get('format')!r})")
    return {name: _decode(entry) for name, entry in blob["tensors"].items()}


def save_sparse(path: str | Path, state: Mapping[str, Tensor], **extra: Any) -> Path:
    """Write ``{**extra, "sparse_state": pack_state(state)}`` with torch.save (``extra``: e.g. the model's
    ``build_args``, as a run folder's model.pt holds them beside ``state_dict``)."""
    path = Path(path)
    torch.save({**extra, "sparse_state": pack_state(state)}, path)
    return path


def load_sparse(path: str | Path) -> dict[str, Any]:
    """The blob `save_sparse` wrote, with ``"state_dict"`` (dense, CPU) in place of ``"sparse_state"``."""
    blob = dict(torch.load(Path(path), map_location="cpu", weights_only=True))
    blob["state_dict"] = unpack_state(blob.pop("sparse_state"))
    return blob


def stored_fraction(state: Mapping[str, Tensor]) -> float:
    """Bytes of the encoded tensors over the dense tensors' bytes (the file adds a few hundred bytes)."""
    dense = sum(t.numel() * t.element_size() for t in state.values())
    packed = 0
    for entry in pack_state(state)["tensors"].values():
        packed += sum(v.numel() * v.element_size() for v in entry.values() if isinstance(v, Tensor))
    return packed / max(dense, 1)
