"""PruneRec's scores find planted redundancy: a dead head, dead hidden dims, a dominant MLP channel, an
identity layer."""
import torch

from lightfmp.sequential.prunerec.scores import (channel_frequency, greedy_layer_removal, head_scores,
                                                 hidden_dim_scores, top_by_score)
from lightfmp.sequential.transformer import NextItemTransformer, TransformerConfig


def _model() -> NextItemTransformer:
    torch.manual_seed(0)
    m = NextItemTransformer(TransformerConfig(num_items=50, d_model=32, n_layers=3, n_heads=4, head_dim=8, d_ff=40))
    with torch.no_grad():   # larger weights than the init, so every head matters
        for p in m.parameters():
            p.mul_(8.0)
    return m.eval()


def _calib() -> torch.Tensor:
    return torch.randint(1, 51, (64, 10), generator=torch.Generator().manual_seed(2))


@torch.no_grad()
def test_dead_head_is_pruned_first():
    m = _model()
    m.blocks[0].attn.o.weight[:, 16:24] = 0.0    # head 2 of layer 0 writes nothing
    keep, scores = head_scores(m, _calib(), k=1)
    assert 2 not in keep[0] and len(keep[0]) == 3
    assert int(scores[0].argmax()) == 2 and all(len(keep[l]) == 3 for l in range(3))


def test_dead_dims_score_zero():
    m = _model()
    with torch.no_grad():
        m.norm.weight[[3, 7, 11]] = 0.0              # the final hidden state is 0 there
    s = hidden_dim_scores(m, _calib())
    assert s.shape == (32,) and torch.all(s[[3, 7, 11]] == 0) and bool((s > 0).sum() == 29)
    assert not {3, 7, 11} & set(top_by_score(s, 16))


@torch.no_grad()
def test_dominant_channel_is_most_frequent():
    m = _model()
    m.item_emb.weight[1:, 0] = 10.0                  # every item shares a large positive dim 0 ...
    m.blocks[0].mlp_norm.weight.fill_(1.0)
    m.blocks[0].attn.o.weight.zero_()                # ... which reaches layer 0's MLP unchanged
    m.blocks[0].mlp.up.weight[5] = 0.0
    m.blocks[0].mlp.up.weight[5, 0] = 3.0            # so channel 5's up output is large and positive for every token
    calib = _calib()
    counts = channel_frequency(m, calib, top_n=4)
    assert [c.shape[0] for c in counts] == [40, 40, 40]
    assert int(counts[0].argmax()) == 5 and float(counts[0][5]) == float((calib != 0).sum())
    assert all(float(c.sum()) == 4 * float((calib != 0).sum()) for c in counts)


def test_identity_layer_is_removed_first():
    from tests.sequential.test_data_train import _toy
    from lightfmp.sequential.train import FitConfig, fit_next_item

    d = _toy()
    torch.manual_seed(0)
    m = NextItemTransformer(TransformerConfig(num_items=30, d_model=32, n_layers=3, n_heads=2, head_dim=8, d_ff=32,
                                              dropout=0.0))
    with torch.no_grad():
        m.blocks[1].attn.o.weight.zero_()
        m.blocks[1].mlp.down.weight.zero_()      # layer 1 is the identity ...
    m.blocks[1].requires_grad_(False)            # ... and stays so while layers 0 and 2 learn the task
    fit_next_item(m, d, FitConfig(epochs=6, batch_size=32, lr=5e-3, patience=6))
    removed, losses = greedy_layer_removal(m, d.train.seqs, 2)
    assert removed[0] == 1 and len(removed) == 2 and losses[1] > losses[0] + 0.1
