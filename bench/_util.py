"""Shared helpers for the benchmarks: synthetic Criteo-shaped ids, timers, the DeepCTR-Torch peer, tables.

The peer is DeepCTR-Torch 0.3.0, installed only for benchmarks
(`pip install --no-deps deepctr-torch==0.3.0`, keeping torch 2.13.0). It is given exactly our
encoded ids as one SparseFeat per field, the same embedding dimension, MLP sizes, L2 weights
(1e-5 on embeddings and linear terms) and Adam learning rate.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / ".." / "shared"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# 13 bucketised numeric fields and 26 categorical fields; sizes spread geometrically like Criteo's
# (tens of values up to hundreds of thousands), scaled to 1.29M table rows in total.
CRITEO_FIELDS = 39
CRITEO_ROWS_TOTAL = 1_290_000


def criteo_vocab_sizes(total: int = CRITEO_ROWS_TOTAL) -> list[int]:
    numeric = [int(v) for v in np.linspace(40, 120, 13)]
    cat = np.geomspace(5, 400_000, 26)
    cat = cat * (total - sum(numeric)) / cat.sum()
    sizes = numeric + [max(3, int(v)) for v in cat]
    sizes[-1] += total - sum(sizes)
    return sizes


def zipf_ids(n: int, vocab_sizes: Sequence[int], seed: int = 0, s: float = 1.1) -> np.ndarray:
    """int32 [n, F]: per field, ids 0..V-1 with P(rank k) proportional to 1/(k+1)^s (inverse-CDF draws)."""
    r = np.random.default_rng(seed)
    X = np.empty((n, len(vocab_sizes)), dtype=np.int32)
    for j, v in enumerate(vocab_sizes):  # one vectorised draw per field
        w = 1.0 / np.arange(1, v + 1, dtype=np.float64) ** s
        cdf = np.cumsum(w)
        cdf /= cdf[-1]
        ranks = np.searchsorted(cdf, r.random(n))
        X[:, j] = r.permutation(v)[np.minimum(ranks, v - 1)]  # popular ids spread over the table
    return X


def planted_labels(X: np.ndarray, seed: int = 0, fields: int = 6) -> np.ndarray:
    """float32 labels from a logistic model on random per-value weights of a few fields (~25% positive)."""
    r = np.random.default_rng(seed + 1)
    logit = np.full(X.shape[0], -1.3)
    for j in range(min(fields, X.shape[1])):
        w = r.normal(0, 0.8, int(X[:, j].max()) + 1)
        logit += w[X[:, j]]
    return (r.random(X.shape[0]) < 1 / (1 + np.exp(-logit))).astype(np.float32)


def median_time(fn: Callable[[], Any], repeats: int = 3, device: str = "cpu") -> float:
    times = []
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def matmul_gflops(n: int = 4096, device: str = "cpu", repeats: int = 3) -> float:
    """fp32 GFLOP/s of one n x n x n matmul (median of `repeats`)."""
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    a @ b
    return 2 * n ** 3 / median_time(lambda: a @ b, repeats, device) / 1e9


def mlp_flops_per_sample(widths: Sequence[int]) -> float:
    """Forward + backward FLOPs per sample of a plain MLP: 3 matmuls x 2 FLOPs per multiply-add."""
    macs = sum(a * b for a, b in zip(widths[:-1], widths[1:]))
    return 6.0 * macs


def embed_init_arg(text: str) -> float | None:
    """argparse type for --embed-init: a std, or 'xavier' (None), as `lightfmp train --embed-init`."""
    from lightfmp.models.config import parse_embed_init
    from lightfmp.errors import InputError

    try:
        return parse_embed_init(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[1]) from None


def have_peer() -> bool:
    try:
        import importlib.util

        return importlib.util.find_spec("deepctr_torch") is not None
    except Exception:
        return False


def build_peer(name: str, vocab_sizes: Sequence[int], embed_dim: int, hidden: Sequence[int],
               cin_layers: Sequence[int] = (100, 100, 100), seed: int = 0, device: str = "cpu",
               lr: float = 1e-3) -> tuple[Any, list[str]]:
    """The DeepCTR-Torch 0.3.0 model for one of our backbone names, compiled with Adam and BCE."""
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    import deepctr_torch.models as dm
    from deepctr_torch.inputs import SparseFeat

    feats = [SparseFeat(f"f{j}", vocabulary_size=int(v), embedding_dim=embed_dim) for j, v in enumerate(vocab_sizes)]
    common = dict(dnn_hidden_units=tuple(hidden), seed=seed, device=device, l2_reg_embedding=1e-5)
    if name == "dnn":  # no plain DNN in 0.3.0: DeepFM without FM and without linear features is one
        model = dm.DeepFM([], feats, use_fm=False, **common)
    elif name == "widedeep":
        model = dm.WDL(feats, feats, l2_reg_linear=1e-5, **common)
    elif name == "deepfm":
        model = dm.DeepFM(feats, feats, l2_reg_linear=1e-5, **common)
    elif name == "xdeepfm":
        model = dm.xDeepFM(feats, feats, cin_layer_size=tuple(cin_layers), cin_split_half=False,
                           l2_reg_linear=1e-5, **common)
    elif name == "pnn":
        model = dm.PNN(feats, use_inner=True, use_outter=False, **common)
    else:
        raise ValueError(f"no peer for {name!r}")
    model.compile(torch.optim.Adam(model.parameters(), lr=lr), "binary_crossentropy")
    return model, [f.name for f in feats]


def peer_inputs(X: np.ndarray, names: Sequence[str]) -> dict[str, np.ndarray]:
    return {n: np.asarray(X[:, j]) for j, n in enumerate(names)}


def fmt_row(cells: Sequence[Any], widths: Sequence[int]) -> str:
    out = []
    for c, w in zip(cells, widths):
        if isinstance(c, float):
            c = f"{c:,.0f}" if abs(c) >= 100 else f"{c:.3f}"
        out.append(str(c).rjust(w))
    return "  ".join(out)


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[str(h) for h in header]] + [[fmt_row([c], [0]).strip() for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n{title}")
    print(fmt_row(cells[0], widths))
    print("  ".join("-" * w for w in widths))
    for r in cells[1:]:
        print(fmt_row(r, widths))
    sys.stdout.flush()


def mean_std(xs: Sequence[float]) -> str:
    xs = [x for x in xs if x is not None and np.isfinite(x)]
    if not xs:
        return "-"
    if len(xs) == 1:
        return f"{xs[0]:.4f}"
    return f"{np.mean(xs):.4f} +- {np.std(xs, ddof=1):.4f}"
