"""Checkpoint files: written atomically, read back safely, refused with one line when they do not fit.

A checkpoint is one ``torch.save`` file holding only tensors and plain Python values (so it loads with
``weights_only=True``: no pickled code runs when a run folder from elsewhere is resumed):
``{"format", "version", "identity", "phase", ...}``. ``identity`` describes the run that wrote it
(method, backbone, data set, fields, seed, hyper-parameters); resuming with a different identity is
refused and the differing keys are named. Writes go to a temporary sibling renamed over the old file,
so a kill at any moment leaves the previous checkpoint or the new one, never a torn file.

`capture_rng` / `restore_rng` carry Python's, NumPy's and torch's global generators, so a resumed run
draws the same random numbers an uninterrupted one would.
"""
from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lightfmp.errors import InputError

FORMAT = "lightfmp-checkpoint"
VERSION = 1
FILENAME = "checkpoint.pt"


class CheckpointError(InputError):
    """A checkpoint that is missing, unreadable, or was written by a different run."""


def capture_rng() -> dict[str, Any]:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    # CUDA generators drive dropout and the gate's noise on a GPU; read only if CUDA is already in use
    # (asking would otherwise initialise it, in CPU runs too).
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else []
    return {"python": random.getstate(), "numpy": [kind, torch.from_numpy(keys.copy()), pos, has_gauss, cached],
            "torch": torch.get_rng_state(), "cuda": cuda}


def restore_rng(state: dict[str, Any]) -> None:
    random.setstate(_tuples(state["python"]))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy(), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


def plain(identity: dict[str, Any]) -> dict[str, Any]:
    """``identity`` as JSON values (tuples become lists), so that saved and live identities compare equal."""
    return json.loads(json.dumps(identity, default=str))


def _tuples(x: Any) -> Any:
    return tuple(_tuples(v) for v in x) if isinstance(x, (list, tuple)) else x


def save_checkpoint(path: str | Path, identity: dict[str, Any], phase: str, **payload: Any) -> Path:
    """Write ``payload`` with its ``identity`` and ``phase`` to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        torch.save({"format": FORMAT, "version": VERSION, "identity": plain(identity), "phase": phase, **payload}, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_checkpoint(path: str | Path, identity: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint at ``path``, or a CheckpointError naming what is wrong with it."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError("no checkpoint to resume from (run without --resume to start afresh)", path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated, not a torch file, or holding objects weights_only refuses
        raise CheckpointError(f"not a readable checkpoint, corrupt or truncated ({type(e).__name__})", path) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError("not a lightfmp checkpoint", path)
    if ckpt.get("version") != VERSION:
        raise CheckpointError(f"checkpoint version {ckpt.get('version')} is not {VERSION}", path)
    identity, theirs = plain(identity), ckpt.get("identity", {})
    mine, saved = _flat(identity), _flat(theirs)
    diff = [k for k in sorted(set(mine) | set(saved)) if mine.get(k) != saved.get(k)]
    if diff:
        shown = "; ".join(f"{k}: {_short(mine.get(k))} now, {_short(saved.get(k))} in the checkpoint" for k in diff[:3])
        raise CheckpointError(f"written by a different run ({shown}); resume with the same options", path)
    return ckpt


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as dotted keys, so a refusal names the one option that differs, not a whole config."""
    if not isinstance(d, dict):
        return {prefix.rstrip("."): d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."
