import dataclasses

import numpy as np
import pytest

from lightfmp.selection.base import FieldSelector, SelectorConfig, n_kept, top_fields


class Fixed(FieldSelector):
    name = "fixed"

    def __init__(self, scores):
        super().__init__()
        self._scores = scores

    def _fit(self, data, cfg):
        return self._scores


@pytest.mark.parametrize("m,tau,kept", [(39, 0.5, 19), (10, 0.5, 5), (10, 0.25, 7), (5, 0.5, 2), (10, 0.0, 10),
                                        (4, 0.75, 1), (22, 0.5, 11), (3, 0.9, 1)])
def test_n_kept_is_m_minus_round_tau_m(m, tau, kept):
    assert n_kept(m, tau) == kept


def test_n_kept_agrees_with_lightfmp():
    from lightfmp.pruning.lightfmp import num_pruned_fields

    for m in range(1, 45):
        for tau in (0.0, 0.1, 0.25, 0.5, 0.75, 0.9):
            assert n_kept(m, tau) == m - num_pruned_fields(m, tau)


def test_n_kept_rejects_bad_ratio():
    with pytest.raises(ValueError):
        n_kept(10, 1.0)
    with pytest.raises(ValueError):
        n_kept(10, -0.1)


def test_ties_broken_by_position_and_output_sorted():
    assert top_fields(np.array([1.0, 3.0, 3.0, 3.0, 0.5]), 2) == [1, 2]
    assert top_fields(np.array([0.0, 0.0, 0.0, 0.0]), 3) == [0, 1, 2]
    assert top_fields(np.array([0.1, 5.0, 0.2, 4.0]), 2) == [1, 3]


def test_get_support_counts_and_requires_fit(planted):
    sel = Fixed(np.array([0.3, 0.9, 0.1, 0.5, 0.2, 0.8]))
    with pytest.raises(RuntimeError):
        sel.get_support(0.5)
    sel.fit(planted)
    assert sel.get_support(0.5) == [1, 3, 5]
    assert sel.get_support(0.0) == list(range(6))
    assert len(sel.get_support(0.75)) == 6 - 5  # 4.5 rounds up
    assert sel.scores_by_name()["f1"] == pytest.approx(0.9)


def test_fit_rejects_wrong_length_and_nan(planted):
    with pytest.raises(RuntimeError):
        Fixed(np.ones(3)).fit(planted)
    with pytest.raises(RuntimeError):
        Fixed(np.array([1, 2, np.nan, 1, 1, 1.0])).fit(planted)


def test_hyper_parameters_are_typed_and_unknown_ones_refused():
    from lightfmp.errors import InputError
    from lightfmp.selection import SELECTORS

    for name, cls in SELECTORS.items():  # every selector declares its own, with defaults
        assert cls().get_params().keys() == {f.name for f in dataclasses.fields(cls.Params)}, name
    lasso = SELECTORS["lasso"].from_text({"alpha": "0.01", "max_iter": "50"})
    assert lasso.get_params() == {"alpha": 0.01, "max_iter": 50, "tol": 1e-4}
    with pytest.raises(InputError, match="unknown hyper-parameter foo; it takes alpha, max_iter, tol"):
        SELECTORS["lasso"](foo=1)
    with pytest.raises(InputError, match="max_iter: expected int"):
        SELECTORS["lasso"].from_text({"max_iter": "1.5"})
    assert SELECTORS["adafs"].from_text({"hard": "no"}).params.hard is False
