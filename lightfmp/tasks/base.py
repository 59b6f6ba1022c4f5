"""`Task`: a task family's name, its test metrics and the validation metric that selects the model."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Task:
    """One task family.

    Attributes:
        name: ``ctr``, ``topk`` or ``next-item``.
        metrics: the metrics a run reports on the test split, in report order (``recall@20``, ...).
        select_on: the validation metric early stopping and model selection maximise; never a test metric.
        ks: the cut-offs of the ranking metrics (empty for CTR).
    """

    name: str
    metrics: tuple[str, ...]
    select_on: str
    ks: tuple[int, ...] = ()

    def metric_names(self, ks: tuple[int, ...] | None = None) -> tuple[str, ...]:
        """The metric names at other cut-offs (``ks``), in this task's order."""
        if ks is None or not self.ks:
            return self.metrics
        bases = dict.fromkeys(m.split("@")[0] for m in self.metrics)
        return tuple(f"{b}@{k}" for b in bases for k in ks)


# CTR: the paper's metrics; early stopping on validation AUC (ties to the lower logloss, `lightfmp.train.fit`).
CTR = Task("ctr", ("auc", "logloss"), "auc")
# Top-K from implicit feedback: full ranking over every item, training items excluded (LightGCN's protocol,
# DSL's evaluation); model selection on validation Recall@20.
TOPK = Task("topk", ("recall@20", "ndcg@20"), "recall@20", ks=(20,))
# Next-item: the held-out next item ranked among every item (PruneRec reports HR and NDCG at 5, 10, 20);
# model selection on validation NDCG@10.
NEXT_ITEM = Task("next-item", ("hr@5", "hr@10", "hr@20", "ndcg@5", "ndcg@10", "ndcg@20"), "ndcg@10",
                 ks=(5, 10, 20))

TASKS: dict[str, Task] = {t.name: t for t in (CTR, TOPK, NEXT_ITEM)}
