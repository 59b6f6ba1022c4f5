"""A physical cut equals the model with the matching binary masks, to 1e-5, for every kind of cut."""
import pytest
import torch

from lightfmp.pruning.plan import PruningPlan
from lightfmp.sequential.prunerec.surgery import Cut, cut_model, mask_model
from lightfmp.sequential.transformer import NextItemTransformer, TransformerConfig, non_embedding_params


def _model(seed: int = 0) -> NextItemTransformer:
    torch.manual_seed(seed)
    m = NextItemTransformer(TransformerConfig(num_items=60, d_model=32, n_layers=3, n_heads=4, head_dim=8, d_ff=48))
    with torch.no_grad():   # non-trivial norms, so a wrong slice of a norm weight shows
        for n, p in m.named_parameters():
            if n.endswith("norm.weight"):
                p.uniform_(0.5, 1.5)
    return m.eval()


def _seqs() -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    s = torch.randint(1, 61, (7, 12), generator=g)
    lengths = torch.tensor([12, 1, 5, 9, 3, 12, 7])
    return torch.where(torch.arange(12) < lengths.view(-1, 1), s, 0)   # right-padded


CUTS = {
    "heads": Cut(heads={0: (1, 3), 1: (0,), 2: (0, 1, 2)}),
    "heads-all-of-a-layer": Cut(heads={1: ()}),
    "dims": Cut(dims=tuple(range(0, 32, 3))),
    "channels": Cut(channels={0: (0, 5, 7, 40), 2: tuple(range(10, 30))}),
    "drop": Cut(drop=(1,)),
    "everything": Cut(heads={0: (2,), 2: (0, 3)}, dims=tuple(range(1, 32, 2)), channels={1: (4, 8)}, drop=(1,)),
}


@pytest.mark.parametrize("name", list(CUTS))
def test_cut_equals_masked_model(name):
    model, seqs, cut = _model(), _seqs(), CUTS[name]
    small = cut_model(model, cut)
    masked = mask_model(model, cut)
    want = masked.score_next(seqs)
    got = small.score_next(seqs)
    assert type(small) is NextItemTransformer and got.shape == (7, 60)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    assert non_embedding_params(small) < non_embedding_params(model)
    # the cut really changes the function: the masks are not no-ops
    assert (want - model.score_next(seqs)).abs().max() > 1e-4


def test_cut_sizes():
    model = _model()
    small = cut_model(model, CUTS["everything"])
    c = small.cfg
    assert (c.n_layers, c.heads, c.ff, c.d_model) == (2, (1, 2), (48, 48), 16)
    assert small.blocks[0].attn.q.weight.shape == (8, 16) and small.item_emb.weight.shape == (61, 16)


def test_from_shared_plan():
    plan = PruningPlan(heads={"blocks.0.attn": [1, 3]}, units={"blocks.2.mlp": [3, 4], "item_emb": [0, 1, 2, 3]},
                       drop=("blocks.1",))
    cut = Cut.from_plan(plan)
    assert cut == Cut(heads={0: (1, 3)}, dims=(0, 1, 2, 3), channels={2: (3, 4)}, drop=(1,))


def test_bad_cut_is_refused():
    with pytest.raises(ValueError, match="heads\\[0\\]"):
        cut_model(_model(), Cut(heads={0: (9,)}))
    with pytest.raises(ValueError, match="drop"):
        cut_model(_model(), Cut(drop=(3,)))
