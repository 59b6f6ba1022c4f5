"""Data-parallel training on torch.distributed: process group, DDP wrapping, sparse table gradients.

Started by torchrun (``torchrun --nproc_per_node=N -m lightfmp train ...``), which sets RANK,
WORLD_SIZE, LOCAL_RANK and the rendezvous address in the environment; `init_from_env` joins the group
(gloo on CPU, nccl on CUDA). Without those variables everything here is a single-process no-op, so
the trainer has one code path.

Choices:
- Dense parameters are synchronised by `DistributedDataParallel` (bucketed all-reduce, overlapped
  with the backward pass). The embedding tables (`FieldTable`) are not: DDP recognises sparse
  gradients only on `nn.Embedding`/`nn.EmbeddingBag` modules, and a dense all-reduce of a Criteo-size
  table (millions of rows) each step would cost more than the step. So the tables are excluded from
  DDP (`_set_params_and_buffers_to_ignore_for_model`, the hook TorchRec uses for the same reason) and
  their row-sparse gradients are exchanged by `sync_table_grads` after backward: every rank's
  (row ids, row values) are all-gathered and concatenated, duplicates kept (`RowAdam` sums them
  anyway), and the values divided by the world size to match DDP's mean. On CUDA the trainer
  switches the tables to dense gradients and lets DDP average them (NCCL has no sparse collectives).
- The global batch is `--batch-size`: each rank trains on batch_size / world rows a step, so N ranks
  take the same optimisation steps as one process (the same learning-rate schedule and AUC).
- Metrics over the whole split: each rank scores its contiguous shard, the logits are gathered in
  rank order (`gather_rows`), and every rank computes the same AUC, hence the same early-stopping
  decision.
- Initial weights: DDP broadcasts rank 0's dense parameters at wrap time; `broadcast_module` also
  sends the tables (and everything else), so ranks start identical however the model was built.
"""
from __future__ import annotations

import gc
import hashlib
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from lightfmp.train.row_adam import row_scratch, sum_duplicate_rows


# True once this process has joined a torchrun group: the CLI then ends the process without the
# interpreter's teardown (see `shutdown`).
joined = False


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the group (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world: int = 1
    backend: str = ""

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def current() -> DistInfo:
    """The group this process has joined, or a single-process DistInfo."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), str(dist.get_backend()))
    return DistInfo()


def init_from_env(device: str = "cpu") -> DistInfo:
    """Join the process group torchrun describes in the environment (no-op when WORLD_SIZE <= 1)."""
    global joined
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or not dist.is_available():
        return current()
    if not dist.is_initialized():
        backend = "nccl" if str(device).startswith("cuda") else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        else:
            pin_to_cores(int(os.environ.get("LOCAL_RANK", "0")), int(os.environ.get("LOCAL_WORLD_SIZE", world)))
        dist.init_process_group(backend, timeout=timedelta(minutes=60))
        joined = True
    return current()


def pin_to_cores(local_rank: int, local_world: int) -> list[int]:
    """Give each local CPU rank its own equal slice of the cores this process may use.

    Unpinned, the ranks' compute threads and gloo's communication threads wander over all cores and
    can slow each other down. Opt-in (LIGHTFMP_PIN=1): pinned 2-rank test runs aborted now and then in
    gloo ("terminate called without an active exception"; `shutdown` now has successful ranks leave
    together, the likely cause), and pinning did not scale better on every machine. Evidence:
    docs/decisions.md#data-parallel-core-pinning-off-by-default; re-measure:
    `python bench/scale.py --rows 1000000 --scaling --epochs 2 --repeat 3`, with and without
    LIGHTFMP_PIN=1. Nothing is pinned where there are fewer cores than local ranks.
    Returns the cores kept (all of them when not pinned).
    """
    try:
        cores = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return []
    if local_world < 2 or len(cores) < local_world or os.environ.get("LIGHTFMP_PIN", "0") in ("", "0"):
        return cores
    k = len(cores) // local_world
    mine = cores[local_rank * k:(local_rank + 1) * k]
    os.sched_setaffinity(0, mine)
    return mine


def shutdown(together: bool = True) -> None:
    """Leave the process group. ``together`` (the success path): wait at a barrier first, so that no
    rank tears its gloo pairs down while a peer still uses them. On an error path
    (``together=False``) the peers may be inside another collective, so no barrier is attempted.

    A rare abort of one rank at the end of a 2-rank CPU run ("terminate called without an active
    exception", seen now and then in CI runs of the torchrun Light-FMP test, never reproduced in 60
    local runs) is the known gloo teardown race: objects that still hold gloo work (DDP's reducer sits in
    reference cycles, so it outlives the command until a garbage collection) are destroyed during
    interpreter finalization, and a gloo thread that needs the GIL then is killed by a forced unwind
    through a noexcept frame. So: collect those cycles while the interpreter is whole, then destroy
    the group; `lightfmp.cli.main` then ends a torchrun worker with ``os._exit`` after flushing its
    output, so no gloo object is ever torn down by finalization.
    """
    if dist.is_available() and dist.is_initialized():
        gc.collect()
        if together and dist.get_world_size() > 1:
            dist.barrier()
        dist.destroy_process_group()
        gc.collect()


def barrier() -> None:
    if current().active:
        dist.barrier()


def table_param_names(model: nn.Module, tables: list[nn.Module]) -> list[str]:
    """Fully qualified names of the tables' weights inside ``model``."""
    ids = {id(t.weight) for t in tables}
    return [name for name, p in model.named_parameters() if id(p) in ids]


def wrap(model: nn.Module, tables: list[nn.Module], device: str) -> nn.Module:
    """``model`` inside DDP, its sparse tables left to `sync_table_grads` (see module docstring)."""
    info = current()
    if not info.active:
        return model
    sparse = [t for t in tables if getattr(t, "sparse", False)]
    if sparse:
        nn.parallel.DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(
            model, table_param_names(model, sparse))
    device_ids = [torch.device(device).index or 0] if str(device).startswith("cuda") else None
    # No buffer sync in forward (BatchNorm statistics stay rank-local); at init the buffers are
    # synced anyway, which `broadcast_module` has already made a no-op.
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids, forward_sync_buffers=False)


def sync_table_grads(tables: list[nn.Module]) -> None:
    """Average the sparse table gradients over ranks: gather every rank's (row ids, row values), / world.

    Each rank first sums its own duplicate ids (`sum_duplicate_rows`): at 2,048 x 39 Zipf ids only
    about one in eight is distinct, so the exchange carries several times fewer bytes and `RowAdam`
    dedupes fewer rows. The gathered rows are concatenated (a row two ranks touched appears twice) and
    `RowAdam` sums those duplicates as it does within one rank. Every table's ids and values travel in
    one buffer (the int64 ids reinterpreted as words of the values' dtype), so a step costs two
    collectives whatever the number of tables: the per-table lengths, then the padded buffers; faster
    than per-table all_gathers or gloo's sparse all_reduce (which sorts the ids on the way).
    Evidence: docs/decisions.md#data-parallel-table-gradients; re-measure:
    `python bench/scale.py --rows 1000000 --scaling --epochs 2 --repeat 3`.
    """
    info = current()
    if not info.active:
        return
    grads = [(t, t.weight.grad) for t in tables if t.weight.grad is not None and t.weight.grad.is_sparse]
    if not grads:
        return
    dtype = grads[0][1].dtype
    words = 8 // torch.empty((), dtype=dtype).element_size()  # words of `dtype` per int64 id
    ids_words, vals_flat, lengths = [], [], []
    for t, g in grads:
        ids, vals = sum_duplicate_rows(g._indices()[0], g._values(), *row_scratch(t.weight))
        ids_words.append(ids.view(dtype))
        vals_flat.append(vals.to(dtype).reshape(-1))
        lengths.append(ids.numel())
    local = torch.cat(ids_words + vals_flat)  # ids first: each table's ids start on an int64 boundary
    counts = torch.tensor(lengths, dtype=torch.long, device=local.device)
    all_counts = [torch.empty_like(counts) for _ in range(info.world)]
    dist.all_gather(all_counts, counts)
    widths = [g.shape[1] for _, g in grads]
    sizes = [sum(int(n) * (words + w) for n, w in zip(c.tolist(), widths)) for c in all_counts]
    padded = torch.zeros(max(sizes), dtype=dtype, device=local.device)
    padded[:local.numel()] = local
    parts = [torch.empty_like(padded) for _ in range(info.world)]
    dist.all_gather(parts, padded)
    ids_by_table: list[list[Tensor]] = [[] for _ in grads]
    vals_by_table: list[list[Tensor]] = [[] for _ in grads]
    for part, c in zip(parts, all_counts):
        ns, at = c.tolist(), 0
        for j, n in enumerate(ns):
            ids_by_table[j].append(part[at:at + n * words].view(torch.long))
            at += n * words
        for j, (n, w) in enumerate(zip(ns, widths)):
            vals_by_table[j].append(part[at:at + n * w].view(n, w))
            at += n * w
    for j, (t, g) in enumerate(grads):
        ids = torch.cat(ids_by_table[j])
        vals = torch.cat(vals_by_table[j]).div_(info.world).to(g.dtype)
        t.weight.grad = torch.sparse_coo_tensor(ids.unsqueeze(0), vals, g.shape, check_invariants=False)


def broadcast_module(model: nn.Module, src: int = 0) -> None:
    """Copy rank ``src``'s parameters and buffers into every rank's ``model``."""
    if not current().active:
        return
    with torch.no_grad():
        for t in list(model.parameters()) + list(model.buffers()):
            dist.broadcast(t.data, src)


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` (picklable) on every rank."""
    if not current().active:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src)
    return box[0]


def gather_rows(local: Tensor) -> Tensor:
    """Concatenate every rank's 1-D ``local`` in rank order (lengths may differ by rank)."""
    info = current()
    if not info.active:
        return local
    n = torch.tensor([local.numel()], dtype=torch.long, device=local.device)
    sizes = [torch.zeros_like(n) for _ in range(info.world)]
    dist.all_gather(sizes, n)
    longest = int(max(s.item() for s in sizes))
    padded = torch.zeros(longest, dtype=local.dtype, device=local.device)
    padded[:local.numel()] = local
    parts = [torch.zeros_like(padded) for _ in range(info.world)]
    dist.all_gather(parts, padded)
    return torch.cat([p[:int(s.item())] for p, s in zip(parts, sizes)])


def all_objects(obj: Any) -> list[Any]:
    """Every rank's ``obj`` (picklable), in rank order; ``[obj]`` when not distributed."""
    info = current()
    if not info.active:
        return [obj]
    out: list[Any] = [None] * info.world
    dist.all_gather_object(out, obj)
    return out


def state_digest(model: nn.Module) -> str:
    """SHA-1 of every parameter's and buffer's bytes, in state-dict order: equal weights, equal digest."""
    h = hashlib.sha1()
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def all_digests(model: nn.Module) -> list[str]:
    """`state_digest` of every rank, in rank order (a check that the ranks ended identical)."""
    return [str(d) for d in all_objects(state_digest(model))]
