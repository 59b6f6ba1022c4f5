"""The deep selectors' search phase runs the shared training loop: its divergence error and its hooks."""
import pytest
import torch

from lightfmp.errors import NonFiniteLossError
from lightfmp.selection.search import search
from lightfmp.train import TrainConfig
from tests.train.conftest import TinyCTR, separable


def test_search_hooks_and_divergence():
    X, y = separable(1000)
    steps, epochs = [], []
    log = search(TinyCTR([20, 20, 20]), (X, y), TrainConfig(batch_size=300), epochs=2,
                 after_step=steps.append, after_epoch=epochs.append)
    assert (log.steps, steps, epochs, len(log.losses)) == (8, list(range(1, 9)), [1, 2], 2)
    calls = iter(range(100))
    nan_at_6 = lambda: torch.tensor(float("nan") if next(calls) == 5 else 0.0)  # noqa: E731
    with pytest.raises(NonFiniteLossError, match=r"^search: the loss is nan at step 6 \(epoch 2, step 2 of 4\); "
                                                 r"the run diverged"):
        search(TinyCTR([20, 20, 20]), (X, y), TrainConfig(batch_size=300), epochs=2, extra_loss=nan_at_6)
