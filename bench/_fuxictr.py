"""The second peer, FuxiCTR 2.3.10 (the library behind the BARS benchmark), run in its own environment.

Why a separate environment: FuxiCTR imports ray (`ray[data]>=2.52`) and polars from its layers package
(`fuxictr.pytorch.layers` -> `fuxictr.preprocess` -> ray), which the project does not carry. So it lives
in a virtual environment that sees the project's site-packages (the same torch 2.13, numpy, pyarrow):

    python bench/_fuxictr.py setup        # out/peers/fuxictr: pip install fuxictr==2.3.10 pandas==3.1.1 polars==2.1.0
                                          # (ray 2.60.0, h5py 3.16.0 and the rest come as its dependencies)

and the benchmarks call this file with that environment's python, one run per process (`run_peer`),
JSON on the last line of stdout. `FUXICTR_PYTHON` names another interpreter.

The models: FuxiCTR 2.3.10's wheel ships its layers and BaseModel but not the model zoo, so each backbone
is assembled here from the library's own blocks as its zoo assembles it (DNN: embeddings -> MLP; Wide&Deep:
LogisticRegression + MLP; DeepFM: FactorizationMachine (with its LR term) + MLP; xDeepFM: LR + CIN + MLP;
PNN: inner products beside the embeddings -> MLP with the sigmoid inside). Training is the library's:
`BaseModel.fit` over its `NpzDataLoader` (its default of one loader worker), Adam, embedding L2
regularizer 1e-5 (our `embed_l2`), early stopping on validation AUC with `--patience`, the best epoch's
weights restored, its default learning-rate decay on a plateau (x0.1) and gradient clipping at norm 10.
Embeddings start N(0, 1e-4), its default and ours. The rows are ours: every split of the prepared data
folder, the same encoded ids, one categorical feature per field.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / "out" / "peers" / "fuxictr"
PINS = ("fuxictr==2.3.10", "pandas==3.1.1", "polars==2.1.0")
NAME = "FuxiCTR 2.3.10"


# ---- the caller's side (the project's environment; imports nothing of FuxiCTR) ----

def peer_python() -> Path | None:
    """The interpreter with FuxiCTR installed, or None."""
    p = Path(os.environ.get("FUXICTR_PYTHON", VENV / "bin" / "python"))
    return p if p.exists() else None


def have_fuxictr() -> bool:
    return peer_python() is not None


def run_peer(mode: str, args: Sequence[str], threads: int | None = None, timeout: float = 7200) -> dict[str, Any]:
    """Run ``mode`` ('accuracy' or 'throughput') in the FuxiCTR environment; its JSON result."""
    py = peer_python()
    if py is None:
        raise RuntimeError(f"{NAME} is not installed: python bench/_fuxictr.py setup")
    env = dict(os.environ, PYTHONWARNINGS="ignore", RAY_USAGE_STATS_ENABLED="0")
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    res = subprocess.run([str(py), str(Path(__file__).resolve()), mode, *map(str, args)], capture_output=True,
                         text=True, env=env, timeout=timeout)
    if res.returncode != 0:
        raise RuntimeError(f"{NAME} {mode} failed (rc {res.returncode}): {res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def setup() -> int:
    if not VENV.exists():
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(VENV)], check=True)
    subprocess.run([str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", *PINS], check=True)
    print(f"{NAME} installed in {VENV}")
    return 0


# ---- the peer's side (runs in the FuxiCTR environment) ----

def _feature_map(folder: Path, vocab_sizes: Sequence[int]) -> Any:
    from fuxictr.features import FeatureMap

    spec = {"dataset_id": "lightfmp", "labels": ["label"],
            "features": [{f"f{j}": {"type": "categorical", "source": "", "vocab_size": int(v)}}
                         for j, v in enumerate(vocab_sizes)]}
    (folder / "feature_map.json").write_text(json.dumps(spec))
    fmap = FeatureMap("lightfmp", str(folder))
    fmap.load(str(folder / "feature_map.json"), {})
    return fmap


def _model(name: str, fmap: Any, embed_dim: int, hidden: Sequence[int], cin: Sequence[int], lr: float,
           l2: float, patience: int, model_root: str) -> Any:
    import torch
    from fuxictr.pytorch.layers import (CompressedInteractionNet, FactorizationMachine, FeatureEmbedding,
                                        InnerProductInteraction, LogisticRegression, MLP_Block)
    from fuxictr.pytorch.models import BaseModel

    class Peer(BaseModel):
        def __init__(self) -> None:
            super().__init__(fmap, model_id=name, gpu=-1, embedding_regularizer=l2, net_regularizer=0,
                             early_stop_patience=patience, verbose=0, model_root=model_root, metrics=["AUC", "logloss"])
            self.embedding_layer = FeatureEmbedding(fmap, embed_dim)
            nf = fmap.num_fields
            mlp_in = nf * embed_dim + (nf * (nf - 1) // 2 if name == "pnn" else 0)
            self.mlp = MLP_Block(input_dim=mlp_in, output_dim=1, hidden_units=list(hidden), hidden_activations="ReLU",
                                 output_activation=self.output_activation if name == "pnn" else None,
                                 dropout_rates=0, batch_norm=False)
            self.lr_layer = LogisticRegression(fmap, use_bias=False) if name in ("widedeep", "xdeepfm") else None
            self.fm = FactorizationMachine(fmap) if name == "deepfm" else None
            self.cin = CompressedInteractionNet(nf, list(cin), output_dim=1) if name == "xdeepfm" else None
            self.inner = InnerProductInteraction(nf, output="inner_product") if name == "pnn" else None
            self.compile("Adam", "binary_crossentropy", lr)
            self.reset_parameters()
            self.model_to_device()

        def forward(self, inputs: dict[str, Any]) -> dict[str, Any]:
            X = self.get_inputs(inputs)
            emb = self.embedding_layer(X)
            if self.inner is not None:  # PNN: sigmoid inside its MLP
                return {"y_pred": self.mlp(torch.cat([emb.flatten(start_dim=1), self.inner(emb)], dim=1))}
            y = self.mlp(emb.flatten(start_dim=1))
            if self.lr_layer is not None:
                y = y + self.lr_layer(X)
            if self.fm is not None:
                y = y + self.fm(X, emb)
            if self.cin is not None:
                y = y + self.cin(emb)
            return {"y_pred": self.output_activation(y)}

    if name not in ("dnn", "widedeep", "deepfm", "xdeepfm", "pnn"):
        raise ValueError(f"no {NAME} model for {name!r}")
    return Peer()


def _npz(folder: Path, name: str, X: Any, y: Any) -> str:
    import numpy as np

    cols = {f"f{j}": np.asarray(X[:, j], dtype=np.int64) for j in range(X.shape[1])}
    np.savez(folder / f"{name}.npz", label=np.asarray(y, dtype=np.float32), **cols)
    return str(folder / f"{name}.npz")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True)
    p.add_argument("--embed-dim", type=int, default=10)
    p.add_argument("--hidden", default="400,400,200")
    p.add_argument("--cin", default="100,100,100")
    p.add_argument("--batch-size", type=int, default=4096)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--l2", type=float, default=1e-5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--patience", type=int, default=2)


def accuracy(a: argparse.Namespace) -> dict[str, Any]:
    """Train on the prepared data folder's train split with validation early stopping; test metrics."""
    import numpy as np
    from fuxictr.pytorch.dataloaders.npz_dataloader import NpzDataLoader
    from fuxictr.pytorch.torch_utils import seed_everything
    from sklearn.metrics import log_loss, roc_auc_score

    seed_everything(a.seed)
    data = Path(a.data)
    vocab = [f["vocab_size"] for f in json.loads((data / "schema.json").read_text())["fields"]]
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        fmap = _feature_map(t, vocab)
        paths = {s: _npz(t, s, np.load(data / f"{s}_X.npy"), np.load(data / f"{s}_y.npy"))
                 for s in ("train", "valid", "test")}
        load = {s: NpzDataLoader(fmap, paths[s], batch_size=a.batch_size, shuffle=(s == "train")) for s in paths}
        model = _model(a.model, fmap, a.embed_dim, [int(x) for x in a.hidden.split(",")],
                       [int(x) for x in a.cin.split(",")], a.lr, a.l2, a.patience, str(t / "ckpt"))
        os.makedirs(os.path.dirname(model.checkpoint), exist_ok=True)
        best = {"epoch": 0, "auc": -1.0}
        keep = model.checkpoint_and_earlystop

        def tracked(logs: dict[str, float], min_delta: float = 1e-6) -> None:  # which epoch was best
            if logs["AUC"] > best["auc"] + min_delta:
                best.update(epoch=model._epoch_index + 1, auc=logs["AUC"])
            keep(logs, min_delta)

        model.checkpoint_and_earlystop = tracked
        t0 = time.perf_counter()
        model.fit(load["train"], epochs=a.epochs, validation_data=load["valid"])
        secs = time.perf_counter() - t0
        p = model.predict(load["test"])
        y = np.load(data / "test_y.npy")
    return {"auc": float(roc_auc_score(y, p)), "logloss": float(log_loss(y, np.clip(p, 1e-7, 1 - 1e-7))),
            "val_auc": best["auc"], "epochs": best["epoch"], "train_seconds": secs}


def throughput(a: argparse.Namespace) -> dict[str, Any]:
    """Samples/s of one training epoch (its train_epoch over its NpzDataLoader, no validation) and of
    `predict`, on the rows of ``--npz`` (X, y), after a 2-batch warm-up; the best of ``--repeat``."""
    import numpy as np
    import torch
    from fuxictr.pytorch.dataloaders.npz_dataloader import NpzDataLoader
    from fuxictr.pytorch.torch_utils import seed_everything

    seed_everything(a.seed)
    if a.threads:
        torch.set_num_threads(a.threads)
    arr = np.load(a.npz)
    X, y = arr["X"], arr["y"]
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        fmap = _feature_map(t, [int(v) for v in a.vocab.split(",")])
        warm = NpzDataLoader(fmap, _npz(t, "warm", X[:2 * a.batch_size], y[:2 * a.batch_size]),
                             batch_size=a.batch_size, shuffle=True)
        full = NpzDataLoader(fmap, _npz(t, "train", X, y), batch_size=a.batch_size, shuffle=True)
        model = _model(a.model, fmap, a.embed_dim, [int(x) for x in a.hidden.split(",")],
                       [int(x) for x in a.cin.split(",")], a.lr, a.l2, a.patience, str(t / "ckpt"))
        # the state `fit` sets up before its epochs; evaluation never due (no validation in a timing)
        model._max_gradient_norm, model._total_steps, model._stop_training = 10.0, 0, False
        model._eval_steps, model._epoch_index = 1 << 62, 0
        model.train_epoch(warm)
        train_s, infer_s = [], []
        for _ in range(a.repeat):
            t0 = time.perf_counter()
            model.train_epoch(full)
            train_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            model.predict(full)
            infer_s.append(time.perf_counter() - t0)
    return {"train": len(y) / min(train_s), "infer": len(y) / min(infer_s), "threads": torch.get_num_threads()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    sub.add_parser("setup", help=f"create {VENV.relative_to(ROOT)} with {NAME}")
    acc = sub.add_parser("accuracy")
    _common(acc)
    acc.add_argument("--data", required=True, help="a prepared data folder (lightfmp prepare)")
    acc.add_argument("--epochs", type=int, default=30)
    thr = sub.add_parser("throughput")
    _common(thr)
    thr.add_argument("--npz", required=True, help="X (int ids) and y")
    thr.add_argument("--vocab", required=True, help="comma-separated table sizes per field")
    thr.add_argument("--repeat", type=int, default=1)
    thr.add_argument("--threads", type=int, default=None)
    a = ap.parse_args(argv)
    if a.mode == "setup":
        return setup()
    import logging

    logging.disable(logging.CRITICAL)  # its fit logs every evaluation at INFO
    out = accuracy(a) if a.mode == "accuracy" else throughput(a)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
