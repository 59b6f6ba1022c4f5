"""The one training loop: callbacks per step and per epoch, the step cap, and the one divergence error."""
import pytest
import torch

from lightfmp.errors import NonFiniteLossError
from lightfmp.train.loop import train_loop


def _loop(losses, **kw):
    """`train_loop` over 4 batches per epoch whose step returns the next value of `losses`."""
    it = iter(losses)
    return train_loop(lambda batch: torch.tensor(next(it)), range(4), torch.nn.Identity(), phase="probe", device="cpu",
                      **kw)


def test_callbacks_run_per_step_and_per_epoch():
    seen = []
    st = _loop([1.0, 2.0, 3.0, 4.0] * 3, epochs=3,
               on_step=lambda s: seen.append(("step", s.epoch, s.step)),
               on_epoch_end=lambda s: seen.append(("epoch", s.epoch, s.step, s.losses.tolist())))
    steps = [("step", e, k) for e in (1, 2, 3) for k in range(4 * e - 3, 4 * e + 1)]
    assert [e for e in seen if e[0] == "step"] == steps
    assert [e for e in seen if e[0] == "epoch"] == [("epoch", e, 4 * e, [1.0, 2.0, 3.0, 4.0]) for e in (1, 2, 3)]
    assert (st.epoch, st.step) == (3, 12)


def test_stop_max_steps_and_first_epoch():
    def stop_after_2(s):
        s.stop = s.epoch == 2

    assert _loop([0.5] * 12, epochs=5, on_epoch_end=stop_after_2).step == 8
    capped = _loop([0.5] * 12, epochs=5, max_steps=6)
    assert (capped.epoch, capped.step, len(capped.losses)) == (2, 6, 2)
    resumed = _loop([0.5] * 8, epochs=3, first_epoch=2)  # steps count on from the epochs before
    assert (resumed.epoch, resumed.step) == (3, 12)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_non_finite_loss_names_phase_step_and_epoch(bad):
    calls = []
    with pytest.raises(NonFiniteLossError, match=rf"^probe: the loss is {bad} at step 7 \(epoch 2, step 3 of 4\); "
                                                 r"the run diverged"):
        _loop([0.1] * 6 + [bad, 0.1], epochs=2, on_step=lambda s: calls.append(s.step))
    assert calls == [1, 2, 3, 4, 5, 6]  # on CPU the check runs before the step's callback
