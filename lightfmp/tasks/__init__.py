"""The task a run solves: what is predicted, which metrics score it, which one model selection reads.

Three task families share the pipeline (`lightfmp.experiment.run`): ``ctr`` (pointwise click
prediction, AUC and logloss, the Light-FMP paper), ``topk`` (top-K recommendation from implicit
feedback, full-ranking Recall@K and NDCG@K, DSL's setting) and ``next-item`` (next-item prediction over
a user's sequence, full-ranking HR@K and NDCG@K, PruneRec's setting). A data object names its task
(`task_of`); the metrics live in `lightfmp.tasks.ranking` (torch, batched) and `lightfmp.metrics` (AUC).
"""
from __future__ import annotations

from typing import Any

from lightfmp.tasks.base import CTR, NEXT_ITEM, TASKS, TOPK, Task

__all__ = ["CTR", "NEXT_ITEM", "TASKS", "TOPK", "Task", "task_of"]


def task_of(data: Any) -> Task:
    """The task of a data object: its ``task`` attribute (a Task or a name), CTR when it has none
    (a prepared CTR folder, `lightfmp.data.dataset.PreparedData`)."""
    task = getattr(data, "task", None)
    if task is None:
        return CTR
    return task if isinstance(task, Task) else TASKS[str(task)]
