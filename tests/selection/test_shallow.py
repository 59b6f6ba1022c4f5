import numpy as np
import pytest

from lightfmp.selection.lasso import LassoSelector
from lightfmp.selection.onehot import one_hot, per_field_sum
from lightfmp.selection.pca import PCASelector
from lightfmp.selection.xgboost import XGBoostSelector

from selection_planted import INFORMATIVE


def test_one_hot_matches_naive():
    X = np.array([[0, 2], [1, 0], [2, 1]], dtype=np.int32)
    dense = one_hot(X, [3, 3]).toarray()
    naive = np.zeros((3, 6), dtype=np.float32)
    for r in range(3):
        for f in range(2):
            naive[r, 3 * f + X[r, f]] = 1
    np.testing.assert_array_equal(dense, naive)
    np.testing.assert_allclose(per_field_sum(np.arange(6), [3, 3]), [3, 12])


@pytest.mark.parametrize("cls", [LassoSelector, XGBoostSelector])
def test_supervised_shallow_rank_informative_first(cls, planted):
    sel = cls().fit(planted)
    s = sel.scores_
    assert s.shape == (6,) and np.all(np.isfinite(s))
    noise = [i for i in range(6) if i not in INFORMATIVE]
    # both planted fields outrank every noise field
    assert min(s[i] for i in INFORMATIVE) > max(s[i] for i in noise), s
    assert sel.get_support(2 / 3) == list(INFORMATIVE)


def test_pca_scores_finite_and_support_count(planted):
    sel = PCASelector().fit(planted)
    assert sel.scores_.shape == (6,) and np.all(np.isfinite(sel.scores_)) and np.all(sel.scores_ >= 0)
    assert len(sel.get_support(0.5)) == 3
    assert sel.explained_variance_ratio_[0] >= sel.explained_variance_ratio_[-1]


def test_lasso_alpha_option_changes_result(planted):
    strong = LassoSelector(alpha=1.0).fit(planted)
    assert np.all(strong.scores_ == 0)  # a large penalty zeroes every coefficient
