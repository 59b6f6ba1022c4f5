"""Field selectors: one interface (`FieldSelector`), the paper's nine baselines and Light-FMP's mask.

``SELECTORS`` maps the CLI's ``--method`` names to classes. Shallow: lasso, pca, xgboost. Two-stage
deep: autofield, optfs, optem (search, then retrain on what they keep). Single-stage deep: adafs, mvfs
(the gated model trained once is the final model). Light-FMP's mask: lightfmp.
"""
from lightfmp.selection.adafs import AdaFSSelector
from lightfmp.selection.autofield import AutoFieldSelector
from lightfmp.selection.base import FieldSelector, SelectorConfig, n_kept, top_fields
from lightfmp.selection.lasso import LassoSelector
from lightfmp.selection.lightfmp_mask import LightFMPSelector
from lightfmp.selection.mvfs import MvFSSelector
from lightfmp.selection.optem import OptEmSelector
from lightfmp.selection.optfs import OptFSSelector
from lightfmp.selection.pca import PCASelector
from lightfmp.selection.xgboost import XGBoostSelector

SELECTORS: dict[str, type[FieldSelector]] = {
    c.name: c for c in (LassoSelector, PCASelector, XGBoostSelector, AutoFieldSelector, AdaFSSelector,
                        MvFSSelector, OptFSSelector, OptEmSelector, LightFMPSelector)
}
BASELINES = tuple(n for n in SELECTORS if n != "lightfmp")  # the `select` verb's --method choices

__all__ = ["BASELINES", "FieldSelector", "SELECTORS", "SelectorConfig", "n_kept", "top_fields",
           *(c.__name__ for c in SELECTORS.values())]
