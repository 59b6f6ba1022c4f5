"""THE equivalence test of field pruning (paper section 2.4): compact model on x[:, keep] equals the
gated model with the binary mask, for every backbone, also with BatchNorm and dropout in eval mode."""
import pytest
import torch
from torch import nn

from lightfmp.models import MODELS, ModelConfig, build_model
from lightfmp.pruning.slicing import SLICERS, prune_fields

VOCAB = [5, 3, 7, 2, 4, 6]
KEEP = [0, 2, 3, 5]
NAMES = sorted(MODELS)
CFGS = {
    "plain": ModelConfig(embed_dim=4, hidden=(16, 8), cin_layers=(6, 4)),
    "bn_dropout": ModelConfig(embed_dim=4, hidden=(16, 8), cin_layers=(6, 4), batch_norm=True, dropout=0.3),
    "cin_split": ModelConfig(embed_dim=4, hidden=(16,), cin_layers=(6, 4, 2), cin_split_half=True),
}


def _ids(n=64, seed=0, vocab=VOCAB):
    g = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randint(0, v, (n,), generator=g) for v in vocab], 1)


class FixedGate(nn.Module):
    """A field gate with fixed values z[F] (binary in the key test)."""

    def __init__(self, z):
        super().__init__()
        self.z = nn.Parameter(torch.as_tensor(z, dtype=torch.float32))

    def forward(self, x, e):
        return self.z


def _mask(keep, F=len(VOCAB)):
    z = torch.zeros(F)
    z[keep] = 1.0
    return z


def _trained(name, cfg, seed=0, steps=5):
    """A model after a few Adam steps with the mask attached, so weights and BN stats are non-trivial."""
    torch.manual_seed(seed)
    m = build_model(name, VOCAB, cfg)
    with torch.no_grad():
        for t in m.field_tables():  # the linear tables start at zero; make every slice matter
            t.weight.normal_(0, 0.1)
    m.gate = FixedGate(_mask(KEEP))
    m.gate.z.requires_grad_(False)
    opt = torch.optim.Adam([p for p in m.parameters() if p.requires_grad], lr=1e-2)
    x, y = _ids(64, seed=1), torch.randint(0, 2, (64,), generator=torch.Generator().manual_seed(2)).float()
    m.train()
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.binary_cross_entropy_with_logits(m(x), y).backward()
        opt.step()
    return m.eval()


def _params(m):
    return sum(p.numel() for n, p in m.named_parameters() if not n.startswith("gate"))


@pytest.mark.parametrize("cfg_name", list(CFGS))
@pytest.mark.parametrize("name", NAMES)
def test_compact_model_equals_masked_model(name, cfg_name):
    cfg = CFGS[cfg_name]
    if cfg_name == "cin_split" and name != "xdeepfm":
        pytest.skip("split-half only concerns xDeepFM")
    m = _trained(name, cfg)
    if cfg.batch_norm:
        bn = m.mlp.layers[1]
        assert bn.num_batches_tracked > 0 and not torch.allclose(bn.running_mean, torch.zeros_like(bn.running_mean))
    before = {k: v.clone() for k, v in m.state_dict().items()}
    x = _ids(50, seed=3)

    p = prune_fields(m, KEEP)

    assert p.vocab_sizes == [VOCAB[i] for i in KEEP] and p.gate is None and not p.training
    torch.testing.assert_close(p(x[:, KEEP]), m(x), rtol=1e-5, atol=1e-5)
    assert _params(p) < _params(m)
    # the original is unchanged, gate included
    assert isinstance(m.gate, FixedGate)
    for k, v in m.state_dict().items():
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)
    # and does not share storage with the compact model
    with torch.no_grad():
        for q in p.parameters():
            q.add_(1.0)
    torch.testing.assert_close(m.state_dict()["embedding.weight"], before["embedding.weight"], rtol=0, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_the_gate_actually_matters(name):
    # guards the key test: without the mask, the same model's output differs from the compact one
    m = _trained(name, CFGS["plain"])
    x = _ids(50, seed=3)
    p = prune_fields(m, KEEP)
    m.gate = None
    assert not torch.allclose(p(x[:, KEEP]), m(x), atol=1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_soft_kept_values_fold_into_the_tables(name):
    m = _trained(name, CFGS["plain"])
    z = torch.tensor([0.9, 0.0, 0.5, 1.3, 0.0, 0.7])
    m.gate = FixedGate(z)
    x = _ids(40, seed=4)
    torch.testing.assert_close(prune_fields(m, KEEP, scale=z)(x[:, KEEP]), m(x), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(prune_fields(m, KEEP, scale=z[KEEP])(x[:, KEEP]), m(x), rtol=1e-5, atol=1e-5)


def test_keep_all_fields_is_a_copy_and_unsorted_keep_is_sorted():
    m = _trained("pnn", CFGS["plain"])
    m.gate = None
    x = _ids(20, seed=5)
    torch.testing.assert_close(prune_fields(m, range(6))(x), m(x), rtol=0, atol=0)
    m.gate = FixedGate(_mask(KEEP))
    p = prune_fields(m, list(reversed(KEEP)))
    torch.testing.assert_close(p(x[:, KEEP]), m(x), rtol=1e-5, atol=1e-5)


def test_single_kept_field_works_for_pnn_and_xdeepfm():
    for name in ("pnn", "xdeepfm"):
        m = _trained(name, CFGS["plain"])
        m.gate = FixedGate(_mask([2]))
        x = _ids(20, seed=6)
        torch.testing.assert_close(prune_fields(m, [2])(x[:, [2]]), m(x), rtol=1e-5, atol=1e-5)


def test_bad_keep_is_refused():
    m = build_model("dnn", VOCAB, CFGS["plain"])
    for keep in ([], [1, 1], [6], [-1]):
        with pytest.raises(ValueError):
            prune_fields(m, keep)
    with pytest.raises(ValueError, match="scale"):
        prune_fields(m, [0, 1], scale=[1.0, 1.0, 1.0])


def test_an_unregistered_field_dependent_layer_is_caught():
    class Odd(nn.Module):
        def __init__(self, F):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(F))

    m = build_model("dnn", VOCAB, CFGS["plain"])
    m.odd = Odd(6)
    import lightfmp.models as models

    orig = models.MODELS["dnn"]

    class DNNOdd(orig):
        def __init__(self, vocab_sizes, cfg):
            super().__init__(vocab_sizes, cfg)
            self.odd = Odd(len(vocab_sizes))

    models.BACKBONES["dnn"] = DNNOdd
    try:
        with pytest.raises(RuntimeError, match="no slicer"):
            prune_fields(m, KEEP)
    finally:
        models.BACKBONES["dnn"] = ("dnn", "DNN")


def test_every_backbone_has_a_slicer():
    assert set(SLICERS) == set(MODELS)
