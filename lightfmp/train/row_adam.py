"""RowAdam: lazy Adam for embedding tables, updating only the rows a batch touched.

The lazy-Adam update of `torch.optim.SparseAdam` (the moments of untouched rows are left alone; bias
correction uses the parameter's own step count) with `torch.optim.Adam`'s placement of eps (after
the bias correction of v), so that with every row touched it equals dense Adam (tested). The difference is how the
touched rows are found. A table's sparse gradient from `F.embedding(sparse=True)` is uncoalesced:
one row per looked-up id (4096 x 39 = 160k rows at batch 4096, of which ~20k distinct on Criteo-like
data). SparseAdam coalesces it, which sorts the 160k indices; here (`sum_duplicate_rows`) the distinct
rows come from a boolean "touched" mask over the table (`nonzero` returns them already sorted, O(table
rows) bytes) or from a sort of the ids, whichever this process timed faster for that table and batch,
duplicates are summed with one `scatter_add_` (after the sort, `index_add_`) into a compact buffer,
and the moments and weights are gathered, updated and scattered back for those rows only.
Evidence: docs/decisions.md#row-wise-lazy-adam-for-large-tables; re-measure (RowAdam, SparseAdam and
dense Adam in one run): `python bench/train_throughput.py --rows 100000 --models dnn --no-peer --update-steps 10`.

Tables read with the same ids (a backbone's embedding and its linear or wide table, same fields
and vocabularies) share one coalescing per step: a gradient whose ids equal the previous table's
reuses its distinct rows and each id's position in them (`coalesce_rows` returns both), so only the
duplicate sum runs again. Evidence: docs/decisions.md#rowadam-shares-one-coalescing-between-tables.

State per parameter: step, exp_avg and exp_avg_sq [rows, width] (zeros). Two scratch index buffers
(touched bool [rows], pos int64 [rows], `row_scratch`) are kept beside the state, not in it, and reused
every step so no table-sized allocation happens per step.
"""
from __future__ import annotations

import contextlib
import time
import weakref
from typing import Iterable

import numpy as np
import torch
from torch import Tensor


# Scratch index buffers live outside the optimizer's `state`, so checkpoints hold only the moments and
# the step (Optimizer.load_state_dict would also cast an int64 buffer to the weights' dtype).
_SCRATCH: dict[int, tuple[Tensor, Tensor]] = {}  # id(weight) -> buffers, dropped with the weight


def row_scratch(weight: Tensor) -> tuple[Tensor, Tensor]:
    """The (touched, pos) buffers of `sum_duplicate_rows` for ``weight``'s rows: made once per table and
    shared by `RowAdam` and the distributed gradient exchange (``touched`` is all False between calls).
    Keyed by id (a tensor's == is elementwise, so it cannot key a WeakKeyDictionary) and released by
    a finalizer when the weight is collected."""
    buf = _SCRATCH.get(id(weight))
    if buf is None or buf[0].numel() != weight.shape[0] or buf[0].device != weight.device:
        if buf is None:
            weakref.finalize(weight, _SCRATCH.pop, id(weight), None)
        buf = (torch.zeros(weight.shape[0], dtype=torch.bool, device=weight.device),
               torch.empty(weight.shape[0], dtype=torch.long, device=weight.device))
        _SCRATCH[id(weight)] = buf
    return buf


def _by_mask(idx: Tensor, vals: Tensor, touched: Tensor, pos: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Distinct rows from a boolean mask over the table: no sort, but the scan reads every table row.

    The index ops (``index_fill_``, NumPy's ``flatnonzero``, ``index_select``) are the fastest of their
    equivalents on CPU. Evidence: docs/decisions.md#rowadam-index-operations."""
    touched.index_fill_(0, idx, True)
    if touched.is_cuda:
        rows = touched.nonzero().squeeze(1)      # distinct touched rows, sorted
    else:
        rows = torch.from_numpy(np.flatnonzero(touched.numpy()))
    touched.index_fill_(0, rows, False)          # reset the scratch mask for the next call
    pos.index_copy_(0, rows, torch.arange(rows.numel(), device=idx.device))
    inverse = pos.index_select(0, idx)
    return rows, inverse, _sum_by_scatter(rows, inverse, vals)


def _sum_by_scatter(rows: Tensor, inverse: Tensor, vals: Tensor) -> Tensor:
    # Sum duplicate ids with scatter_add_ over an expanded (stride-0) index: no [n * width] flat index
    # is built, and it beats index_add_ over flat positions (docs/decisions.md#rowadam-index-operations).
    width = vals.shape[1]
    grad = torch.zeros(rows.numel(), width, dtype=vals.dtype, device=vals.device)
    return grad.scatter_add_(0, inverse.unsqueeze(1).expand(-1, width), vals)


def _by_sort(idx: Tensor, vals: Tensor, touched: Tensor, pos: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Distinct rows from a sort of the ids: O(n log n), independent of the table's size."""
    rows, inverse = torch.unique(idx, sorted=True, return_inverse=True)
    return rows, inverse, _sum_by_index(rows, inverse, vals)


def _sum_by_index(rows: Tensor, inverse: Tensor, vals: Tensor) -> Tensor:
    grad = torch.zeros(rows.numel(), vals.shape[1], dtype=vals.dtype, device=vals.device)
    return grad.index_add_(0, inverse, vals)


_WAYS = {"mask": _by_mask, "sort": _by_sort}
# (table rows, bit length of the id count) -> the way measured faster in this process (CPU only).
_CHOSEN: dict[tuple[int, int], str] = {}
_TRIALS = 2  # timed calls per way before choosing


@contextlib.contextmanager
def _one_thread():
    """Run the enclosed ops on one intra-op thread (restored after)."""
    n = torch.get_num_threads()
    if n > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if n > 1:
            torch.set_num_threads(n)


def coalesce_rows(idx: Tensor, vals: Tensor, touched: Tensor, pos: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Coalesce a row-sparse gradient: (distinct rows ascending, each id's position in them, their summed
    values). ``rows[inverse] == idx``, so a gradient with the same ids can reuse (rows, inverse).

    ``idx`` [n] row ids with repeats, ``vals`` [n, width]; ``touched`` (bool, all False) and ``pos``
    (int64) are table-length scratch buffers; ``touched`` is left all False again on return.

    Two ways give the same rows and, summing each row's values in the order of ``idx``, the same sums:
    a boolean mask over the table (`_by_mask`) or a sort of the ids (`_by_sort`). Which is faster
    depends on n against the table's rows and on the machine, and no fixed threshold fits the machines
    measured, so on CPU the first calls for each (table rows, n to a power of two) time both ways
    `_TRIALS` times each, alternately, and the faster is kept for the rest of the process. On CUDA the
    sort is used for few ids (n * 8 < rows), the mask otherwise.

    On CPU this runs on one thread: with two threads the mask's scatter of n flags and the duplicate
    sum contend, while the optimizer's per-row update, which follows, gains from two.
    Evidence: docs/decisions.md#rowadam-coalescing-mask-or-sort-timed-per-process; re-measure:
    `python bench/table_optimizer.py --coalesce --rows 1290000 --batches 128,2048,4096`.
    """
    if idx.is_cuda:
        return (_by_sort if idx.numel() * 8 < touched.numel() else _by_mask)(idx, vals, touched, pos)
    with _one_thread():
        key = (touched.numel(), idx.numel().bit_length())
        way = _CHOSEN.get(key)
        if way is not None:
            return _WAYS[way](idx, vals, touched, pos)
        best = dict.fromkeys(_WAYS, float("inf"))  # best seconds per way over the trials
        for _ in range(_TRIALS):
            for name, fn in _WAYS.items():
                start = time.perf_counter()
                out = fn(idx, vals, touched, pos)
                best[name] = min(best[name], time.perf_counter() - start)
        _CHOSEN[key] = min(best, key=best.get)
        return out


def sum_duplicate_rows(idx: Tensor, vals: Tensor, touched: Tensor, pos: Tensor) -> tuple[Tensor, Tensor]:
    """(distinct rows ascending, their summed values): `coalesce_rows` without the inverse."""
    rows, _, grad = coalesce_rows(idx, vals, touched, pos)
    return rows, grad


def sum_by_plan(rows: Tensor, inverse: Tensor, vals: Tensor) -> Tensor:
    """The summed values of ``vals`` for ids whose plan (``rows``, ``inverse``) `coalesce_rows` already
    found: no sort and no table-length buffer, only the duplicate sum (on one CPU thread, as there)."""
    if vals.is_cuda:
        return _sum_by_scatter(rows, inverse, vals)
    with _one_thread():
        return _sum_by_scatter(rows, inverse, vals)


def _same_ids(plan: tuple[Tensor, int, Tensor, Tensor], table_rows: int, idx: Tensor) -> bool:
    """Whether ``idx`` (into a table of ``table_rows`` rows) are the ids the plan was made for."""
    ids, rows = plan[0], plan[1]
    return rows == table_rows and ids.shape == idx.shape and torch.equal(ids, idx)


class RowAdam(torch.optim.Optimizer):
    """Lazy Adam over rows for parameters whose gradients are sparse (row-sparse COO, any duplicates).

    Args:
        params: the table weights (2-D), each receiving a sparse gradient.
        lr, betas, eps: as in torch.optim.Adam (no weight decay: the trainer adds an L2 term on the
            looked-up rows to the loss instead, see `lightfmp.train.optim`).
    """

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8):
        if lr <= 0 or eps <= 0 or not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"invalid RowAdam settings lr={lr} betas={betas} eps={eps}")
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps))

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        loss = closure() if closure is not None else None
        plan = None  # (ids, table rows, distinct rows, inverse) of the last coalesced gradient
        for group in self.param_groups:
            lr, (b1, b2), eps = group["lr"], group["betas"], group["eps"]
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                if not g.is_sparse:
                    raise RuntimeError("RowAdam needs sparse gradients (set FieldTable.sparse = True)")
                st = self.state[p]
                if not st:
                    st["step"] = 0
                    st["exp_avg"] = torch.zeros_like(p)
                    st["exp_avg_sq"] = torch.zeros_like(p)
                st["step"] += 1
                idx = g._indices()[0]
                vals = g._values()
                if idx.numel() == 0:
                    continue
                # Tables read with the same ids (a model's embedding and its linear/wide table) share
                # one coalescing: the sort or mask is most of this step's cost, the comparison ~0.1 ms.
                if plan is not None and _same_ids(plan, p.shape[0], idx):
                    rows, inverse = plan[2], plan[3]
                    grad = sum_by_plan(rows, inverse, vals)
                else:
                    rows, inverse, grad = coalesce_rows(idx, vals, *row_scratch(p))
                    plan = (idx, p.shape[0], rows, inverse)
                m = st["exp_avg"].index_select(0, rows).mul_(b1).add_(grad, alpha=1 - b1)
                v = st["exp_avg_sq"].index_select(0, rows).mul_(b2).addcmul_(grad, grad, value=1 - b2)
                st["exp_avg"].index_copy_(0, rows, m)
                st["exp_avg_sq"].index_copy_(0, rows, v)
                bc1 = 1 - b1 ** st["step"]
                bc2 = 1 - b2 ** st["step"]
                denom = v.div_(bc2).sqrt_().add_(eps)
                # rows are distinct, so gather + add + index_copy_ equals index_add_ and is several
                # times faster on CPU (index_add_ walks indices one by one)
                p.index_copy_(0, rows, p.index_select(0, rows).add_(m.div_(denom), alpha=-lr / bc1))
        return loss
