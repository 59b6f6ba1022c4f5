"""Interaction layers of the five backbones. Constructors take ints only (never a schema), so that
pruning can rebuild any of them for a subset of fields and copy sliced weights in.

All take field embeddings ``e`` float[B, F, D] (except MLP, which takes a flat vector).
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import Tensor, nn


class MLP(nn.Module):
    """The DNN module of paper section 2.2: stacked ``Linear -> [BatchNorm1d] -> ReLU -> [Dropout]``.

    No output layer: each backbone adds its own head, so the MLP's last width is ``out_dim``.
    BatchNorm sits before the activation, as in DeepCTR-Torch and FuxiCTR. Linear layers keep
    PyTorch's default init (Kaiming-uniform, a=sqrt(5)).

    Args:
        in_dim: input width.
        hidden: widths of the hidden layers, at least one.
        dropout: drop probability after each activation (0 disables the layer).
        batch_norm: add BatchNorm1d after each Linear.

    Shape: float[B, in_dim] -> float[B, hidden[-1]].

    Example:
        >>> MLP(8, (16, 4))(torch.zeros(2, 8)).shape
        torch.Size([2, 4])
    """

    def __init__(self, in_dim: int, hidden: Sequence[int], dropout: float = 0.0, batch_norm: bool = False):
        super().__init__()
        if not hidden or min(int(h) for h in hidden) < 1:
            raise ValueError(f"hidden must hold at least one positive width, got {tuple(hidden)}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        layers: list[nn.Module] = []
        width = int(in_dim)
        for h in hidden:
            layers.append(nn.Linear(width, int(h)))
            if batch_norm:
                layers.append(nn.BatchNorm1d(int(h)))
            layers.append(nn.ReLU())
            if dropout > 0:
                layers.append(nn.Dropout(float(dropout)))
            width = int(h)
        self.layers = nn.Sequential(*layers)
        self.in_dim, self.out_dim = int(in_dim), width
        # Hidden-unit gating hook (structured pruning, ``lightfmp.pruning.structure``): when set, it is
        # called as ``unit_gate(l, h)`` on hidden layer l's activation h [B, hidden[l]] and returns the
        # gated activation. A plain callable, not a submodule, so the gates' parameters stay out of the
        # MLP's state. None (the default) leaves ``forward`` exactly as it is without gates.
        self.unit_gate: Callable[[int, Tensor], Tensor] | None = None
        # Which Linear is directly followed by a ReLU (no BatchNorm between): those run as one
        # `linear_relu`; fixed here so forward does not inspect the module types every step.
        self._fused = tuple(isinstance(a, nn.Linear) and isinstance(b, nn.ReLU) for a, b in zip(layers, layers[1:]))

    @property
    def first(self) -> nn.Linear:
        """The Linear that reads the input: the only field-dependent layer of the MLP."""
        return self.layers[0]

    def forward(self, x: Tensor) -> Tensor:
        if self.unit_gate is not None:
            return self._gated_forward(x, self.unit_gate)
        i = 0
        while i < len(self.layers):
            m = self.layers[i]
            if i < len(self._fused) and self._fused[i]:
                x = linear_relu(x, m.weight, m.bias)
                i += 2
            else:
                x = m(x)
                i += 1
        return x

    def _gated_forward(self, x: Tensor, gate: Callable[[int, Tensor], Tensor]) -> Tensor:
        """``forward`` with ``gate(l, h)`` applied to each hidden layer's activation (after the ReLU, before
        Dropout: both are elementwise, so the order does not change the output)."""
        layer = 0
        for m in self.layers:
            x = m(x)
            if isinstance(m, nn.ReLU):
                x = gate(layer, x)
                layer += 1
        return x


def linear_relu(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """``relu(x @ weight.T + bias)``, the same values as ``nn.Linear`` then ``nn.ReLU``, in fewer passes.

    ``addmm`` first copies the broadcast bias into its [B, out] output and then accumulates the
    product into it; the ReLU is another pass. Here the product is written once and the bias and
    ReLU are applied in one in-place pass (``aten._add_relu_``, the op PyTorch's JIT fuses add+relu
    into). Backward is what autograd computes for the two modules: the ReLU mask from the output,
    then the input, weight and bias gradients. Faster on CPU; evidence:
    docs/decisions.md#fused-linear-and-relu-on-cpu; re-measure (whole DNN):
    `python bench/train_throughput.py --models dnn --no-peer`.
    ``_add_relu_`` has a CPU kernel only: elsewhere (CUDA) the two modules' ops run as they are.
    Under ``torch.export`` (which ``lightfmp export`` and the ONNX exporter trace through) the plain
    form is traced too: ONNX has no function for ``aten._add_relu``, and a custom autograd Function
    is opaque to serving runtimes; the plain ops export as ``Gemm, Relu``. Eager training and
    inference never take this branch, so their numerics are unchanged.
    """
    if x.device.type != "cpu" or torch.compiler.is_exporting():
        return torch.relu(torch.nn.functional.linear(x, weight, bias))
    return _LinearReLU.apply(x, weight, bias)


class _LinearReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:  # type: ignore[override]
        y = torch.ops.aten._add_relu_(x.mm(weight.t()), bias)
        ctx.save_for_backward(x, weight, y)
        return y

    @staticmethod
    def backward(ctx, gy: Tensor):  # type: ignore[override]
        x, weight, y = ctx.saved_tensors
        g = torch.ops.aten.threshold_backward(gy, y, 0)
        gx = g.mm(weight) if ctx.needs_input_grad[0] else None
        gw = g.t().mm(x) if ctx.needs_input_grad[1] else None
        gb = g.sum(0) if ctx.needs_input_grad[2] else None
        return gx, gw, gb


class FactorizationMachine(nn.Module):
    """Second-order FM term (Rendle 2010; DeepFM's FM component), summed over dimensions.

    ``sum_{i<j} <e_i, e_j> = 0.5 * sum_d [(sum_f e_fd)^2 - sum_f e_fd^2]``, computed over the field
    axis of [B, F, D]. Summing over fields first (not over a flattened F*D vector) is what gives
    products of *field vectors*; flattening would pair every scalar with every other scalar.
    No parameters: the first-order term lives in ``FieldLinear``.

    Shape: float[B, F, D] -> float[B].

    Example:
        >>> FactorizationMachine()(torch.ones(2, 3, 4))
        tensor([12., 12.])
    """

    def forward(self, e: Tensor) -> Tensor:
        square_of_sum = e.sum(dim=1).pow(2)
        sum_of_square = e.pow(2).sum(dim=1)
        return 0.5 * (square_of_sum - sum_of_square).sum(dim=1)


class _RowOuter(torch.autograd.Function):
    """Row-wise outer product z[r] = a[r] (x) b[r] flattened: a float[R, P], b float[R, Q] -> float[R, P*Q].

    Autograd's own backward of a broadcast multiply writes two more [R, P, Q] tensors and reduces
    them; here each input gradient is one batched matrix-vector product that reads grad_z once.
    Evidence: docs/decisions.md#cin-outer-product-with-a-batched-backward.
    """

    @staticmethod
    def forward(ctx, a: Tensor, b: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(a, b)
        return (a.unsqueeze(2) * b.unsqueeze(1)).view(a.shape[0], -1)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, Tensor | None]:  # type: ignore[override]
        a, b = ctx.saved_tensors
        g = grad.reshape(a.shape[0], a.shape[1], b.shape[1])
        grad_a = torch.bmm(g, b.unsqueeze(2)).squeeze(2) if ctx.needs_input_grad[0] else None
        grad_b = torch.bmm(a.unsqueeze(1), g).squeeze(1) if ctx.needs_input_grad[1] else None
        return grad_a, grad_b


class CIN(nn.Module):
    """Compressed Interaction Network of xDeepFM (Lian et al. 2018, section 3.2, eq. 6 and 8).

    Layer k, channel h: ``X^k_h = sum_i sum_j W^k[h, i, j] (X^{k-1}_i o X^0_j)`` (o: Hadamard product
    over the D dimensions), with X^0 the F field embeddings. Then sum pooling over D per channel,
    and the pooled vectors of all layers are concatenated (eq. 8).

    Choices: identity activation and no bias, as the paper's formula (the public implementations
    add a Conv1d bias and often ReLU); ``split_half`` off by default (the paper has none; DeepCTR
    turns it on). Weights are stored as W^k float[H_k, H_{k-1}, F], so a pruned field is a slice of
    the last axis (and, in layer 1, of the middle one too). Init: uniform(+-1/sqrt(H_{k-1} F)), the
    default of the kernel-size-1 Conv1d used by public code.

    Computation: the outer product is laid out [B*D, H_{k-1}*F] so each layer is one
    [B*D, H_{k-1}*F] x [H_{k-1}*F, H_k] matmul (fields are never looped over), and its backward is
    two batched matrix-vector products (``_RowOuter``).

    Args:
        num_fields: F.
        layer_sizes: H_1..H_L, channels per layer.
        split_half: feed half of each hidden layer's channels forward and pool the other half.

    Shape: float[B, F, D] -> float[B, out_dim], out_dim = sum of pooled channels.

    Example:
        >>> CIN(3, (4, 2))(torch.randn(5, 3, 6)).shape
        torch.Size([5, 6])
    """

    def __init__(self, num_fields: int, layer_sizes: Sequence[int], split_half: bool = False):
        super().__init__()
        sizes = [int(h) for h in layer_sizes]
        if not sizes or min(sizes) < 1 or int(num_fields) < 1:
            raise ValueError(f"need num_fields >= 1 and positive layer sizes, got {num_fields}, {tuple(layer_sizes)}")
        if split_half and any(h % 2 for h in sizes[:-1]):
            raise ValueError(f"split_half needs even sizes for all but the last layer, got {sizes}")
        self.num_fields, self.layer_sizes, self.split_half = int(num_fields), sizes, bool(split_half)
        self.weights = nn.ParameterList()
        prev, out_dim = self.num_fields, 0
        for k, h in enumerate(sizes):
            self.weights.append(nn.Parameter(torch.empty(h, prev, self.num_fields)))
            last = k == len(sizes) - 1
            prev = h // 2 if split_half and not last else h
            out_dim += h - prev if split_half and not last else h
        self.out_dim = out_dim
        # Feature-map gating hook (structured pruning, ``lightfmp.pruning.structure``): when set, it is
        # called as ``map_gate(k, out)`` on layer k's maps out [B, D, H_k] and returns them gated, before
        # they feed layer k+1 and the pooling. A plain callable, not a submodule; None (the default)
        # leaves ``forward`` unchanged. Not with ``split_half`` (its halves would need separate gates).
        self.map_gate: Callable[[int, Tensor], Tensor] | None = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for w in self.weights:
            bound = 1.0 / (w.shape[1] * w.shape[2]) ** 0.5
            nn.init.uniform_(w, -bound, bound)

    def forward(self, e: Tensor) -> Tensor:
        B, F, D = e.shape
        x0 = e.transpose(1, 2).reshape(B * D, F)  # rows are (sample, dimension) pairs
        h, pooled = x0, []
        for k, w in enumerate(self.weights):
            z = _RowOuter.apply(h, x0)  # [B*D, H_{k-1}*F], index i*F + j as in W[h, i, j]
            out = (z @ w.reshape(w.shape[0], -1).t()).view(B, D, -1)  # [B, D, H_k]
            if self.map_gate is not None:
                out = self.map_gate(k, out)
            if self.split_half and k < len(self.weights) - 1:
                nxt, direct = out.split(out.shape[-1] // 2, dim=-1)
            else:
                nxt, direct = out, out
            h = nxt.reshape(B * D, -1)
            pooled.append(direct.sum(dim=1))
        return torch.cat(pooled, dim=1)


def pair_index(num_fields: int) -> tuple[Tensor, Tensor]:
    """Field pairs (i, j), i < j, in the fixed row-major order used by ``InnerProduct``."""
    rows, cols = torch.triu_indices(num_fields, num_fields, offset=1)
    return rows, cols


class InnerProduct(nn.Module):
    """All F(F-1)/2 pairwise inner products <e_i, e_j>, i < j in row-major order (IPNN, Qu et al. 2016).

    Computed as one batched Gram matrix e e^T [B, F, F] and a gather of its strict upper triangle;
    no parameters (IPNN's product-layer weights are the first Linear of the following MLP, as in
    DeepCTR-Torch's PNN).

    Args:
        num_fields: F.

    Shape: float[B, F, D] -> float[B, F(F-1)/2].

    Example:
        >>> InnerProduct(3)(torch.ones(2, 3, 4))
        tensor([[4., 4., 4.],
                [4., 4., 4.]])
    """

    def __init__(self, num_fields: int):
        super().__init__()
        self.num_fields = int(num_fields)
        rows, cols = pair_index(self.num_fields)
        self.register_buffer("flat_index", rows * self.num_fields + cols, persistent=False)

    @property
    def num_pairs(self) -> int:
        return self.flat_index.numel()

    def forward(self, e: Tensor) -> Tensor:
        B, F, _ = e.shape
        gram = torch.bmm(e, e.transpose(1, 2)).view(B, F * F)
        return gram.index_select(1, self.flat_index)
