"""Streamed batches over memory-mapped views, and resuming `fit` from an epoch's saved state."""
import numpy as np
import pytest
import torch

from lightfmp.train import TrainConfig, fit
from lightfmp.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from lightfmp.train.distributed import DistInfo
from lightfmp.train.rows import Rows
from lightfmp.train.streaming import StreamBatches
from lightfmp.train.trainer import make_batches

from tests.train.conftest import TinyCTR


def _rows(n=1000, f=4, exclude=None, columns=None):
    X = np.arange(n * f, dtype=np.int32).reshape(n, f)
    return Rows(X, np.arange(n, dtype=np.float32), columns=columns, exclude=exclude)


def test_rows_take_drops_excluded_rows_and_reads_columns_in_order():
    rows = _rows(exclude=np.array([5, 3, 900]), columns=(2, 0))
    assert len(rows) == 997 and rows.count(0, 10) == 8 and rows.nbytes == 997 * 2 * 4
    X, y = rows.take(0, 10)
    assert y.tolist() == [0, 1, 2, 4, 6, 7, 8, 9]
    np.testing.assert_array_equal(X[:, 0], y.astype(np.int32) * 4 + 2)
    np.testing.assert_array_equal(X[:, 1], y.astype(np.int32) * 4)


@pytest.mark.parametrize("chunk", [64, 1000])
def test_stream_batches_visit_every_row_once_per_epoch(chunk):
    rows = _rows(exclude=np.arange(0, 1000, 7))
    batches = StreamBatches(rows, batch_size=100, seed=1, chunk_rows=chunk)
    seen = [torch.cat([y for _, y in batches]).long().tolist() for _ in range(2)]
    expected = sorted(set(range(1000)) - set(range(0, 1000, 7)))
    assert sorted(seen[0]) == expected and sorted(seen[1]) == expected
    assert seen[0] != seen[1]  # reshuffled each epoch
    assert len(batches) == -(-len(expected) // 100)


def test_stream_shards_are_disjoint_with_equal_step_counts():
    rows = _rows(n=1001, exclude=np.arange(0, 400, 3))  # rank 0's shard loses more rows
    shards = [StreamBatches(rows, batch_size=64, rank=r, world=2, seed=r, chunk_rows=128) for r in range(2)]
    assert len(shards[0]) == len(shards[1])
    ids = [set(torch.cat([y for _, y in s]).long().tolist()) for s in shards]
    assert not ids[0] & ids[1]
    assert all(len(list(iter(s))) == len(s) for s in shards)


def test_make_batches_streams_above_the_memory_budget(tiny, splits):
    train = Rows.of(splits[0])
    small = TrainConfig(in_memory_max_bytes=train.nbytes)
    assert type(make_batches(train, small, DistInfo())).__name__ == "DeviceBatches"
    big = TrainConfig(in_memory_max_bytes=train.nbytes - 1)
    assert isinstance(make_batches(train, big, DistInfo()), StreamBatches)
    res = fit(tiny, train, splits[1], TrainConfig(lr=1e-2, batch_size=256, epochs=4, in_memory_max_bytes=0,
                                                 stream_chunk_rows=1000), progress=False)
    assert res.best_val_auc > 0.9  # streaming learns the parity interaction as well


def test_resumed_fit_ends_identical_to_an_uninterrupted_one(splits, tmp_path):
    cfg = TrainConfig(lr=1e-2, batch_size=256, epochs=4, patience=10, seed=3)

    def model():
        torch.manual_seed(0)
        return TinyCTR([20, 20, 20])

    full = model()
    fit(full, splits[0], splits[1], cfg, progress=False)

    states = {}
    first = model()
    fit(first, splits[0], splits[1], cfg.__class__(**{**cfg.to_dict(), "epochs": 2}), progress=False,
        on_epoch_end=lambda s: states.update({s["epoch"]: s}))
    path = save_checkpoint(tmp_path / "c.pt", {"run": "x"}, "training", trainer=states[2])
    torch.manual_seed(1234)  # the resumed process starts with other random state
    np.random.seed(99)
    state = load_checkpoint(path, {"run": "x"})["trainer"]
    resumed = model()
    res = fit(resumed, splits[0], splits[1], cfg, progress=False, resume=state)
    assert res.epochs_run == 4 and [h["epoch"] for h in res.history] == [1, 2, 3, 4]
    for k, v in full.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[k], v, rtol=0, atol=0)


def test_bad_checkpoints_are_refused_with_one_line(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint to resume from"):
        load_checkpoint(tmp_path / "none.pt", {})
    path = save_checkpoint(tmp_path / "c.pt", {"model": "dnn", "seed": 0}, "training", trainer={"epoch": 1})
    with pytest.raises(CheckpointError, match=r"different run \(model: 'xdeepfm' now, 'dnn' in the checkpoint\)"):
        load_checkpoint(path, {"model": "xdeepfm", "seed": 0})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated") as err:
        load_checkpoint(path, {"model": "dnn", "seed": 0})
    assert "\n" not in str(err.value)
    (tmp_path / "other.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(tmp_path / "other.pt", {})
