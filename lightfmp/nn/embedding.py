"""Field embeddings: one concatenated table over all fields, per-field offsets added inside.

Paper section 2.2, equation (1): field m is one-hot over its D_m values and embedded as
``e_m = A_m x_m``; concatenating the A_m row-wise gives one table, and looking up
``local_id + offset_m`` in it is the same projection without building one-hot vectors
(pytorch-fm's ``FeaturesEmbedding`` does the same). Inputs are local ids, so a subset of fields is a
subset of columns of ``x`` and of row blocks of the table: this is what makes field pruning a slice.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class FieldTable(nn.Module):
    """One table of ``sum(vocab_sizes)`` rows and ``width`` columns, looked up with local ids.

    Args:
        vocab_sizes: rows per field (reserved ids included); field order is the column order of ``x``.
        width: columns per row.

    Attributes:
        weight: the table, float[sum(vocab_sizes), width].
        offsets: int64[F] buffer, start row of each field; not saved in the state dict because it is
            derived from ``vocab_sizes`` (a model is rebuilt from its build args, then loaded).
        sparse: when True the lookup yields a sparse gradient for ``weight`` (the trainer flips it to
            pair the table with a sparse optimizer; only touched rows are updated).
        last_sq: while ``self.training``, the sum of squares of the rows the last forward looked up
            (0-dim, in the autograd graph), so the trainer can add an L2 penalty on the rows a batch
            touched without a second pass over them (`_LookupWithSquares`). None in eval mode and
            dropped when the module is copied or pickled.

    Shape: x int[B, F] (int32 or int64) -> float[B, F, width]; subclasses reshape.
    """

    def __init__(self, vocab_sizes: Sequence[int], width: int):
        super().__init__()
        sizes = [int(v) for v in vocab_sizes]
        if not sizes or min(sizes) < 1:
            raise ValueError(f"vocab_sizes must be a non-empty list of positive ints, got {list(vocab_sizes)}")
        if int(width) < 1:
            raise ValueError(f"width must be a positive int, got {width}")
        self.vocab_sizes = sizes
        starts = torch.tensor([0] + sizes[:-1], dtype=torch.long).cumsum(0)
        self.register_buffer("offsets", starts, persistent=False)
        self.weight = nn.Parameter(torch.empty(sum(sizes), int(width)))
        self.sparse = False
        self.last_sq: Tensor | None = None
        self.reset_parameters()

    @property
    def num_fields(self) -> int:
        return len(self.vocab_sizes)

    def reset_parameters(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def lookup(self, x: Tensor) -> Tensor:
        """Rows for local ids ``x`` [B, F] -> [B, F, width]; one add of the offsets, one gather.

        In training (grad enabled) it also sets ``last_sq``, the rows' sum of squares, through one
        autograd node (`_LookupWithSquares`); otherwise ``last_sq`` is None."""
        if x.dim() != 2 or x.shape[1] != self.num_fields:
            raise ValueError(f"expected ids of shape [B, {self.num_fields}], got {tuple(x.shape)}")
        # int32 + int64 buffer promotes to int64 in the same kernel: no separate cast.
        idx = x + self.offsets
        if self.training and torch.is_grad_enabled() and self.weight.requires_grad:
            out, self.last_sq = _LookupWithSquares.apply(idx, self.weight, self.sparse)
            return out
        self.last_sq = None
        if self.weight.is_cuda and not self.sparse:
            # Dense gradients on a GPU: F.embedding's backward sorts more than 4,096 ids and reads the
            # segment count back to the host, a sync every step that also forbids CUDA-graph capture.
            # index_select's backward is one index_add_ (atomics, no sync); the forward is the same gather.
            return self.weight.index_select(0, idx.reshape(-1)).view(*idx.shape, self.weight.shape[1])
        return F.embedding(idx, self.weight, sparse=self.sparse)

    def field_rows(self, fields: Sequence[int]) -> Tensor:
        """Table row indices of the given fields, in the given order (used by slicing)."""
        starts = self.offsets.tolist()
        dev = self.weight.device
        return torch.cat([torch.arange(starts[f], starts[f] + self.vocab_sizes[f], device=dev) for f in fields])

    def __getstate__(self) -> dict[str, Any]:
        # A non-leaf activation cannot be deep-copied; it is only meaningful right after a forward.
        state = self.__dict__.copy()
        state["last_sq"] = None
        return state


class _LookupWithSquares(torch.autograd.Function):
    """``(weight[idx], sum(weight[idx] ** 2))`` as one autograd node: the rows a batch looked up and the
    sum of their squares (each row counted once per occurrence), for the trainer's embedding L2.

    Why one node: written as ``e.pow(2).sum()`` beside the lookup, the penalty costs two passes over
    the [B, F, D] rows forward (pow, sum) and three backward (pow's backward multiplies twice, then the
    two gradients of ``e`` are added), all on the 1.6M floats of a batch of 4,096 Criteo rows. Here the
    forward's sum is one ``dot`` and the backward folds ``2 * g_sq * e`` into the rows' gradient with
    one ``addcmul``; the same values up to summation order. Evidence:
    docs/decisions.md#embedding-l2-computed-in-the-lookup; re-measure (whole DNN):
    `python bench/train_throughput.py --models dnn --no-peer`.

    The table's gradient is built as ``F.embedding`` builds it: a sparse COO tensor (one row per id,
    uncoalesced) when ``sparse``, else dense (`embedding_dense_backward`; on CUDA one ``index_add_``,
    which, unlike the embedding's dense backward, does not read a count back to the host).
    """

    @staticmethod
    def forward(ctx, idx: Tensor, weight: Tensor, sparse: bool):  # type: ignore[override]
        width = weight.shape[1]
        out = weight.index_select(0, idx.reshape(-1)).view(*idx.shape, width)
        flat = out.reshape(-1)
        ctx.save_for_backward(idx, out)
        ctx.sparse, ctx.rows = bool(sparse), weight.shape[0]
        return out, torch.dot(flat, flat)

    @staticmethod
    def backward(ctx, g_out: Tensor | None, g_sq: Tensor | None):  # type: ignore[override]
        idx, out = ctx.saved_tensors
        width = out.shape[-1]
        if g_out is None:
            g_out = torch.zeros_like(out)
        g = g_out if g_sq is None else torch.addcmul(g_out, out, 2 * g_sq)
        g = g.reshape(-1, width)
        flat_idx = idx.reshape(-1)
        if ctx.sparse:
            grad = torch.sparse_coo_tensor(flat_idx.unsqueeze(0), g, (ctx.rows, width), check_invariants=False)
        elif g.is_cuda:
            grad = torch.zeros(ctx.rows, width, dtype=g.dtype, device=g.device).index_add_(0, flat_idx, g)
        else:
            grad = torch.ops.aten.embedding_dense_backward(g, flat_idx, ctx.rows, -1, False)
        return None, grad, None


class FieldEmbedding(FieldTable):
    """Per-field embedding vectors, paper eq. (1) before flattening.

    Init: N(0, init_std^2) per entry, the same for every table size (ModelConfig's default 1e-4, as in
    DeepCTR-Torch and FuxiCTR). With ``init_std=None``, Xavier-uniform over the whole concatenated
    table, as in the OptFS code the paper builds on (section 3.4) and pytorch-fm; its bound
    sqrt(6 / (rows + dim)) depends on the table's size. Evidence: docs/decisions.md#embedding-initialisation.

    Args:
        vocab_sizes: rows per field.
        dim: embedding dimension D.
        init_std: None for Xavier-uniform, else the std of a normal init.

    Shape: x int[B, F] -> float[B, F, D].

    Example:
        >>> emb = FieldEmbedding([3, 5], dim=4)
        >>> emb(torch.tensor([[0, 4], [2, 1]])).shape
        torch.Size([2, 2, 4])
    """

    def __init__(self, vocab_sizes: Sequence[int], dim: int, init_std: float | None = None):
        self.init_std = init_std  # read by reset_parameters, which FieldTable.__init__ calls
        super().__init__(vocab_sizes, dim)

    @property
    def dim(self) -> int:
        return self.weight.shape[1]

    def reset_parameters(self) -> None:
        if self.init_std is None:
            nn.init.xavier_uniform_(self.weight)
        else:
            nn.init.normal_(self.weight, 0.0, self.init_std)

    def forward(self, x: Tensor) -> Tensor:
        return self.lookup(x)


class FieldLinear(FieldTable):
    """One scalar weight per feature value: the first-order (wide / linear) term per field.

    Returned per field, not summed, so that a gate can scale each field's term (z_f = 0 removes it).
    Init: zeros, so the wide part starts as the constant model (logistic regression's usual start);
    its gradient is still non-zero, because it does not depend on the weight itself.

    Args:
        vocab_sizes: rows per field.

    Shape: x int[B, F] -> float[B, F].

    Example:
        >>> lin = FieldLinear([3, 5])
        >>> lin(torch.tensor([[0, 4]])).shape
        torch.Size([1, 2])
    """

    def __init__(self, vocab_sizes: Sequence[int]):
        super().__init__(vocab_sizes, 1)

    def reset_parameters(self) -> None:
        nn.init.zeros_(self.weight)

    def forward(self, x: Tensor) -> Tensor:
        return self.lookup(x).squeeze(-1)
