"""Control (b) of joint pruning: magnitude structured pruning of a trained backbone (then fine-tuning).

``magnitude_plan(model, widths)`` keeps, in each group, the members with the largest weight magnitude:
the ``widths["fields"]`` fields, and ``widths[path]`` units (maps) of each hidden Linear (CIN layer). With
the widths of a joint-pruning result the compact model has the same architecture, hence the same
multiply-adds per sample, as the method it is compared with; only the choice of members and the
weights differ.

Scores (choices; a unit's or field's effect is the product of what it reads and what reads it, so both
sides count, as Li et al. 2017's filter norms count the reading side and Han et al.'s weights either):

* field f: ||W1[:, cols_f]||_F (the first MLP Linear's columns that read f; PNN's inner-product columns
  of f's pairs included) times the RMS of f's embedding rows. Rows never trained stay near their tiny
  init (1e-4), so the RMS is over the whole table, as a field with few trained rows should score low.
* hidden unit u of Linear l: ||W_l[u, :]||_2 (its incoming weights) times ||W_next[:, u]||_2 (the
  weights that read it: the next Linear or the head; with BatchNorm, |gamma_u| / sqrt(var_u + eps)
  also multiplies, the scale BatchNorm gives it).
* CIN map h of layer k: ||W^k[h]||_F times the norm of what reads it (W^{k+1}[:, h, :] and the CIN
  head's weight of the pooled map).
"""
from __future__ import annotations

from typing import Mapping

import torch
from torch import Tensor, nn

from lightfmp.nn.embedding import FieldTable
from lightfmp.pruning.plan import PruningPlan, hidden_linears, prunable_units


def _top(score: Tensor, k: int) -> list[int]:
    k = max(1, min(int(k), score.numel()))
    return sorted(torch.argsort(score, descending=True, stable=True)[:k].tolist())


@torch.no_grad()
def field_scores(model: nn.Module) -> Tensor:
    """Per field: first-layer column norm of the field's inputs times its embedding rows' RMS."""
    F = model.num_fields
    W = model.mlp.first.weight.detach()
    table: FieldTable = model.embedding
    emb = table.weight.detach()
    out = torch.empty(F, dtype=torch.float64)
    for f in range(F):  # one pass per field (tens), never per row
        cols = model.deep_input_columns([f]).to(W.device)
        rows = emb[table.field_rows([f])]
        out[f] = float(W[:, cols].norm()) * float(rows.pow(2).mean().sqrt())
    return out


@torch.no_grad()
def unit_scores(model: nn.Module) -> dict[str, Tensor]:
    """Plan path -> one magnitude score per unit (map); see the module docstring."""
    out: dict[str, Tensor] = {}
    mlp = model.mlp
    layers = list(mlp.layers)
    linears = [p for p in hidden_linears(model) if p.startswith("mlp.")]
    idx = [int(p.rsplit(".", 1)[1]) for p in linears]
    for n, (path, i) in enumerate(zip(linears, idx)):
        lin: nn.Linear = layers[i]
        incoming = torch.cat([lin.weight, lin.bias.unsqueeze(1)], dim=1).norm(dim=1)
        if n + 1 < len(idx):
            reader = layers[idx[n + 1]].weight
        else:  # the head reads the last hidden layer (DCN's head: after the cross part's columns)
            reader = model.head.weight[:, -lin.out_features:]
        score = incoming * reader.norm(dim=0)
        if i + 1 < len(layers) and isinstance(layers[i + 1], nn.BatchNorm1d):
            bn = layers[i + 1]
            score = score * bn.weight.abs() / (bn.running_var + bn.eps).sqrt()
        out[path] = score.double().cpu()
    cin = getattr(model, "cin", None)
    cin_paths = [p for p in prunable_units(model) if p.startswith("cin.")]
    if cin_paths:
        head = model.cin_head.weight.detach()[0]
        offset = 0
        for k, w in enumerate(cin.weights):
            own = w.detach().flatten(1).norm(dim=1)
            read = head[offset: offset + w.shape[0]].pow(2)
            if k + 1 < len(cin.weights):
                read = read + cin.weights[k + 1].detach().transpose(0, 1).flatten(1).pow(2).sum(dim=1)
            out[f"cin.weights.{k}"] = (own * read.sqrt()).double().cpu()
            offset += w.shape[0]
    return out


def magnitude_plan(model: nn.Module, widths: Mapping[str, int]) -> PruningPlan:
    """The plan keeping the largest-magnitude members of each group at ``widths`` ("fields" -> number of
    fields; plan path -> kept units; a group not named keeps all its members)."""
    fields = _top(field_scores(model), widths.get("fields", model.num_fields))
    units = {p: _top(s, widths[p]) for p, s in unit_scores(model).items() if p in widths}
    return PruningPlan(fields=fields, units=units)
