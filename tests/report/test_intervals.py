"""Paired intervals and verdicts: the weighted metrics equal scikit-learn's, the t interval is the textbook
one, a planted gap between two scorers is found by the test-set bootstrap and an absent one is not."""
import math

import numpy as np
import pytest
from sklearn.metrics import log_loss, roc_auc_score

from lightfmp.metrics import auc
from lightfmp.report.intervals import (AGREES, CANNOT_TELL, DISAGREES, Interval, TestSetBootstrap, seed_interval,
                                       verdict, weighted_auc, weighted_logloss)


def _data(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(np.float32)
    strong = 1 / (1 + np.exp(-(rng.normal(0, 1, n) + 1.5 * y)))
    weak = 1 / (1 + np.exp(-(rng.normal(0, 1, n) + 0.5 * y)))
    return y, strong, weak


@pytest.mark.parametrize("ties", [False, True])
def test_weighted_metrics_equal_sklearn_with_sample_weight(ties):
    y, s, _ = _data(2000)
    if ties:
        s = np.clip(np.round(s, 1), 0.05, 0.95)  # many tied scores (ties count one half), none at 0 or 1
    w = np.random.default_rng(1).integers(0, 4, (6, y.size))
    got_auc, got_ll = weighted_auc(y, s, w), weighted_logloss(y, s, w)
    for k in range(w.shape[0]):
        assert got_auc[k] == pytest.approx(roc_auc_score(y, s, sample_weight=w[k]), abs=1e-12)
        assert got_ll[k] == pytest.approx(log_loss(y, s, sample_weight=w[k]), abs=1e-9)
    assert weighted_auc(y, s, np.ones((1, y.size)))[0] == pytest.approx(auc(y, s), abs=1e-12)


def test_seed_interval_is_the_student_t_interval():
    d = [0.010, 0.014, 0.008, 0.012, 0.011]
    i = seed_interval(d)
    half = 2.7764451051977987 * np.std(d, ddof=1) / math.sqrt(5)  # t_{4, 0.975}
    assert i.estimate == pytest.approx(np.mean(d)) and i.n == 5
    assert (i.low, i.high) == pytest.approx((np.mean(d) - half, np.mean(d) + half))
    one = seed_interval([0.01])
    assert one.n == 1 and not one.defined and one.side() == 0


def test_bootstrap_finds_a_planted_gap_and_not_an_absent_one():
    y, strong, weak = _data()
    boot = TestSetBootstrap(y, n_boot=400, seed=3)
    a, b = boot.draws("strong", strong, "auc"), boot.draws("weak", weak, "auc")
    gap = auc(y, strong) - auc(y, weak)
    i = TestSetBootstrap.interval([a], [b], gap)
    assert 0 < i.low < gap < i.high  # the true gap (about 0.2) is inside and zero is not
    same = TestSetBootstrap.interval([a], [boot.draws("strong-again", strong.copy(), "auc")], 0.0)
    assert same.low == same.high == 0.0 and same.side() == 0
    # the spread is the test split's: about the Hanley-McNeil SE of an AUC difference, not zero
    assert 0.005 < np.std(a - b) < 0.05


def test_bootstrap_replicates_do_not_depend_on_chunking():
    y, strong, _ = _data(500)
    a = TestSetBootstrap(y, n_boot=50, seed=1, chunk=7).draws("x", strong, "logloss")
    b = TestSetBootstrap(y, n_boot=50, seed=1, chunk=7).draws("x", strong, "logloss")
    assert np.array_equal(a, b) and a.shape == (50,) and np.ptp(a) > 0


def test_verdict_is_decided_by_the_intervals():
    up, down = Interval(0.02, 0.01, 0.03, 5, "seeds"), Interval(-0.02, -0.03, -0.01, 5, "seeds")
    zero = Interval(0.02, -0.01, 0.05, 5, "test rows")
    assert verdict([up], +1) == AGREES and verdict([up], -1) == DISAGREES
    assert verdict([down], -1) == AGREES
    assert verdict([up, zero], +1) == CANNOT_TELL  # one interval holds zero: no verdict, whatever the estimate
    assert verdict([up, down], +1) == CANNOT_TELL
    assert verdict([Interval(0.02, math.nan, math.nan, 1, "seeds")], +1) == CANNOT_TELL
    assert verdict([up], 0) == CANNOT_TELL
