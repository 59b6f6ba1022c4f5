"""`open_topk`: a top-K data set in the protocol its model is evaluated under (DSL's per-model protocols)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from lightfmp.errors import InputError
from lightfmp.topk.data import all_interactions, load_gowalla, load_movielens_100k, read_movielens_100k
from lightfmp.topk.protocols import leave_one_out, strong_generalisation

DATASETS = ("gowalla", "movielens_100k")
# the protocol each model is evaluated under in DSL's code: LightGCN/BPR-MF on the data's own split, MultVAE's
# strong generalisation (held-out users, fold-in 80/20), NeuMF's leave-one-out with 100 fixed negatives
PROTOCOL = {"lightgcn": "split", "bpr-mf": "split", "multvae": "strong", "neumf": "leave-one-out"}


def open_topk(dataset: str, folder: str | Path, model_name: str) -> Any:
    """``dataset`` (gowalla or movielens_100k) read from ``folder``, split by ``model_name``'s protocol."""
    if dataset not in DATASETS:
        raise InputError(f"unknown top-K data set {dataset!r}; expected one of {', '.join(DATASETS)}")
    if model_name not in PROTOCOL:
        raise InputError(f"unknown top-K model {model_name!r}; expected one of {', '.join(PROTOCOL)}")
    if not Path(folder).is_dir():
        raise InputError(f"no such folder (expected the {dataset} folder)", path=folder)
    protocol = PROTOCOL[model_name]
    if dataset == "movielens_100k":
        if protocol == "split":
            return load_movielens_100k(folder)
        log = read_movielens_100k(folder)  # with timestamps: leave-one-out takes the latest items
    else:
        data = load_gowalla(folder)
        if protocol == "split":
            return data
        log = all_interactions(data)
    return strong_generalisation(log) if protocol == "strong" else leave_one_out(log)
