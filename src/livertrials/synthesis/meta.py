"""Inverse-variance meta-analysis that reproduces R metafor (escalc + intercept-only rma.uni).

Behaviour follows metafor 5.1 (``R/escalc.r``, ``R/rma.uni.r``, ``R/predict.rma.r``,
``R/confint.rma.uni.r``); see ``tests/test_synthesis_meta_metafor.py`` for the reference values.

Deliberate differences from metafor (all documented on the functions):

* PM/PMM and the Q-profile CI are solved to machine precision (metafor's ``uniroot`` stops at
  ~1.2e-4), and their search interval is widened instead of giving up at ``tau2.max``.
* Non-convergence of Fisher scoring falls back to another estimator (default DL) with a
  warning string instead of stopping (metafor needs ``method=c("REML","DL")`` for that).
* k = 1 is returned unpooled: the study itself, heterogeneity NaN, warning ``"k=1: not pooled"``.
* The EE model has no prediction interval (NaN); metafor prints none either.

metafor forms k x k matrices (P, P*P, I - 11'/k); here every sum over them is a closed form in O(k)
(``_PSums``), so a pool of 10,000 studies needs no 800 MB matrix. The results agree with the matrix
forms to rounding (tests/test_synthesis_meta_scale.py).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import cached_property, lru_cache

import numpy as np
from scipy import special

from livertrials import distributions

__all__ = [
    "md", "smd", "hedges_j", "rr", "or_", "rd", "loghr_from_ci",
    "RmaResult", "rma", "rma_models", "leave_one_out", "METHODS", "others_sum",
]

METHODS = ("EE", "FE", "DL", "HE", "HS", "HSk", "SJ", "ML", "REML", "EB", "PM", "PMM")
SCORING = ("ML", "REML", "EB")          # Fisher scoring estimators
LL0_TOL = np.finfo(float).eps ** 0.25   # metafor's con$tol, used by the ll0check


# --------------------------------------------------------------------------------------
# Effect sizes (escalc)
# --------------------------------------------------------------------------------------

def _arrays(*xs):
    """Float 1-d arrays of a common length (scalars broadcast)."""
    try:
        out = np.broadcast_arrays(*[np.atleast_1d(np.asarray(x, dtype=float)) for x in xs])
    except ValueError as exc:
        raise ValueError(f"input arrays have mismatched lengths: {[np.shape(x) for x in xs]}") from exc
    if out[0].ndim != 1:
        raise ValueError("inputs must be scalars or 1-d arrays")
    return [np.array(o) for o in out]


def md(m1, sd1, n1, m2, sd2, n2, vtype="LS"):
    """Mean difference m1 - m2. vtype "LS"/"UB": sd1²/n1 + sd2²/n2; "HO": pooled SD."""
    m1, sd1, n1, m2, sd2, n2 = _arrays(m1, sd1, n1, m2, sd2, n2)
    _check_groups(sd1, n1, sd2, n2)
    yi = m1 - m2
    if vtype in ("LS", "UB"):
        vi = sd1**2 / n1 + sd2**2 / n2
    elif vtype == "HO":
        vi = _pooled_var(sd1, n1, sd2, n2) * (1 / n1 + 1 / n2)
    else:
        raise ValueError(f"vtype must be 'LS', 'UB' or 'HO', got {vtype!r}")
    return yi, vi


def hedges_j(m):
    """Exact small-sample correction J(m) = Γ(m/2) / (√(m/2)·Γ((m−1)/2)), via lgamma.

    NaN for m <= 1 (n1 + n2 <= 3), as metafor's ``.cmicalc``: J is not defined there (J(1) would be 0).
    """
    m = np.asarray(m, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        j = np.exp(special.gammaln(m / 2) - 0.5 * np.log(m / 2) - special.gammaln((m - 1) / 2))
    return np.where(m > 1, j, np.nan)


def smd(m1, sd1, n1, m2, sd2, n2, vtype="LS"):
    """Hedges' g with the exact J (metafor measure "SMD"). vtype "LS" (default) or "UB".

    yi and vi are NaN when n1 + n2 - 2 <= 1 (metafor returns NA there).
    """
    m1, sd1, n1, m2, sd2, n2 = _arrays(m1, sd1, n1, m2, sd2, n2)
    _check_groups(sd1, n1, sd2, n2)
    m = n1 + n2 - 2
    j = hedges_j(m)
    with np.errstate(divide="ignore", invalid="ignore"):   # m = 0: 0/0 pooled variance, NaN like J
        g = j * (m1 - m2) / np.sqrt(_pooled_var(sd1, n1, sd2, n2))
    if vtype == "LS":
        vi = 1 / n1 + 1 / n2 + g**2 / (2 * (n1 + n2))
    elif vtype == "UB":
        vi = 1 / n1 + 1 / n2 + (1 - (m - 2) / (m * j**2)) * g**2
    else:
        raise ValueError(f"vtype must be 'LS' or 'UB', got {vtype!r}")
    return g, vi


def _pooled_var(sd1, n1, sd2, n2):
    return ((n1 - 1) * sd1**2 + (n2 - 1) * sd2**2) / (n1 + n2 - 2)


def _check_groups(sd1, n1, sd2, n2):
    if np.any(sd1 < 0) or np.any(sd2 < 0):
        raise ValueError("standard deviations must be >= 0")
    if np.any(n1 < 1) or np.any(n2 < 1):
        raise ValueError("group sizes must be >= 1")


def corrected_cells(a, n1, c, n2, add, to, drop00):
    """2x2 cells with metafor's continuity correction.

    to="only0" (metafor default): add `add` to all four cells of tables with any zero cell.
    Tables with zero events (or only events) in both arms are kept and corrected, as metafor
    does with its default drop00=FALSE; drop00=True returns NaN for them instead.
    """
    a, n1, c, n2 = _arrays(a, n1, c, n2)
    if np.any(np.array([a, n1, c, n2]) < 0):
        raise ValueError("counts must be >= 0")
    if np.any(a > n1) or np.any(c > n2):
        raise ValueError("event counts larger than the group sizes")
    b, d = n1 - a, n2 - c
    none_or_all = ((a == 0) & (c == 0)) | ((b == 0) & (d == 0))
    if to == "only0":
        fix = (a == 0) | (b == 0) | (c == 0) | (d == 0)
    elif to == "all":
        fix = np.ones_like(a, dtype=bool)
    elif to == "none":
        fix = np.zeros_like(a, dtype=bool)
    else:
        raise ValueError(f"to must be 'only0', 'all' or 'none', got {to!r}")
    a, b, c, d = (x + add * fix for x in (a, b, c, d))
    if drop00:
        a, b, c, d = (np.where(none_or_all, np.nan, x) for x in (a, b, c, d))
    return a, b, c, d


def rr(a, n1, c, n2, add=0.5, to="only0", drop00=False):
    """Log risk ratio (a events of n1 vs c events of n2), vi = 1/a − 1/n1 + 1/c − 1/n2."""
    a, b, c, d = corrected_cells(a, n1, c, n2, add, to, drop00)
    with np.errstate(divide="ignore", invalid="ignore"):
        n1, n2 = a + b, c + d
        return np.log(a / n1) - np.log(c / n2), 1 / a - 1 / n1 + 1 / c - 1 / n2


def or_(a, n1, c, n2, add=0.5, to="only0", drop00=False):
    """Log odds ratio, vi = 1/a + 1/b + 1/c + 1/d."""
    a, b, c, d = corrected_cells(a, n1, c, n2, add, to, drop00)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(a / b) - np.log(c / d), 1 / a + 1 / b + 1 / c + 1 / d


def rd(a, n1, c, n2, add=0.5, to="only0", drop00=False, vtype="LS"):
    """Risk difference p1 − p2. metafor applies the same zero-cell correction to RD."""
    a, b, c, d = corrected_cells(a, n1, c, n2, add, to, drop00)
    n1, n2 = a + b, c + d
    p1, p2 = a / n1, c / n2
    if vtype == "LS":
        vi = p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
    elif vtype == "UB":
        vi = p1 * (1 - p1) / (n1 - 1) + p2 * (1 - p2) / (n2 - 1)
    else:
        raise ValueError(f"vtype must be 'LS' or 'UB', got {vtype!r}")
    return p1 - p2, vi


def loghr_from_ci(hr, lower, upper, level=0.95):
    """Log hazard ratio and its variance from HR and a symmetric-on-log-scale CI."""
    hr, lower, upper = _arrays(hr, lower, upper)
    if not 0 < level < 1:
        raise ValueError("level must be in (0, 1), e.g. 0.95")
    if np.any(lower <= 0) or np.any(hr <= 0) or np.any(upper <= 0):
        raise ValueError("HR and CI limits must be > 0")
    if np.any(lower > hr) or np.any(hr > upper) or np.any(lower >= upper):
        raise ValueError("need lower <= hr <= upper and lower < upper")
    se = (np.log(upper) - np.log(lower)) / (2 * distributions.norm_isf((1 - level) / 2))
    return np.log(hr), se**2


# --------------------------------------------------------------------------------------
# Random-effects model (rma.uni, intercept only)
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RmaResult:
    """Intercept-only meta-analysis result; field names follow metafor where possible.

    `method` is what was asked for, `method_used` what produced tau2 (differs after a
    fallback). I2 is in percent. weights are percent (sum 100). NaN means "not defined".
    """

    k: int
    method: str
    method_used: str
    test: str
    level: float
    estimate: float
    se: float
    zval_or_tval: float
    df: float                 # t degrees of freedom (knha), NaN for the z-test
    pval: float
    ci_lb: float
    ci_ub: float
    pi_lb: float
    pi_ub: float
    tau2: float
    tau2_se: float
    tau: float
    Q: float
    Q_df: int
    Q_p: float
    I2: float
    H2: float
    tau2_ci_lb: float
    tau2_ci_ub: float
    I2_ci_lb: float
    I2_ci_ub: float
    H2_ci_lb: float
    H2_ci_ub: float
    converged: bool
    iterations: int
    warnings: tuple[str, ...]
    weights: tuple[float, ...]

    @property
    def pooled(self) -> bool:
        """False when there was nothing to pool (k = 1); callers should refuse to report a pooled effect."""
        return self.k >= 2

    @property
    def tau_ci_lb(self) -> float:
        return math.sqrt(self.tau2_ci_lb)

    @property
    def tau_ci_ub(self) -> float:
        return math.sqrt(self.tau2_ci_ub)

    def as_dict(self) -> dict:
        return asdict(self)


def others_sum(x):
    """Σ_{j≠i} x_j for every i (along axis 0), summed over the others: sum(x) - x_i would cancel when x_i dominates."""
    zero = np.zeros_like(x[:1])
    before = np.concatenate((zero, np.cumsum(x[:-1], axis=0)))
    after = np.concatenate((np.cumsum(x[:0:-1], axis=0)[::-1], zero))
    return before + after


class _PSums:
    """What rma.uni needs of P = W - w w'/W (intercept only, W = Σw; metafor ``R/rma.uni.r``, Viechtbauer
    2005), in O(k) without the k x k matrix (10,000 studies: 800 MB each). P_ii = w_i (W - w_i)/W and
    P_ij = -w_i w_j/W (i ≠ j), so, with W - w_i summed over the other studies (all terms >= 0, no cancellation):

    * trace(P) = Σ_i w_i (W - w_i)/W
    * P y = w (y - ȳ_w), y'P y = Σ w (y - ȳ_w)², ȳ_w = w'y/W
    * Σ_ij P_ij² a_i b_j = Σ_i P_ii² a_i b_i + Σ_i w_i² a_i Σ_{j≠i} w_j² b_j / W²   (sum(P*P): a = b = 1;
      sum(PV*t(PV)) = tr(PVPV): a = b = v; sum(PV*P): a = 1, b = v; P symmetric, V = diag(v))

    With w = 1 (W = k) it is the OLS P = I - 11'/k of the HE estimator.
    """

    def __init__(self, w):
        self.w, self.W = w, w.sum()
        self.diag = w * (others_sum(w) / self.W)
        self.trace = self.diag.sum()

    def residuals(self, y):
        """y - ȳ_w, so that P y = w (y - ȳ_w)."""
        return y - self.w @ y / self.W

    def quad(self, y):
        """y'P y."""
        return self.w @ self.residuals(y) ** 2

    def sum_sq(self, a=1.0, b=1.0):
        """Σ_ij P_ij² a_i b_j (a, b vectors >= 0 or 1)."""
        w2 = self.w**2
        return (self.diag**2 * a * b).sum() + (w2 * a) @ others_sum(w2 * b) / self.W**2


class _Studies:
    """yi and vi of one meta-analysis, with what every model of them shares: the centred yi,
    and the fixed-effect sums of P, Q and the Q-profile CI of tau2 (computed once, when first needed)."""

    def __init__(self, y, v):
        self.y, self.v, self.k = y, v, len(y)
        self.yc = y - y.mean()      # metafor centres yi for numerical stability
        self._qprofile: dict[float, tuple[float, float]] = {}

    @cached_property
    def fixed(self):
        """P of the fixed-effect weights 1/vi."""
        return _PSums(1 / self.v)

    @cached_property
    def fixed_Q(self):
        """yc' P yc with P = P(1/vi): Cochran's Q before flooring at 0."""
        return self.fixed.quad(self.yc)

    @cached_property
    def fixed_trP(self):
        return self.fixed.trace

    def qprofile(self, level: float) -> tuple[float, float]:
        """Q-profile CI of tau2 (Viechtbauer 2007), solved exactly; bound = 0 if Q(0) is below target."""
        if level not in self._qprofile:
            alpha, Q_df = 1 - level, self.k - 1
            crit_u, crit_l = _quantile("chi2", "isf", alpha / 2, Q_df), _quantile("chi2", "ppf", alpha / 2, Q_df)
            f = lambda t: _qgen(self.y, self.v, t)  # noqa: E731
            q0 = f(0.0)
            t_lb = 0.0 if q0 < crit_u else solve_decreasing(f, crit_u)
            t_ub = 0.0 if q0 < crit_l else solve_decreasing(f, crit_l)
            self._qprofile[level] = (t_lb, t_ub)
        return self._qprofile[level]


@lru_cache(maxsize=4096)
def _quantile(distribution: str, tail: str, p: float, *df) -> float:
    """``distribution``.isf or .ppf (``tail``) at p, as scipy.stats gives it (livertrials.distributions); cached, as
    the fits of a run ask for few values."""
    return getattr(distributions, f"{distribution}_{tail}")(p, *df)


def _qgen(y, v, tau2):
    """Generalised Q: Σ wᵢ(τ²)(yᵢ − μ̂(τ²))²; decreasing in τ²."""
    w = 1 / (v + tau2)
    mu = w @ y / w.sum()
    return float(w @ (y - mu) ** 2)


def solve_decreasing(f, target, lo=0.0, hi=100.0):
    """Root of f(t) = target for decreasing f with f(lo) >= target; widens hi as needed."""
    while f(hi) > target:
        hi *= 10
        if hi > 1e300:
            raise RuntimeError("could not bracket tau^2 root")
    from scipy.optimize import brentq  # here: importing scipy.optimize costs half a second, most runs never solve

    return brentq(lambda t: f(t) - target, lo, hi, xtol=1e-14, rtol=4 * np.finfo(float).eps,
                           maxiter=1000)


def _loglik(y, v, tau2, reml):
    w = 1 / (v + tau2)
    mu = w @ y / w.sum()
    rss = w @ (y - mu) ** 2
    k = len(y)
    if reml:
        return -0.5 * (k - 1) * math.log(2 * math.pi) - 0.5 * np.log(v + tau2).sum() \
            - 0.5 * math.log(w.sum()) - 0.5 * rss
    return -0.5 * k * math.log(2 * math.pi) - 0.5 * np.log(v + tau2).sum() - 0.5 * rss


def _tau2(studies: _Studies, method, maxiter, threshold):
    """(tau2, tau2_se, converged, iterations, notes) for one estimator, as in rma.uni."""
    y, v, yc, k = studies.y, studies.v, studies.yc, studies.k
    notes = []
    if method == "EE":
        return 0.0, math.nan, True, 0, notes

    if method in ("DL", "HS", "HSk"):
        w = 1 / v
        P, Q, trP = studies.fixed, studies.fixed_Q, studies.fixed_trP
        if method == "DL":
            t = max(0.0, (Q - (k - 1)) / trP)
            se = math.sqrt(2 * (k - 1) + 4 * t * trP + 2 * t**2 * P.sum_sq()) / trP
        else:
            t = (Q - k) / w.sum() if method == "HS" else (k / (k - 1) * Q - k) / w.sum()
            t = max(0.0, t)
            se = math.sqrt(2 * (k - 1) + 4 * t * trP + 2 * t**2 * P.sum_sq()) / w.sum()
            if method == "HSk":
                se *= k / (k - 1)
        return t, se, True, 0, notes

    # Hedges (HE); also the start value of the Fisher scoring estimators (untruncated)
    he = (yc @ yc - (v.sum() - v.sum() / k)) / (k - 1)

    if method == "HE":
        t = max(0.0, he)
        ols = _PSums(np.ones(k))   # P = I - 11'/k; sum(PV*t(PV)) = Σ_ij P_ij² v_i v_j, trace(PV) = Σ P_ii v_i
        se = math.sqrt(2 * ols.sum_sq(v, v) + 4 * t * (ols.diag @ v) + 2 * t**2 * (k - 1)) / (k - 1)
        return t, se, True, 0, notes

    if method == "SJ":
        t0 = yc @ yc / k
        P = _PSums(1 / (v + t0))
        t = max(0.0, t0 * P.quad(yc) / (k - 1))   # metafor floors at tau2.min = 0: rounding can make RSS < 0
        # sum(PV*t(PV)) = Σ_ij P_ij² v_i v_j, sum(PV*P) = Σ_ij P_ij² v_j, sum(P*P)
        se = t0 / (k - 1) * math.sqrt(2 * P.sum_sq(v, v) + 4 * t * P.sum_sq(1.0, v) + 2 * t**2 * P.sum_sq())
        return t, se, True, 0, notes

    if method in ("PM", "PMM"):
        target = (k - 1) if method == "PM" else distributions.chi2_ppf(0.5, k - 1)
        f = lambda t: _qgen(y, v, t)  # noqa: E731
        t = 0.0 if f(0.0) < target else solve_decreasing(f, target)
        se = math.sqrt(2 * k**2 / (k - 1)) / np.sum(1 / (v + t))
        return t, se, True, 0, notes

    # ML / REML / EB: Fisher scoring from the HE estimate, step-halving to stay >= 0
    t = max(0.0, he)
    it, change = 0, threshold + 1
    while change > threshold:
        it += 1
        old = t
        w = 1 / (v + t)
        P = _PSums(w)
        Py = w * P.residuals(yc)
        if method == "ML":
            adj = (Py @ Py - w.sum()) / (w @ w)
        elif method == "REML":
            adj = (Py @ Py - P.trace) / P.sum_sq()
        else:  # EB
            adj = (yc @ Py * k / (k - 1) - k) / w.sum()
        while t + adj < 0:
            adj /= 2
        t = t + adj
        change = abs(old - t)
        if it > maxiter:   # same test and place as metafor: checked after every update
            return t, math.nan, False, it, notes
    if method in ("ML", "REML"):   # metafor's ll0check
        reml = method == "REML"
        if _loglik(yc, v, 0.0, reml) - _loglik(yc, v, t, reml) > LL0_TOL and t > threshold:
            notes.append(f"{method}: Fisher scoring may have gotten stuck at a local maximum; "
                         "tau^2 set to 0 (log-likelihood is higher at tau^2 = 0)")
            t = 0.0
    w = 1 / (v + t)
    if method == "ML":
        se = math.sqrt(2 / (w @ w))
    elif method == "REML":
        se = math.sqrt(2 / _PSums(w).sum_sq())
    else:
        se = math.sqrt(2 * k**2 / (k - 1)) / w.sum()
    return t, se, True, it, notes


def validate_inputs(yi, vi, method, test, level, predtype="default", fallback="DL"):
    """yi and vi as float arrays after checking them and the model settings (ValueError otherwise)."""
    y = np.atleast_1d(np.asarray(yi, dtype=float))
    v = np.atleast_1d(np.asarray(vi, dtype=float))
    if y.ndim != 1 or v.ndim != 1:
        raise ValueError("yi and vi must be 1-d")
    if len(y) != len(v):
        raise ValueError(f"yi and vi have mismatched lengths ({len(y)} vs {len(v)})")
    if len(y) == 0:
        raise ValueError("no studies (k = 0)")
    if not np.all(np.isfinite(y)):
        raise ValueError(f"non-finite yi at positions {np.flatnonzero(~np.isfinite(y)).tolist()}")
    bad = ~np.isfinite(v) | ~(v > 0)
    if bad.any():
        raise ValueError("vi must be finite and > 0; bad values at positions "
                         f"{np.flatnonzero(bad).tolist()}: {v[bad].tolist()}")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {METHODS}")
    if fallback is not None and (fallback not in METHODS or fallback in SCORING):
        raise ValueError(f"fallback must be a non-iterative method (e.g. 'DL'), got {fallback!r}")
    if test not in ("z", "knha", "hksj"):
        raise ValueError(f"test must be 'z' or 'knha', got {test!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), e.g. 0.95, got {level!r}")
    if predtype not in ("default", "riley"):
        raise ValueError(f"predtype must be 'default' or 'riley', got {predtype!r}")
    return y, v


def rma(yi, vi, method="REML", test="z", level=0.95, *, fallback="DL", predtype="default",
        maxiter=100, threshold=1e-5) -> RmaResult:
    """Intercept-only meta-analysis, reproducing metafor::rma(yi, vi, method, test).

    method: EE (alias FE), DL, HE, HS, HSk, SJ, ML, REML, EB, PM, PMM.
    test: "z" or "knha" (Hartung–Knapp: s² not floored, t with k−1 df; alias "hksj").
    predtype: "default" = metafor predict() (z, or t_{k−1} with the HK SE under knha);
        "riley" = t_{k−2} (Higgins 2009 / Riley 2011; R meta with hakn=TRUE uses this with knha).
    fallback: estimator used if ML/REML/EB Fisher scoring does not converge within maxiter
        (result.converged False, warning added); None raises RuntimeError as metafor does.
    """
    return rma_models(yi, vi, [(method, test)], level, fallback=fallback, predtype=predtype,
                      maxiter=maxiter, threshold=threshold)[0]


def rma_models(yi, vi, models, level=0.95, *, fallback="DL", predtype="default",
               maxiter=100, threshold=1e-5) -> list[RmaResult]:
    """rma() of the same studies for every (method, test) in ``models``, in that order.

    The results are those of one rma() call per model; tau2 is estimated once per method, and
    Q and the Q-profile CI of tau2 once in all (they depend on neither method nor test).
    """
    predtype = predtype.lower()
    models = [("EE" if method == "FE" else method, "knha" if test == "hksj" else test) for method, test in models]
    for method, test in models:
        y, v = validate_inputs(yi, vi, method, test, level, predtype, fallback)
    if not models:
        return []
    if len(y) == 1:
        return [_unpooled(y, v, method, test, level) for method, test in models]
    studies = _Studies(y, v)
    fits: dict[str, _Fit] = {}
    out = []
    for method, test in models:
        if method not in fits:
            fits[method] = _fit(studies, method, fallback, maxiter, threshold)
        out.append(_result(studies, fits[method], test, level, predtype))
    return out


def _unpooled(y, v, method, test, level) -> RmaResult:
    """k = 1: the study itself, nothing pooled."""
    nan = math.nan
    zcrit = distributions.norm_isf((1 - level) / 2)
    warn = ["k=1: not pooled"] + (["k=1: knha not possible, z-test used"] if test == "knha" else [])
    se = math.sqrt(v[0])
    z = y[0] / se
    return RmaResult(
        k=1, method=method, method_used=method, test="z", level=level, estimate=float(y[0]),
        se=se, zval_or_tval=float(z), df=nan, pval=float(2 * distributions.norm_sf(abs(z))),
        ci_lb=float(y[0] - zcrit * se), ci_ub=float(y[0] + zcrit * se), pi_lb=nan, pi_ub=nan,
        tau2=nan, tau2_se=nan, tau=nan, Q=nan, Q_df=0, Q_p=nan, I2=nan, H2=nan,
        tau2_ci_lb=nan, tau2_ci_ub=nan, I2_ci_lb=nan, I2_ci_ub=nan, H2_ci_lb=nan,
        H2_ci_ub=nan, converged=True, iterations=0, warnings=tuple(warn), weights=(100.0,))


@dataclass(frozen=True)
class _Fit:
    """The test-independent part of a model: tau2 (after any fallback) and the pooled estimate."""

    method: str
    method_used: str
    tau2: float
    tau2_se: float
    converged: bool
    iterations: int
    warnings: tuple[str, ...]
    w: np.ndarray
    weights: tuple[float, ...]
    mu: float
    vb: float


def _fit(studies: _Studies, method, fallback, maxiter, threshold) -> _Fit:
    tau2, tau2_se, converged, iters, notes = _tau2(studies, method, maxiter, threshold)
    warn = list(notes)
    method_used = method
    if not converged:
        msg = (f"{method} Fisher scoring did not converge within maxiter={maxiter} "
               f"iterations (threshold={threshold:g})")
        if fallback is None:
            raise RuntimeError(msg)
        warn.append(f"{msg}; fell back to method={fallback}")
        method_used = fallback
        tau2, tau2_se, _, _, notes = _tau2(studies, fallback, maxiter, threshold)
        warn += notes
    w = 1 / (studies.v + tau2)
    return _Fit(method, method_used, tau2, tau2_se, converged, iters, tuple(warn), w,
                weights=tuple(float(x) for x in 100 * w / w.sum()), mu=float(w @ studies.y / w.sum()), vb=1 / w.sum())


def _result(studies: _Studies, fit: _Fit, test, level, predtype) -> RmaResult:
    """A fitted model with its test, prediction interval and heterogeneity statistics."""
    y, k = studies.y, studies.k
    method_used, tau2, w, mu, vb = fit.method_used, fit.tau2, fit.w, fit.mu, fit.vb
    warn = list(fit.warnings)
    nan = math.nan
    zcrit = _quantile("norm", "isf", (1 - level) / 2)

    # pooled estimate
    if test == "knha":
        if method_used == "EE":
            warn.append("Knapp-Hartung method is not meant to be used with an EE model")
        rss = float(w @ (y - mu) ** 2)
        vb *= 0.0 if rss <= np.finfo(float).eps else rss / (k - 1)   # no flooring at 1
        df = float(k - 1)
        crit = _quantile("t", "isf", (1 - level) / 2, df)
    else:
        df, crit = nan, zcrit
    se = math.sqrt(vb)
    zt = mu / se if se > 0 else (math.copysign(math.inf, mu) if mu else nan)
    pval = 2 * (distributions.t_sf(abs(zt), df) if test == "knha" else distributions.norm_sf(abs(zt)))

    # prediction interval (predict.rma)
    if method_used == "EE":
        pi_lb = pi_ub = nan
    else:
        pcrit = crit if predtype == "default" else _quantile("t", "isf", (1 - level) / 2, max(1, k - 2))
        half = pcrit * math.sqrt(vb + tau2)
        pi_lb, pi_ub = mu - half, mu + half

    # heterogeneity: Q always with 1/vi weights; I2/H2 via the typical within-study variance
    Q = max(0.0, float(studies.fixed_Q))
    Q_df = k - 1
    vt = Q_df / studies.fixed_trP
    if method_used == "EE":
        I2 = 0.0 if Q <= Q_df else 100 * (Q - Q_df) / Q
        H2 = Q / Q_df
    else:
        I2 = 100 * tau2 / (vt + tau2)
        H2 = tau2 / vt + 1

    t_lb, t_ub = (nan, nan) if method_used == "EE" else studies.qprofile(level)

    numbers = dict(
        estimate=mu, se=se, zval_or_tval=zt, df=df, pval=pval,
        ci_lb=mu - crit * se, ci_ub=mu + crit * se, pi_lb=pi_lb, pi_ub=pi_ub,
        tau2=tau2, tau2_se=fit.tau2_se, tau=math.sqrt(tau2), Q=Q, Q_p=distributions.chi2_sf(Q, Q_df),
        I2=I2, H2=H2, tau2_ci_lb=t_lb, tau2_ci_ub=t_ub,
        I2_ci_lb=100 * t_lb / (vt + t_lb), I2_ci_ub=100 * t_ub / (vt + t_ub),
        H2_ci_lb=t_lb / vt + 1, H2_ci_ub=t_ub / vt + 1)
    return RmaResult(
        k=k, method=fit.method, method_used=method_used, test=test, level=level, Q_df=Q_df,
        converged=fit.converged, iterations=fit.iterations, warnings=tuple(warn),
        weights=fit.weights, **{name: float(x) for name, x in numbers.items()})


def leave_one_out(yi, vi, **kw) -> list[RmaResult]:
    """metafor leave1out(): refit omitting study i (same method/test); element i omits study i."""
    y = np.atleast_1d(np.asarray(yi, dtype=float))
    v = np.atleast_1d(np.asarray(vi, dtype=float))
    if len(y) != len(v):
        raise ValueError(f"yi and vi have mismatched lengths ({len(y)} vs {len(v)})")
    if len(y) < 2:
        raise ValueError("leave-one-out needs at least 2 studies")
    return [rma(np.delete(y, i), np.delete(v, i), **kw) for i in range(len(y))]
