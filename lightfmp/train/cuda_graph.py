"""A whole training step captured once as a CUDA graph and replayed for every full batch.

Why: at batch 4096 a CTR model's step on a GPU launches ~100-180 small kernels, and the host takes
longer to launch them than the GPU takes to run them. The step is then bound by Python and the
launches, so a model with half the fields trains no faster than the full one. A replayed graph
launches the recorded kernels in one call. Evidence: docs/decisions.md#cuda-graphs-for-the-training-step;
re-measure: `python bench/profile_step.py --device cuda --models dnn,xdeepfm`.

How (the recipe of torch.cuda.graph's documentation for a whole network): a few eager steps on a side
stream (they are real training steps on real batches; they create the optimizer state and warm the
allocator), then one capture of forward + loss + backward + optimizer step with the gradients set to
None, reading the batch from static input buffers. Each later full batch is copied into those buffers
and the graph replayed. The loss is left in a static tensor, valid until the next replay.

Requirements, checked by `graph_applies`: CUDA, a single process (DDP's hooks are not captured here),
dense table gradients (RowAdam reads the touched-row count on the host) and the plain loss; the
optimizer is then built `capturable` (`build_optimizer(..., capturable=True)`). The table lookups take their
capture-safe path on dense CUDA tables (`lightfmp.nn.embedding`). A batch of another size (the last
one of an epoch) runs eagerly. If the capture fails, the step warns once and stays eager.
"""
from __future__ import annotations

import warnings
from typing import Callable

import torch
from torch import Tensor, nn

from lightfmp.train.config import TrainConfig

WARMUP_STEPS = 3


def graph_applies(cfg: TrainConfig, distributed: bool = False, custom_loss: bool = False) -> bool:
    """Whether a step of `cfg` can be captured: CUDA and `cfg.cuda_graphs`, one process, dense tables
    and the plain loss (an extra loss term or param group may read values back on the host)."""
    return (cfg.cuda_graphs and str(cfg.device).startswith("cuda") and not distributed and not cfg.sparse_tables
            and not custom_loss)


class GraphedStep:
    """Replays a captured training step for batches of exactly ``batch_size`` rows.

    Args:
        loss_fn: (x, y) -> scalar loss of the model in training mode (forward included).
        zero_grad, optimizer_step: the optimizer's calls (gradients are set to None by zero_grad).
        batch_size: the rows of the batches this graph serves.
    """

    def __init__(self, loss_fn: Callable[[Tensor, Tensor], Tensor], zero_grad: Callable[[], None],
                 optimizer_step: Callable[[], None], batch_size: int, model: nn.Module | None = None):
        self.loss_fn, self.zero_grad, self.optimizer_step = loss_fn, zero_grad, optimizer_step
        self.model = model
        self.batch_size = int(batch_size)
        self.calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.failed: str | None = None
        self.static_x: Tensor | None = None
        self.static_y: Tensor | None = None
        self.static_loss: Tensor | None = None

    def serves(self, xb: Tensor) -> bool:
        return self.failed is None and xb.shape[0] == self.batch_size

    def _eager(self, xb: Tensor, yb: Tensor) -> Tensor:
        loss = self.loss_fn(xb, yb)
        self.zero_grad()
        loss.backward()
        self.optimizer_step()
        self._release()
        return loss.detach()

    def _release(self) -> None:
        """Drop the tables' kept sums of squares (`FieldTable.last_sq`): they keep the last step's
        autograd graph alive, whose gradient accumulators belong to another stream than the capture's."""
        if self.model is not None:
            for m in self.model.modules():
                if getattr(m, "last_sq", None) is not None:
                    m.last_sq = None

    def __call__(self, xb: Tensor, yb: Tensor) -> Tensor:
        """One training step on (xb, yb); returns the detached loss (valid until the next call)."""
        if self.calls < WARMUP_STEPS:
            self.calls += 1
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                loss = self._eager(xb, yb)
            torch.cuda.current_stream().wait_stream(side)
            return loss
        if self.graph is None:
            try:
                self._capture(xb, yb)
            except Exception as exc:  # stay correct and eager; say so once
                self.failed = f"{type(exc).__name__}: {exc}".splitlines()[0]
                self.graph = None
                warnings.warn(f"CUDA graph capture failed, training eagerly: {self.failed}", RuntimeWarning)
                torch.cuda.synchronize()
                return self._eager(xb, yb)
        self.static_x.copy_(xb)
        self.static_y.copy_(yb)
        self.graph.replay()
        self.calls += 1
        return self.static_loss

    def _capture(self, xb: Tensor, yb: Tensor) -> None:
        self.static_x = xb.clone()
        self.static_y = yb.clone()
        torch.cuda.synchronize()
        self._release()
        self.zero_grad()  # gradients are allocated inside the graph's memory pool
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            loss = self.loss_fn(self.static_x, self.static_y)
            loss.backward()
            self.optimizer_step()
        self.static_loss = loss.detach()
        self.graph = graph
        self._release()  # the capture's activations too: the eager last batch must not meet its accumulators
