"""Light-FMP's learned mask as a FieldSelector (paper Sec. 2.3-2.4), so every method shares one interface.

`fit` runs Light-FMP's phase 1 only (`lightfmp.pruning.lightfmp.LightFMP.pretrain`: the backbone with a
hard-concrete gate trained on D_S under the Lagrangian of Eq. 4-5); ``scores_`` are P(z_f > 0), whose
order is that of log_alpha, so `get_support` keeps the same fields Light-FMP's own pruning keeps
(both round tau*m halves up). The full method (pruning the pretrained model and continuing on D - D_S)
is `LightFMP.fit`, which `lightfmp.experiment.run` drives phase by phase for the "lightfmp" rows; this wrapper serves
the mask heatmap and code that wants Light-FMP's ranking beside the baselines'.
Options: ``pretrain_size`` (2000), ``pretrain_config`` (a PretrainConfig; default the paper's).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from lightfmp.selection.base import FieldSelector, SelectorConfig
from lightfmp.selection.deep import model_config, train_config


class LightFMPSelector(FieldSelector):
    """Light-FMP's phase-1 mask scores P(z_f > 0) (two-stage; its retraining continues M_T, see module doc)."""

    @dataclass(frozen=True)
    class Params:
        """The hyper-parameters (typed; `FieldSelector.__init__` refuses unknown ones)."""

        pretrain_size: int = 2000
        pretrain_config: Any = None

    name = "lightfmp"
    stage = "two-stage"

    def _fit(self, data: Any, cfg: SelectorConfig) -> np.ndarray:
        from lightfmp.pruning.lightfmp import LightFMP

        tcfg = train_config(cfg)
        est = LightFMP(model=cfg.model_name, prune_ratio=cfg.prune_ratio,
                       pretrain_size=self.params.pretrain_size, model_config=model_config(cfg),
                       train_config=tcfg, pretrain_config=self.params.pretrain_config, seed=tcfg.seed)
        self.pretrained_model_, self.pretrain_ = est.pretrain(data)
        return np.asarray(self.pretrain_.keep_probability, dtype=np.float64)
