"""Contract tests over the MODELS registry: shapes, gradients, determinism, gate, build args."""
import copy
import inspect
import json

import pytest
import torch
from torch import nn

from lightfmp.models import MODELS, CTRModel, ModelConfig, build_model, from_build_args

VOCAB = [5, 3, 7, 2, 4, 6]
CFG = ModelConfig(embed_dim=4, hidden=(16, 8), cin_layers=(6, 4))
NAMES = sorted(MODELS)


def _ids(n=32, seed=0, vocab=VOCAB):
    g = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randint(0, v, (n,), generator=g) for v in vocab], 1)


class ConstGate(nn.Module):
    """Returns a fixed z ([F] or [B, F])."""

    def __init__(self, z):
        super().__init__()
        self.register_buffer("z", torch.as_tensor(z, dtype=torch.float32))

    def forward(self, x, e):
        return self.z if self.z.dim() == 1 else self.z[: x.shape[0]]


@pytest.mark.parametrize("name", NAMES)
def test_shape_finite_and_int32_ids(name):
    torch.manual_seed(0)
    m = build_model(name, VOCAB, CFG)
    x = _ids()
    out = m(x)
    assert out.shape == (32,) and torch.isfinite(out).all()
    torch.testing.assert_close(m(x.int()), out)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("cfg", [CFG, ModelConfig(embed_dim=4, hidden=(16, 8), cin_layers=(6, 4), batch_norm=True)])
def test_gradient_reaches_every_parameter(name, cfg):
    torch.manual_seed(1)
    m = build_model(name, VOCAB, cfg)
    m(_ids()).pow(2).mean().backward()
    for pname, p in m.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, f"{name}: no gradient on {pname}"


@pytest.mark.parametrize("name", NAMES)
def test_seeded_determinism(name):
    x = _ids()
    outs = []
    for seed in (7, 7, 8):
        torch.manual_seed(seed)
        outs.append(build_model(name, VOCAB, CFG)(x))
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=0)
    assert not torch.allclose(outs[0], outs[2])


@pytest.mark.parametrize("name", NAMES)
def test_gate_reaches_every_per_field_path(name):
    torch.manual_seed(2)
    m = build_model(name, VOCAB, CFG)
    with torch.no_grad():  # non-zero linear weights so the wide/linear path is exercised
        for t in m.field_tables():
            t.weight.normal_()
    x = _ids(8)
    m.gate = ConstGate(torch.zeros(len(VOCAB)))
    out = m(x)
    # every field gated off: the output cannot depend on the input any more
    torch.testing.assert_close(out, out[:1].expand(8), rtol=0, atol=1e-6)
    # a per-sample gate [B, F] equal to ones reproduces the ungated model
    m.gate = ConstGate(torch.ones(8, len(VOCAB)))
    gated = m(x)
    m.gate = None
    torch.testing.assert_close(gated, m(x))


@pytest.mark.parametrize("name", NAMES)
def test_build_args_round_trip(name):
    torch.manual_seed(3)
    m = build_model(name, VOCAB, CFG)
    args = json.loads(json.dumps(m.build_args()))
    assert args["name"] == name and args["vocab_sizes"] == VOCAB
    m2 = from_build_args(args)
    m2.load_state_dict(m.state_dict())
    x = _ids()
    torch.testing.assert_close(m2(x), m(x), rtol=0, atol=0)
    assert m2.cfg == m.cfg


@pytest.mark.parametrize("name", NAMES)
def test_constructor_is_small_and_documented(name):
    cls = MODELS[name]
    assert issubclass(cls, CTRModel) and cls.name == name
    assert len(inspect.signature(cls.__init__).parameters) <= 6
    for section in ("Args:", "Shape:", "Example:"):
        assert section in cls.__doc__, f"{cls.__name__} docstring lacks {section}"


def test_unknown_model_lists_choices():
    with pytest.raises(ValueError, match="dnn, widedeep, deepfm, xdeepfm, pnn"):
        build_model("lr", VOCAB, CFG)


def test_config_validation_and_unknown_keys():
    with pytest.raises(ValueError):
        ModelConfig(hidden=())
    with pytest.raises(ValueError, match="unknown ModelConfig keys"):
        ModelConfig.from_dict({"embed_dim": 4, "layers": [3]})
    assert ModelConfig.from_dict(CFG.to_dict()) == CFG


def test_embedding_init_is_normal_1e4_by_default_and_xavier_with_none():
    sizes = [3000, 5000]
    torch.manual_seed(0)
    normal = build_model("dnn", sizes, ModelConfig(embed_dim=CFG.embed_dim)).embedding.weight.detach()
    assert abs(float(normal.std()) - 1e-4) < 5e-6 and abs(float(normal.mean())) < 5e-6
    torch.manual_seed(0)
    xavier = build_model("dnn", sizes, ModelConfig(embed_dim=CFG.embed_dim, embed_init_std=None)).embedding.weight.detach()
    bound = (6.0 / (sum(sizes) + CFG.embed_dim)) ** 0.5
    assert float(xavier.abs().max()) <= bound and float(xavier.std()) > 0.5 * bound / 3**0.5
    with pytest.raises(ValueError, match="embed_init_std"):
        ModelConfig(embed_init_std=0.0)


def test_field_tables_and_deepcopy_after_training_forward():
    m = build_model("deepfm", VOCAB, CFG)
    assert [type(t).__name__ for t in m.field_tables()] == ["FieldEmbedding", "FieldLinear"]
    m.train()
    m(_ids())
    assert m.embedding.last_sq.shape == () and m.embedding.last_sq.requires_grad
    copy.deepcopy(m)


def test_dcn_cross_network_is_dcn_v1():
    # x_{l+1} = x_0 * (w_l^T x_l) + b_l + x_l (Wang et al. 2017, eq. 3), x_L and the MLP read by one head
    torch.manual_seed(4)
    m = build_model("dcn", VOCAB, ModelConfig(embed_dim=4, hidden=(8,), cross_layers=2)).eval()
    with torch.no_grad():
        for layer in m.cross.layers:
            layer.bias.normal_()
    assert [n for n, _ in m.cross.named_buffers()] == ["layers.0.scalar_bias", "layers.1.scalar_bias"]
    assert all(float(layer.scalar_bias) == 0.0 for layer in m.cross.layers)
    x = _ids(8)
    x0 = m.embedding(x).flatten(1)
    xl = x0
    for layer in m.cross.layers:
        xl = x0 * (xl @ layer.weight).unsqueeze(1) + layer.bias + xl
    want = m.head(torch.cat([xl, m.mlp(x0)], dim=1)).squeeze(-1)
    torch.testing.assert_close(m(x), want)
