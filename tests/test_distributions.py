"""livertrials.distributions gives what scipy.stats gives, bit for bit (it exists to skip importing scipy.stats)."""

import numpy as np
import pytest
from scipy import stats

from livertrials import distributions

X = np.array([-40.0, -8.5, -3.0, -1.959963984540054, -0.5, -1e-300, 0.0, 1e-300, 0.3, 1.0, 2.5, 7.0, 38.0, 1e6,
              np.inf, -np.inf, np.nan])
Q = np.array([0.0, 1e-300, 1e-12, 0.0005, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.975, 0.999999, 1.0, np.nan])
DF = [1, 1.5, 2, 3, 7, 29, 120, 1e5]


def same(ours, theirs) -> None:
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.dtype == theirs.dtype
    assert ours.tobytes() == theirs.tobytes() or np.array_equal(ours, theirs, equal_nan=True), (ours, theirs)


@pytest.mark.parametrize("name, reference", [("norm_sf", stats.norm.sf), ("norm_isf", stats.norm.isf)])
def test_normal(name, reference):
    grid = X if name.endswith("sf") and "isf" not in name else Q
    same(getattr(distributions, name)(grid), reference(grid))
    for value in grid:   # scalars: the pipeline asks for one value at a time
        same(getattr(distributions, name)(value), reference(value))


@pytest.mark.parametrize("df", DF)
@pytest.mark.parametrize("name, reference, grid", [
    ("t_sf", stats.t.sf, X), ("t_ppf", stats.t.ppf, Q), ("t_isf", stats.t.isf, Q),
    ("chi2_sf", stats.chi2.sf, np.abs(X)), ("chi2_ppf", stats.chi2.ppf, Q), ("chi2_isf", stats.chi2.isf, Q)])
def test_one_df(name, reference, grid, df):
    same(getattr(distributions, name)(grid, df), reference(grid, df))
    for value in grid:
        same(getattr(distributions, name)(value, df), reference(value, df))


@pytest.mark.parametrize("dfn, dfd", [(1, 1), (1, 5), (2, 30), (4, 7.5), (12, 200)])
def test_f(dfn, dfd):
    grid = np.abs(X)
    same(distributions.f_sf(grid, dfn, dfd), stats.f.sf(grid, dfn, dfd))


def test_a_known_value():
    # the two-sided 95% normal quantile and the median of chi-squared(1): textbook values
    assert distributions.norm_isf(0.025) == pytest.approx(1.959963984540054, rel=1e-15)
    assert distributions.chi2_ppf(0.5, 1) == pytest.approx(0.454936423119573, rel=1e-14)
