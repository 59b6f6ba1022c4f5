import numpy as np
import pytest
from sklearn.metrics import log_loss, roc_auc_score

from lightfmp.metrics import auc, logloss, sigmoid


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_matches_sklearn_with_ties(seed):
    r = np.random.default_rng(seed)
    y = r.integers(0, 2, 2000)
    s = np.round(r.normal(size=2000) + 0.8 * y, 1)  # rounding makes many ties
    assert auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_auc_extremes_and_single_class():
    y = np.array([0, 0, 1, 1])
    assert auc(y, np.array([0.1, 0.2, 0.3, 0.4])) == 1.0
    assert auc(y, np.array([0.4, 0.3, 0.2, 0.1])) == 0.0
    assert auc(y, np.zeros(4)) == 0.5
    assert np.isnan(auc(np.ones(3), np.array([0.1, 0.2, 0.3])))


def test_logloss_matches_sklearn_and_clips():
    r = np.random.default_rng(3)
    y = r.integers(0, 2, 500)
    p = r.uniform(0.01, 0.99, 500)
    assert logloss(y, p) == pytest.approx(log_loss(y, p), rel=1e-12)
    # a certain and wrong prediction is large but finite
    assert np.isfinite(logloss(np.array([1.0]), np.array([0.0])))
    assert logloss(np.array([1.0]), np.array([0.0])) == pytest.approx(-np.log(1e-7))


def test_sigmoid_stable():
    z = np.array([-1000.0, -1.0, 0.0, 1.0, 1000.0])
    out = sigmoid(z)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out[1:4], 1 / (1 + np.exp(-z[1:4])))
    assert out[0] == 0.0 and out[-1] == 1.0
