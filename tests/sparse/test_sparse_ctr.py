"""DSL on a real CTR sample end to end: a DNN trained by `fit` at density 0.2 learns, keeps its budget, and
its compressed file reloads to the same scores."""
import numpy as np
import torch

from lightfmp.data.dataset import PreparedData
from lightfmp.models import ModelConfig, build_model, from_build_args
from lightfmp.sparse import SparseTraining, UpdateSchedule, active_count, load_sparse, save_sparse
from lightfmp.train import TrainConfig, evaluate, fit, predict_logits, seed_everything


def test_dnn_at_density_0_2_on_movielens(movielens_data, tmp_path):
    data = PreparedData.load(movielens_data)
    (Xt, yt), valid, (Xs, ys) = data.split("train"), data.split("valid"), data.split("test")
    seed_everything(0)
    model = build_model("dnn", data.schema.vocab_sizes, ModelConfig(hidden=(200, 100)))
    st = SparseTraining(model, 0.2, schedule=UpdateSchedule(interval=20))
    cfg = TrainConfig(batch_size=256, epochs=2, patience=1, threads=1)
    fit(model, (Xt[:30000], yt[:30000]), valid, cfg, progress=False, on_step=st.fit_hook())
    auc = evaluate(model, Xs, ys).auc
    assert auc > 0.70, auc  # measured 0.717 (seed 0); the dense DNN on the whole split ~0.78; chance 0.5
    assert st.updates >= 5 and st.stats()["fired_ratio"] > 0.25
    for name, p in st.params.items():  # the restored best epoch keeps the budget
        assert int((p != 0).sum()) <= active_count(p.numel(), 0.2)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    torch.save({"build_args": model.build_args(), "state_dict": state}, tmp_path / "dense.pt")
    save_sparse(tmp_path / "sparse.pt", state, build_args=model.build_args())
    assert (tmp_path / "sparse.pt").stat().st_size <= 0.26 * (tmp_path / "dense.pt").stat().st_size
    blob = load_sparse(tmp_path / "sparse.pt")
    back = from_build_args(blob["build_args"])
    back.load_state_dict(blob["state_dict"])
    assert np.array_equal(predict_logits(model, Xs)[0], predict_logits(back, Xs)[0])
