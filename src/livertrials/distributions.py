"""Normal, t, chi-squared and F distribution functions, computed as scipy.stats computes them: its ``norm``, ``t``,
``chi2`` and ``f`` call these scipy.special functions (scipy/stats/_continuous_distns.py). Importing scipy.stats
takes about a second, paid by every rule process that loads the statistics, most of which never need more than a
quantile; scipy.special loads in a fraction of that. tests/test_distributions.py checks every function against
scipy.stats, bit for bit. Arguments as in scipy.stats (``x`` or ``q`` first, then the degrees of freedom)."""

from __future__ import annotations

import numpy as np
from scipy import special


def norm_sf(x):
    return special.ndtr(-x)


def norm_isf(q):
    return -special.ndtri(q)


def t_sf(x, df):
    return special.stdtr(df, -x)


def t_ppf(q, df):
    # stdtrit(df, 0) is +inf; scipy.stats puts the lower end of the support there, as here
    return np.where(q == 0, -np.inf, special.stdtrit(df, q))[()]


def t_isf(q, df):
    return -t_ppf(q, df)


def chi2_sf(x, df):
    return special.chdtrc(df, x)


def chi2_ppf(q, df):
    return 2 * special.gammaincinv(df / 2, q)


def chi2_isf(q, df):
    return special.chdtri(df, q)


def f_sf(x, dfn, dfd):
    return special.fdtrc(dfn, dfd, x)
