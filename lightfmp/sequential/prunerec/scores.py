"""PruneRec's importance scores, as its code computes them (zheng-sl/PruneRec), on calibration sequences.

- `head_scores` (``prune/head/get_ships_per_layer.py``, "SHIPS"): a head is masked by scaling its slice
  of q by 1e-4 (``mask_type="scale_mask"``, ``mask_qkv=['q']``: its attention becomes near-uniform over the
  prefix, it is not zeroed); score = 1 - mean KL(base || masked) of the last-position distribution over
  items; min-max normalised within the layer, then ``alpha * previous layer + (1 - alpha) * current``
  (``--alpha 0.7``); the k highest (least KL impact) are pruned; they stay masked while later layers are
  scored (greedy, layer by layer).
- `hidden_dim_scores` (``prune/head/generate_embedding_scores.py``): gradient of the top predicted logit at
  the last position with respect to the final hidden state h; per dim, the L2 norm over rows and
  positions of |grad * h|. Choice: our calibration is a batch of training sequences, not one prompt.
- `channel_frequency` (``prune/mlp_attn/weight_compare.py``): a forward hook on each layer's ``up``
  projection; per real token the indices of its top-N outputs by signed value; per layer, how often each
  channel is among them. Choice: 256 calibration sequences instead of one 100-token prompt.
- `greedy_layer_removal` (``prune/layer/layer_search.py``, from BlockPruner): repeatedly remove the whole
  layer whose removal gives the lowest calibration loss. Choice: the loss is next-item cross-entropy on
  training sequences (PruneRec measures perplexity on alpaca text, which has no analogue here).
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor

from lightfmp.sequential.transformer import NextItemTransformer


def _eval_copy(model: NextItemTransformer) -> NextItemTransformer:
    m = copy.deepcopy(model)
    m.eval()
    return m


def last_position_kl(base_logp: Tensor, logits: Tensor) -> float:
    """Mean over rows of KL(base || other) between last-position item distributions."""
    return float(F.kl_div(F.log_softmax(logits, -1), base_logp, log_target=True, reduction="batchmean"))


@torch.no_grad()
def head_scores(model: NextItemTransformer, calib: Tensor, k: int, alpha: float = 0.7,
                q_scale: float = 1e-4) -> tuple[dict[int, tuple[int, ...]], list[Tensor]]:
    """Heads kept per layer (H_l - k of them) and each layer's smoothed scores (higher = prune first)."""
    work = _eval_copy(model)
    cfg = work.cfg
    base = F.log_softmax(work.score_next(calib), -1)
    keep: dict[int, tuple[int, ...]] = {}
    scores: list[Tensor] = []
    prev: Tensor | None = None
    for l, block in enumerate(work.blocks):
        H, hd, q = cfg.heads[l], cfg.head_dim, block.attn.q.weight
        if H == 0:
            scores.append(torch.zeros(0))
            continue
        s = torch.empty(H)
        for h in range(H):
            rows = slice(h * hd, (h + 1) * hd)
            saved = q[rows].clone()
            q[rows] *= q_scale
            s[h] = 1.0 - last_position_kl(base, work.score_next(calib))
            q[rows] = saved
        s = (s - s.min()) / (s.max() - s.min()).clamp(min=1e-12)
        if prev is not None and prev.numel() == H:
            s = alpha * prev + (1 - alpha) * s
        prev = s
        scores.append(s)
        pruned = torch.topk(s, min(k, H)).indices
        for h in pruned.tolist():           # stays masked while later layers are scored
            q[h * hd:(h + 1) * hd] *= q_scale
        keep[l] = tuple(sorted(set(range(H)) - set(pruned.tolist())))
    return keep, scores


def hidden_dim_scores(model: NextItemTransformer, calib: Tensor) -> Tensor:
    """[d]: L2 over rows and positions of |d top-logit / d h * h| at the final hidden state h."""
    work = _eval_copy(model)
    h = work.hidden(calib).detach().requires_grad_(True)
    last = (calib != 0).sum(1).clamp(min=1) - 1
    logits = work.item_logits(h[torch.arange(calib.shape[0]), last])
    logits.max(-1).values.sum().backward()
    return (h.grad * h.detach()).abs().pow(2).sum((0, 1)).sqrt()


def top_by_score(scores: Tensor, n: int) -> tuple[int, ...]:
    """The ``n`` positions with the highest scores (ties to the lower position), sorted."""
    order = torch.sort(-scores.float(), stable=True).indices
    return tuple(sorted(order[:n].tolist()))


@torch.no_grad()
def channel_frequency(model: NextItemTransformer, calib: Tensor, top_n: int) -> list[Tensor]:
    """Per layer, [F_l] counts: how many real calibration tokens have that channel among their top-N
    ``up`` outputs."""
    work = _eval_copy(model)
    real = calib != 0
    counts: list[Tensor] = [torch.zeros(0)] * len(work.blocks)

    def hook(layer: int):
        def fn(_mod, _inp, out: Tensor) -> None:
            width = out.shape[-1]
            if width == 0:
                counts[layer] = torch.zeros(0)
                return
            idx = torch.topk(out[real], min(top_n, width), dim=-1).indices
            counts[layer] = torch.bincount(idx.reshape(-1), minlength=width).float()
        return fn

    handles = [b.mlp.up.register_forward_hook(hook(l)) for l, b in enumerate(work.blocks)]
    try:
        work.hidden(calib)
    finally:
        for hd in handles:
            hd.remove()
    return counts


@torch.no_grad()
def calibration_loss(model: NextItemTransformer, calib: Tensor) -> float:
    """Next-item cross-entropy at every position of the calibration sequences."""
    inputs, targets = calib[:, :-1], calib[:, 1:]
    h = model.hidden(inputs)
    at = targets > 0
    return float(F.cross_entropy(model.item_logits(h[at]), targets[at] - 1))


@torch.no_grad()
def greedy_layer_removal(model: NextItemTransformer, calib: Tensor, n_remove: int) -> tuple[list[int], list[float]]:
    """Layers removed, in order, and the calibration loss after each removal."""
    work = _eval_copy(model)
    L = work.cfg.n_layers
    work.layer_mask = torch.ones(L)
    removed: list[int] = []
    losses: list[float] = []
    for _ in range(min(n_remove, L)):
        trial = {}
        for l in range(L):
            if l in removed:
                continue
            work.layer_mask[l] = 0.0
            trial[l] = calibration_loss(work, calib)
            work.layer_mask[l] = 1.0
        best = min(trial, key=lambda l: (trial[l], l))
        work.layer_mask[best] = 0.0
        removed.append(best)
        losses.append(trial[best])
    return removed, losses
