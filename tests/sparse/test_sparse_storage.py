"""Compressed storage: the file is about density x dense, the decoded model scores exactly as the masked one."""
import numpy as np
import torch

from lightfmp.models import ModelConfig, build_model, from_build_args
from lightfmp.sparse import SparseTraining, load_sparse, pack_state, save_sparse, unpack_state
from lightfmp.sparse.storage import stored_fraction
from lightfmp.train import predict_logits


def _masked_dnn(density, seed=0):
    torch.manual_seed(seed)
    model = build_model("dnn", [500, 300, 40, 7], ModelConfig(embed_dim=16, hidden=(256, 128), embed_init_std=0.1))
    SparseTraining(model, density, seed=seed)
    return model


def test_roundtrip_is_exact_for_every_encoding():
    g = torch.Generator().manual_seed(0)
    dense = torch.randn(40, 30, generator=g)
    def keep(p):  # +0.0 where dropped (a product with a bool mask would leave -0.0 on negative entries)
        return torch.where(torch.rand(40, 30, generator=g) < p, dense, torch.zeros(()))
    most, fifth, rare = keep(0.98), keep(0.2), keep(0.01)  # dense, bits and index encodings win
    rare[0, 0] = -0.0  # a negative zero is a value: the roundtrip is bit-exact
    state = {"a": dense, "b": most, "c": fifth, "d": rare, "n": torch.tensor(7), "e": torch.zeros(0)}
    blob = pack_state(state)
    kinds = {k: e["kind"] for k, e in blob["tensors"].items()}
    assert kinds == {"a": "dense", "b": "dense", "c": "bits", "d": "index", "n": "dense", "e": "dense"}
    back = unpack_state(blob)
    for k, v in state.items():
        assert back[k].dtype == v.dtype and back[k].shape == v.shape and torch.equal(back[k], v)
        if v.numel():  # bit for bit, the sign of zero included
            assert (back[k].view(-1).numpy().view(np.uint8) == v.view(-1).numpy().view(np.uint8)).all()


def test_file_is_about_density_times_dense_and_scores_are_equal(tmp_path):
    model = _masked_dnn(0.2)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    torch.save({"build_args": model.build_args(), "state_dict": state}, tmp_path / "dense.pt")
    save_sparse(tmp_path / "sparse.pt", state, build_args=model.build_args())
    ratio = (tmp_path / "sparse.pt").stat().st_size / (tmp_path / "dense.pt").stat().st_size
    # values + one bit per entry (0.2 + 1/32), the biases dense, a few kB of file structure
    assert 0.2 + 1 / 32 < stored_fraction(state) < 0.24 and 0.2 < ratio < stored_fraction(state) + 0.02
    blob = load_sparse(tmp_path / "sparse.pt")
    back = from_build_args(blob["build_args"])
    back.load_state_dict(blob["state_dict"])
    X = np.random.default_rng(0).integers(0, 7, (3000, 4)).astype(np.int32)
    a, b = predict_logits(model, X)[0], predict_logits(back, X)[0]
    assert np.array_equal(a, b)


def test_lower_density_gives_a_smaller_file(tmp_path):
    sizes = []
    for d in (0.5, 0.2, 0.05, 0.01):
        save_sparse(tmp_path / f"{d}.pt", _masked_dnn(d).state_dict())
        sizes.append((tmp_path / f"{d}.pt").stat().st_size)
    assert sizes == sorted(sizes, reverse=True)
