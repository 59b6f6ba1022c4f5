"""The paper's own numbers (Light-FMP, Tables 2 and 3), for the direction of each claim a reproduction tests.

Table 2 (xDeepFM, tau = 0.5): (AUC, logloss, TT relative to No Selection) per method and data set; the
paper's MovieLens is MovieLens-20M and its Criteo and Avazu the full sets. Table 3 (Criteo): (AUC,
logloss, TT in seconds) without and with Light-FMP per backbone. A reproduced data set is compared with
the paper's column of the same family (`paper_dataset`): the Criteo 8K sample and Criteo 18K with Criteo,
MovieLens 100K and the ML-1M sample with MovieLens.
"""
from __future__ import annotations

PAPER_T2: dict[str, dict[str, tuple[float, float, float]]] = {
    "criteo": {"none": (0.7913, 0.4616, 1.0), "lasso": (0.7977, 0.4531, 0.6482), "pca": (0.7965, 0.4543, 0.7007),
               "xgboost": (0.7746, 0.4721, 0.5866), "optfs": (0.8036, 0.4475, 1.0761),
               "optem": (0.8043, 0.4468, 1.2672), "autofield": (0.7996, 0.4516, 1.1896),
               "adafs": (0.7934, 0.4568, 0.3368), "mvfs": (0.7956, 0.4550, 1.0889),
               "lightfmp": (0.8022, 0.4486, 0.6084)},
    "movielens": {"none": (0.8045, 0.5357, 1.0), "lasso": (0.7163, 0.6178, 0.5994), "pca": (0.8062, 0.5334, 0.7093),
                  "xgboost": (0.7979, 0.5426, 0.6849), "optfs": (0.7176, 0.6166, 1.3974),
                  "optem": (0.7171, 0.6168, 1.9803), "autofield": (0.8051, 0.5352, 0.7615),
                  "adafs": (0.7185, 0.6166, 0.3189), "mvfs": (0.7171, 0.6170, 0.3329),
                  "lightfmp": (0.8071, 0.5324, 0.7080)},
    "avazu": {"none": (0.7782, 0.3807, 1.0), "lasso": (0.7600, 0.3907, 0.6480), "pca": (0.7587, 0.3911, 0.4742),
              "xgboost": (0.7650, 0.3878, 0.7420), "optfs": (0.7808, 0.3795, 0.6466),
              "optem": (0.7807, 0.3800, 1.5600), "autofield": (0.7824, 0.3788, 0.4291),
              "adafs": (0.7758, 0.3829, 0.3213), "mvfs": (0.7819, 0.3787, 0.3365),
              "lightfmp": (0.7845, 0.3777, 0.6037)},
}


def _hms(h: int, m: int, s: int) -> float:
    return 3600.0 * h + 60.0 * m + s


# backbone -> ((AUC, logloss, TT s) without, (AUC, logloss, TT s) with Light-FMP); Criteo.
PAPER_T3: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "xdeepfm": ((0.7913, 0.4616, _hms(4, 23, 23)), (0.8022, 0.4486, _hms(2, 40, 15))),
    "deepfm": ((0.7891, 0.4630, _hms(5, 5, 12)), (0.7941, 0.4557, _hms(2, 25, 46))),
    "widedeep": ((0.7746, 0.4833, _hms(5, 2, 43)), (0.7888, 0.4620, _hms(2, 36, 50))),
    "pnn": ((0.7800, 0.4801, _hms(3, 32, 52)), (0.7952, 0.4551, _hms(2, 37, 2))),
    "dnn": ((0.7737, 0.4838, _hms(4, 52, 26)), (0.7847, 0.4640, _hms(2, 25, 36))),
}
METRIC_INDEX = {"auc": 0, "logloss": 1, "tt": 2}


def paper_dataset(name: str) -> str | None:
    """The paper's data set a reproduced one stands for (by its name: criteo*, avazu*, movielens*)."""
    for family in PAPER_T2:
        if name.lower().startswith(family):
            return family
    return None


def paper_t2(dataset: str, method: str, metric: str) -> float | None:
    fam = paper_dataset(dataset)
    row = PAPER_T2.get(fam or "", {}).get(method)
    return None if row is None else row[METRIC_INDEX[metric]]


def paper_t3(dataset: str, backbone: str, metric: str) -> tuple[float, float] | None:
    """(without, with) Light-FMP in the paper's Table 3; it has Criteo only."""
    if paper_dataset(dataset) != "criteo" or backbone not in PAPER_T3:
        return None
    without, with_ = PAPER_T3[backbone]
    i = METRIC_INDEX[metric]
    return without[i], with_[i]
