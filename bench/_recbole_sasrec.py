"""RecBole 1.2.1's SASRec on benchmark atomic files written by ``bench/prunerec.py``; run with the python of
a separate RecBole environment (never a project dependency). Prints one JSON line: test and best-valid
HR/NDCG@5,10,20, epochs run.

The files carry ``item_id_list`` (the history) and ``item_id`` (the target) per row, so RecBole does no
augmentation and splits nothing: its train/valid/test rows are exactly ours. Full-sort evaluation; for a
sequential model RecBole masks no history item, as ours. SASRec keeps RecBole's defaults (2 layers,
hidden 64, 2 heads, inner 256, dropout 0.5, CE loss, Adam 1e-3), early stopping on validation NDCG@10.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")   # RecBole reloads its own checkpoint


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data-path", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--max-len", type=int, default=50)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    import torch
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.model.sequential_recommender import SASRec
    from recbole.trainer import Trainer
    from recbole.utils import init_seed

    torch.set_num_threads(a.threads)
    cfg = {
        "data_path": a.data_path, "benchmark_filename": ["train", "valid", "test"],
        "load_col": {"inter": ["user_id", "item_id_list", "item_id"]}, "alias_of_item_id": ["item_id_list"],
        "MAX_ITEM_LIST_LENGTH": a.max_len, "train_neg_sample_args": None, "loss_type": "CE",
        "epochs": a.epochs, "stopping_step": 5, "train_batch_size": 256, "eval_batch_size": 1024,
        "metrics": ["Hit", "NDCG"], "topk": [5, 10, 20], "valid_metric": "NDCG@10",
        "eval_args": {"mode": "full", "order": "TO", "split": None, "group_by": "user"},
        "seed": a.seed, "reproducibility": True, "device": "cpu", "use_gpu": False, "show_progress": False,
        "checkpoint_dir": os.path.join(a.data_path, "saved"), "log_wandb": False,
        "user_inter_num_interval": "[0,inf)", "item_inter_num_interval": "[0,inf)",
    }
    config = Config(model="SASRec", dataset=a.dataset, config_dict=cfg)
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train, valid, test = data_preparation(config, dataset)
    model = SASRec(config, train.dataset).to(config["device"])
    trainer = Trainer(config, model)
    best_score, best_valid = trainer.fit(train, valid, saved=True, show_progress=False)
    result = trainer.evaluate(test, load_best_model=True, show_progress=False)

    def conv(r) -> dict:
        return {k.replace("hit", "hr"): float(v) for k, v in dict(r).items()}
    print(json.dumps({"test": conv(result), "valid": conv(best_valid), "epochs_run": len(trainer.train_loss_dict),
                      "items": int(dataset.item_num), "train_rows": len(train.dataset)}))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
