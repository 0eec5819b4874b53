"""Fixed-effect pooling of 2x2 tables: Mantel-Haenszel (OR, RR, RD) and Peto's one-step OR.

Reproduces metafor's ``rma.mh`` and ``rma.peto`` with their defaults (metafor 3.8/5.1 ``R/rma.mh.r``,
``R/rma.peto.r``; formulas in docs/methods.md):

* the pooled estimate uses the raw counts (no continuity correction);
* heterogeneity (Q, I2, H2) uses the study-level estimates of ``escalc`` with ``add=1/2, to="only0",
  drop00=True``: 0.5 is added to every cell of tables with a zero cell, and tables with no events (or
  only events) in both arms get no study-level estimate, so Q has k_yi - 1 degrees of freedom;
* such double-zero tables still enter the pooled estimate: they add nothing to the MH OR or RR, nor to
  Peto's OR, but they do add to the MH risk difference (its weights are n1*n2/N).

I2 and H2 here are Q-based, (Q - df)/Q and Q/df, as metafor prints them for these models.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from livertrials import distributions
from livertrials.synthesis.meta import corrected_cells, or_, rd, rr

__all__ = ["EventsResult", "rma_mh", "rma_peto", "peto"]

MH_MEASURES = ("OR", "RR", "RD")


@dataclass(frozen=True)
class EventsResult:
    """A Mantel-Haenszel or Peto pooled result; OR and RR on the log scale, as metafor reports them.

    k: tables that entered the pooled estimate; k_yi: tables with a study-level estimate (Q has
    k_yi - 1 df). weights: percent of each of the k tables (0 for a table that adds nothing).
    cmh, cmh_p: Cochran-Mantel-Haenszel test with continuity correction (MH OR only, NaN otherwise).
    """

    method: str
    measure: str
    k: int
    k_yi: int
    level: float
    estimate: float
    se: float
    zval: float
    pval: float
    ci_lb: float
    ci_ub: float
    Q: float
    Q_df: int
    Q_p: float
    I2: float
    H2: float
    cmh: float
    cmh_p: float
    weights: tuple[float, ...]
    warnings: tuple[str, ...]

    def as_dict(self) -> dict:
        return asdict(self)


def _tables(a, n1, c, n2):
    """The raw cells a, b, c, d as float arrays, checked as the escalc functions check them."""
    cells = corrected_cells(a, n1, c, n2, add=0.0, to="none", drop00=False)
    if len(cells[0]) == 0:
        raise ValueError("no studies (k = 0)")
    if not np.all(np.isfinite(cells)):
        raise ValueError("counts must be finite (metafor omits tables with missing counts: drop them first)")
    return cells


def _wald(estimate, se, level):
    z = estimate / se if se > 0 else math.nan
    crit = distributions.norm_isf((1 - level) / 2)
    return z, 2 * distributions.norm_sf(abs(z)), estimate - crit * se, estimate + crit * se


def _q_based(Q, k_yi):
    """Q p-value, I2 (%) and H2 with df = k_yi - 1; metafor's values for k_yi <= 1: p 1, I2 0, H2 1."""
    df = k_yi - 1
    if df < 1:
        return 1.0, 0.0, 1.0
    I2 = 0.0 if Q <= df else 100 * (Q - df) / Q
    return float(distributions.chi2_sf(Q, df)), I2, Q / df


def _check_level(level):
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), e.g. 0.95, got {level!r}")


def rma_mh(a, n1, c, n2, measure="OR", level=0.95, *, add=0.5, to="only0", drop00=True,
           correct=True) -> EventsResult:
    """Mantel-Haenszel pooled OR, RR or RD (metafor ``rma.mh``), a events of n1 vs c events of n2.

    SE: Robins-Breslow-Greenland (OR), Greenland-Robins (RR), Sato-Greenland-Robins (RD). add, to
    and drop00 only shape the study-level estimates behind Q (metafor's first ``add``/``to``/``drop00``);
    the pooled estimate always uses the raw counts (metafor's default second values 0, "none", FALSE).
    A pooled OR or RR is NaN (with a warning) when no table has the events it needs, as in metafor.
    """
    if measure not in MH_MEASURES:
        raise ValueError(f"measure must be one of {MH_MEASURES}, got {measure!r}")
    _check_level(level)
    ai, bi, ci, di = _tables(a, n1, c, n2)
    yi, vi = {"OR": or_, "RR": rr, "RD": rd}[measure](ai, ai + bi, ci, ci + di, add=add, to=to, drop00=drop00)
    n1i, n2i = ai + bi, ci + di
    Ni = n1i + n2i
    warn = []
    nan = math.nan
    cmh = cmh_p = nan
    if measure == "OR":
        P, Qi = (ai + di) / Ni, (bi + ci) / Ni
        Ri, Si = ai / Ni * di, bi / Ni * ci
        R, S = Ri.sum(), Si.sum()
        wi = Si
        if R == 0 or S == 0:
            est = se = nan
        else:
            est = math.log(R / S)
            se = math.sqrt(0.5 * ((P * Ri).sum() / R**2 + (P * Si + Qi * Ri).sum() / (R * S) + (Qi * Si).sum() / S**2))
        xt, yt = ai + ci, bi + di
        if xt.sum() > 0 and yt.sum() > 0:
            num = (abs((ai - n1i / Ni * xt).sum()) - (0.5 if correct else 0.0)) ** 2
            cmh = float(num / (n1i / Ni * (n2i / Ni) * (xt * (yt / (Ni - 1)))).sum())
            cmh_p = float(distributions.chi2_sf(cmh, 1))
    elif measure == "RR":
        R, S = (ai * (n2i / Ni)).sum(), (ci * (n1i / Ni)).sum()
        wi = ci / Ni * n1i
        if ai.sum() == 0 or ci.sum() == 0:
            est = se = nan
        else:
            est = math.log(R / S)
            se = math.sqrt((n1i / Ni * (n2i / Ni) * (ai + ci) - ai / Ni * ci).sum() / (R * S))
    else:  # RD
        wi = n1i * (n2i / Ni)
        W = wi.sum()
        est = float((ai * (n2i / Ni) - ci * (n1i / Ni)).sum() / W)
        se = math.sqrt((est * (ci * (n1i / Ni) ** 2 - ai * (n2i / Ni) ** 2 + n1i / Ni * (n2i / Ni) * (n2i - n1i) / 2).sum()
                        + (ai * (n2i - ci) / Ni + ci * (n1i - ai) / Ni).sum() / 2) / W**2)
    if math.isnan(est):
        warn.append(f"MH {measure}: no table has events in both the numerator and the denominator; not estimable")
    z, p, lb, ub = _wald(est, se, level) if not math.isnan(est) else (nan, nan, nan, nan)

    ok = np.isfinite(yi) & np.isfinite(vi)
    y, w = yi[ok], 1 / vi[ok]
    k_yi = int(ok.sum())
    if math.isnan(est):   # metafor: QE and the rest are NA too
        Q = Q_p = I2 = H2 = nan
    else:
        Q = max(0.0, float(w @ (y - est) ** 2)) if k_yi > 1 else 0.0
        Q_p, I2, H2 = _q_based(Q, k_yi)
    return EventsResult(
        method="MH", measure=measure, k=len(ai), k_yi=k_yi, level=level, estimate=float(est), se=float(se),
        zval=float(z), pval=float(p), ci_lb=float(lb), ci_ub=float(ub), Q=Q, Q_df=max(0, k_yi - 1), Q_p=Q_p,
        I2=I2, H2=H2, cmh=cmh, cmh_p=cmh_p, weights=_percent(wi), warnings=tuple(warn))


def _percent(wi):
    total = wi.sum()
    return tuple(float(x) for x in (100 * wi / total if total > 0 else np.full(len(wi), math.nan)))


def peto(a, n1, c, n2, add=0.5, to="only0", drop00=False):
    """Peto's log OR of each table (escalc measure "PETO"): (a - E)/V and 1/V, hypergeometric E and V.

    Same zero-cell handling as meta.or_ (add to every cell of a table with a zero cell, by default).
    """
    ai, bi, ci, di = corrected_cells(a, n1, c, n2, add, to, drop00)
    n1i, n2i = ai + bi, ci + di
    Ni = n1i + n2i
    xt, yt = ai + ci, bi + di
    Ei = xt * n1i / Ni
    Vi = xt * yt * (n1i / Ni) * (n2i / Ni) / (Ni - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (ai - Ei) / Vi, 1 / Vi


def rma_peto(a, n1, c, n2, level=0.95, *, add=0.5, to="only0", drop00=True) -> EventsResult:
    """Peto's one-step pooled log OR (metafor ``rma.peto``): Σ(a - E) / ΣV, SE 1/√ΣV, raw counts.

    Q is Peto's: Σ(a - E)²/V - (Σ(a - E))²/ΣV over tables with V > 0, with k_yi - 1 df (k_yi from the
    study-level estimates under add/to/drop00, as in metafor). Raises ValueError when ΣV = 0 (no events,
    or only events, in every table), where metafor stops too.
    """
    _check_level(level)
    ai, bi, ci, di = _tables(a, n1, c, n2)
    yi, _ = peto(ai, ai + bi, ci, ci + di, add=add, to=to, drop00=drop00)
    n1i, n2i = ai + bi, ci + di
    Ni = n1i + n2i
    xt, yt = ai + ci, bi + di
    Ei = xt * n1i / Ni
    Vi = xt * yt * (n1i / Ni) * (n2i / Ni) / (Ni - 1)
    sumV = Vi.sum()
    if sumV == 0:
        raise ValueError("one of the two outcomes never occurred in any table: Peto's method cannot be used")
    est = float((ai - Ei).sum() / sumV)
    se = math.sqrt(1 / sumV)
    z, p, lb, ub = _wald(est, se, level)
    pos = Vi > 0
    Q = max(0.0, float(((ai - Ei)[pos] ** 2 / Vi[pos]).sum() - (ai - Ei).sum() ** 2 / sumV))
    k_yi = int(np.isfinite(yi).sum())
    if pos.sum() > 1:
        Q_p, I2, H2 = _q_based(Q, k_yi)
    else:
        Q_p, I2, H2 = 1.0, 0.0, 1.0
    return EventsResult(
        method="Peto", measure="OR", k=len(ai), k_yi=k_yi, level=level, estimate=est, se=se, zval=float(z),
        pval=float(p), ci_lb=float(lb), ci_ub=float(ub), Q=Q, Q_df=max(0, k_yi - 1), Q_p=Q_p, I2=I2, H2=H2,
        cmh=math.nan, cmh_p=math.nan, weights=_percent(Vi), warnings=())
