"""The pipeline takes every task: `experiment.run` on top-K and next-item data trains the task's model, selects
on the task's validation metric, reports the task's test metrics and writes the same kind of run folder."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from lightfmp.experiment import run
from lightfmp.tasks import NEXT_ITEM
from lightfmp.train import TrainConfig


def _tiny_sequences(users: int = 120, items: int = 30, length: int = 8, seed: int = 0):
    """Sequences where item i is followed by i + 1 (a successor task a model learns in one epoch)."""
    from lightfmp.sequential.data import SequenceData, SequenceSplit

    rng = np.random.default_rng(seed)
    start = rng.integers(1, items - length - 2, size=users)
    seqs = start[:, None] + np.arange(length + 2)[None, :]

    def split(upto: int, target: bool) -> SequenceSplit:
        x = torch.from_numpy(seqs[:, :upto]).long()
        t = torch.from_numpy(seqs[:, upto]).long() if target else torch.zeros(users, dtype=torch.long)
        return SequenceSplit(x, torch.full((users,), upto, dtype=torch.long), t)

    return SequenceData("successor", items, length + 2, split(length, False), split(length, True),
                        split(length + 1, True))


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_next_item_run_reports_the_task_metrics(tmp_path: Path) -> None:
    data = _tiny_sequences()
    res = run("none", data, model_name="transformer", train_cfg=TrainConfig(epochs=2, batch_size=32, seed=0),
              out=tmp_path / "run")
    rep = json.loads((tmp_path / "run" / "report.json").read_text())
    assert rep["task"] == "next-item" and set(NEXT_ITEM.metrics) <= set(rep)
    assert rep["select_on"] == NEXT_ITEM.select_on and rep["params_before"] >= 1_000_000
    assert res.metrics["hr@20"] > 20 / data.num_items  # better than chance on the successor task
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["config.json", "model.pt", "report.json"]


def test_prunerec_through_the_pipeline_cuts_over_90_percent() -> None:
    rep = run("prunerec", _tiny_sequences(), model_name="transformer",
              train_cfg=TrainConfig(epochs=2, batch_size=32, seed=0)).report()
    assert [s["stage"] for s in rep["stages"]] == ["width", "mlp", "depth"]
    assert rep["params_after"] < 0.1 * rep["params_before"]
    assert rep["ndcg@10"] > 0.5  # the successor task survives the three stages and their restoration
