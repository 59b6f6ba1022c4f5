"""The GPU path (`--device cuda`): skipped where torch sees no GPU, run on a lent GPU machine.

CUDA kernels reduce in another order than the CPU's (and embedding backward uses atomics), so
these tests compare devices to a tolerance, never bit for bit.
"""
import copy
import json

import numpy as np
import pytest
import torch
from torch import nn

from lightfmp.cli import main
from lightfmp.models import MODELS, ModelConfig, build_model
from lightfmp.pruning.slicing import prune_fields
from lightfmp.train import TrainConfig, evaluate, fit
from lightfmp.train.checkpoint import load_checkpoint, save_checkpoint
from lightfmp.train.row_adam import RowAdam

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")

VOCAB = [7, 5, 9, 3, 6, 4]
CFG = ModelConfig(embed_dim=4, hidden=(16, 8), cin_layers=(6, 4))


def _ids(n=256, seed=0, vocab=VOCAB):
    g = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randint(0, v, (n,), generator=g) for v in vocab], 1)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_backbone_on_cuda_matches_cpu_forward_and_backward(name):
    torch.manual_seed(0)
    cpu = build_model(name, VOCAB, CFG)
    gpu = copy.deepcopy(cpu).cuda()
    x, y = _ids(), torch.randint(0, 2, (256,), generator=torch.Generator().manual_seed(1)).float()
    losses = []
    for m, dev in ((cpu, "cpu"), (gpu, "cuda")):
        m.train()
        loss = nn.functional.binary_cross_entropy_with_logits(m(x.to(dev)), y.to(dev))
        loss.backward()
        losses.append(loss.item())
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    for (k, a), (_, b) in zip(cpu.named_parameters(), gpu.named_parameters()):
        ga, gb = a.grad, b.grad.cpu()
        if ga.is_sparse:
            ga, gb = ga.to_dense(), gb.to_dense()
        torch.testing.assert_close(gb, ga, rtol=1e-4, atol=1e-6, msg=f"{name}: gradient of {k}")


class _Mask(nn.Module):
    def __init__(self, z):
        super().__init__()
        self.register_buffer("z", z)

    def forward(self, x, e):
        return self.z


@pytest.mark.parametrize("name", sorted(MODELS))
def test_compact_model_on_cuda_equals_the_masked_model(name):
    keep = [0, 2, 3, 5]
    torch.manual_seed(0)
    m = build_model(name, VOCAB, CFG).cuda().eval()
    with torch.no_grad():
        for t in m.field_tables():
            t.weight.normal_(0, 0.1)
    z = torch.zeros(len(VOCAB), device="cuda")
    z[keep] = 1.0
    m.gate = _Mask(z)
    compact = prune_fields(m, keep).eval()
    assert next(compact.parameters()).is_cuda
    x = _ids(seed=3).cuda()
    with torch.no_grad():
        torch.testing.assert_close(compact(x[:, keep]), m(x), rtol=1e-5, atol=1e-5)


def test_row_adam_on_cuda_matches_cpu():
    torch.manual_seed(0)
    w_cpu = nn.Parameter(torch.randn(50, 4))
    w_gpu = nn.Parameter(w_cpu.detach().cuda())
    opts = RowAdam([w_cpu], lr=1e-2), RowAdam([w_gpu], lr=1e-2)
    for step in range(5):
        ids = torch.randint(0, 30, (128,))
        for w, opt in zip((w_cpu, w_gpu), opts):
            opt.zero_grad()
            e = nn.functional.embedding(ids.to(w.device), w, sparse=True)
            (e.pow(2).sum() + step * e.sum()).backward()
            opt.step()
    torch.testing.assert_close(w_gpu.detach().cpu(), w_cpu.detach(), rtol=1e-5, atol=1e-6)


def _parity(n, seed=0, vocab=20):
    r = np.random.default_rng(seed)
    X = r.integers(0, vocab, (n, 3)).astype(np.int32)
    return X, ((X[:, 0] % 2) == (X[:, 1] % 2)).astype(np.float32)


def test_fit_on_cuda_learns_and_resumes_from_a_checkpoint(tmp_path):
    X, y = _parity(6000)
    train, valid, test = (X[:4000], y[:4000]), (X[4000:5000], y[4000:5000]), (X[5000:], y[5000:])
    cfg = TrainConfig(lr=1e-2, batch_size=256, epochs=4, patience=10, seed=3, device="cuda")
    cfg2 = TrainConfig(**{**cfg.to_dict(), "epochs": 2})

    def model():
        torch.manual_seed(0)
        return build_model("dnn", [20, 20, 20], ModelConfig(embed_dim=4, hidden=(16,)))

    full = model()
    fit(full, train, valid, cfg, progress=False)
    auc_full = evaluate(full, *test, device="cuda").auc
    assert auc_full > 0.95 and next(full.parameters()).is_cuda

    states = {}
    first = model()
    fit(first, train, valid, cfg2, progress=False, on_epoch_end=lambda s: states.update({s["epoch"]: s}))
    path = save_checkpoint(tmp_path / "c.pt", {"run": "cuda"}, "training", trainer=states[2])
    resumed = model()
    res = fit(resumed, train, valid, cfg, progress=False, resume=load_checkpoint(path, {"run": "cuda"})["trainer"])
    assert res.epochs_run == 4
    assert abs(evaluate(resumed, *test, device="cuda").auc - auc_full) < 0.002


def test_cli_train_and_prune_on_cuda_write_runs_that_score_the_same_on_cpu(tmp_path, capsys):
    from lightfmp.data.dataset import PreparedData
    from lightfmp.data.prepare import prepare
    from lightfmp.runs import load_run

    data_dir = tmp_path / "syn"
    prepare("synthetic", None, data_dir, progress=False, rows=20_000, seed=5)
    data = PreparedData.load(data_dir)
    Xte, yte = data.split("test")
    common = ["--data", str(data_dir), "--device", "cuda", "--hidden", "64,32", "--epochs", "3", "--lr", "3e-3",
              "--batch-size", "1024", "--quiet", "--json"]
    for cmd, extra in (("train", []), ("prune", ["--prune-ratio", "0.5", "--pretrain-max-steps", "120"])):
        out = tmp_path / cmd
        main([cmd, *common, "--out", str(out), *extra])
        report = json.loads(capsys.readouterr().out)
        assert report["auc"] > 0.6 and report["device"] == "cuda", report
        run = load_run(out)  # saved on the CPU
        keep = [data.schema.names.index(n) for n in run.schema.names]
        if cmd == "prune":
            assert len(keep) == 19 and report["params_after"] < report["params_before"]
        on_cpu = evaluate(run.model, np.asarray(Xte)[:, keep], yte).auc
        assert on_cpu == pytest.approx(report["auc"], abs=1e-4)


def test_dense_cuda_lookup_has_the_embedding_gradient():
    from lightfmp.nn.embedding import FieldEmbedding

    torch.manual_seed(0)
    emb = FieldEmbedding(VOCAB, 4).cuda()
    x = _ids(5000, seed=4).cuda()  # > 4,096 ids: F.embedding would take its sorting path
    out = emb(x)
    out.pow(2).sum().backward()
    ref = nn.functional.embedding(x.cpu() + emb.offsets.cpu(), emb.weight.detach().cpu().requires_grad_())
    torch.testing.assert_close(out.detach().cpu(), ref.detach())
    w = emb.weight.detach().cpu().requires_grad_()
    nn.functional.embedding(x.cpu() + emb.offsets.cpu(), w).pow(2).sum().backward()
    torch.testing.assert_close(emb.weight.grad.cpu(), w.grad, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["dnn", "xdeepfm"])
def test_cuda_graph_training_matches_eager_training(name):
    from dataclasses import replace

    X, y = _parity(9000, seed=2)
    train, valid = (X[:8000], y[:8000]), (X[8000:], y[8000:])
    cfg = TrainConfig(lr=1e-2, batch_size=256, epochs=4, patience=10, seed=1, device="cuda", tf32=False)
    results = {}
    for graphs in (True, False):
        torch.manual_seed(0)
        m = build_model(name, [20, 20, 20], ModelConfig(embed_dim=4, hidden=(16,), cin_layers=(6, 4)))
        results[graphs] = (fit(m, train, valid, replace(cfg, cuda_graphs=graphs), progress=False), m)
    (g, mg), (e, me) = results[True], results[False]
    assert g.step_mode == "cuda graph" and e.step_mode == "eager"
    # 31 full batches of 256 replayed per epoch, the last 64 rows eager: same losses, same AUC
    for hg, he in zip(g.history, e.history):
        assert hg["loss"] == pytest.approx(he["loss"], rel=2e-3)
    assert g.best_val_auc == pytest.approx(e.best_val_auc, abs=2e-3) and g.best_val_auc > 0.9
