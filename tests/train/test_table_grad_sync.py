"""`sync_table_grads` between 2 gloo processes: every table's rows arrive, averaged, in rank order."""
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from lightfmp.train.distributed import sync_table_grads


class _Table(torch.nn.Module):
    def __init__(self, rows, width):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(rows, width))


def _local_grad(rank, rows, width, n, seed):
    g = torch.Generator().manual_seed(seed + 100 * rank)
    ids = torch.randint(0, rows, (n,), generator=g)
    vals = torch.randn(n, width, generator=g)
    return ids, vals


def _worker(rank, port, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        # odd, rank-dependent lengths and widths 10 and 1: ids of the second table start mid-buffer
        specs = [(50, 10, 7 + rank, 1), (30, 1, 5 + 2 * rank, 2)]
        tables = []
        for rows, width, n, seed in specs:
            t = _Table(rows, width)
            ids, vals = _local_grad(rank, rows, width, n, seed)
            t.weight.grad = torch.sparse_coo_tensor(ids.unsqueeze(0), vals, (rows, width))
            tables.append(t)
        sync_table_grads(tables)
        if rank == 0:
            torch.save([t.weight.grad.to_dense() for t in tables], out)
    finally:
        dist.destroy_process_group()


def test_two_ranks_exchange_every_tables_rows(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "grads.pt"
    mp.spawn(_worker, args=(port, str(out)), nprocs=2, join=True)
    got = torch.load(out)
    for k, (rows, width, n0, seed) in enumerate([(50, 10, 7, 1), (30, 1, 5, 2)]):
        expected = torch.zeros(rows, width)
        for rank in range(2):
            n = n0 + (rank if k == 0 else 2 * rank)
            ids, vals = _local_grad(rank, rows, width, n, seed)
            expected.index_add_(0, ids, vals / 2)
        torch.testing.assert_close(got[k], expected)
