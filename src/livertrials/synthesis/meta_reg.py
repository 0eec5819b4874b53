"""Meta-regression (metafor ``rma.uni`` with moderators) and the test for subgroup differences.

``rma_mods`` is the design-matrix form of ``meta.rma``: the same τ² estimators, tests and defaults
(metafor ``R/rma.uni.r``; formulas in docs/methods.md). ``meta.rma`` keeps its own intercept-only path,
which shares Q and the Q-profile CI across models and whose numbers the pipeline's outputs depend on;
``rma_mods`` with no moderator column gives the same numbers (tests/test_synthesis_meta_metafor.py).

Deliberate differences from metafor, as in ``meta.rma``: PM/PMM are solved to machine precision, and
non-convergence of Fisher scoring falls back to another estimator (default DL) with a warning.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from livertrials import distributions
from livertrials.synthesis.meta import LL0_TOL, others_sum, rma, solve_decreasing, validate_inputs

__all__ = ["RmaModsResult", "rma_mods", "SubgroupTest", "subgroup_test"]


@dataclass(frozen=True)
class RmaModsResult:
    """A meta-regression; per-coefficient fields are tuples in the order of ``coef_names`` (intercept first).

    QM tests the moderators (every coefficient but the intercept): a chi² statistic with QM_df1 df under
    the z-test, an F statistic with (QM_df1, QM_df2) df under knha (QM_df2 NaN for z). QE is the test
    for residual heterogeneity (k - p df); I2 and H2 are residual, τ²-based (Q-based for EE).
    """

    k: int
    p: int
    method: str
    method_used: str
    test: str
    level: float
    coef_names: tuple[str, ...]
    beta: tuple[float, ...]
    se: tuple[float, ...]
    zval_or_tval: tuple[float, ...]
    pval: tuple[float, ...]
    ci_lb: tuple[float, ...]
    ci_ub: tuple[float, ...]
    df: float
    tau2: float
    tau2_se: float
    QE: float
    QE_df: int
    QE_p: float
    QM: float
    QM_df1: int
    QM_df2: float
    QM_p: float
    I2: float
    H2: float
    converged: bool
    iterations: int
    warnings: tuple[str, ...]

    def as_dict(self) -> dict:
        return asdict(self)


def _qr(X, w):
    """Q and R of √W X; metafor's .invcalc also solves through this QR (X'WX can be ill-conditioned)."""
    return np.linalg.qr(X * np.sqrt(w)[:, None])


class _PSums:
    """What rma.uni needs of P = W - WX(X'WX)⁻¹X'W (metafor ``R/rma.uni.r``, Viechtbauer 2005) in O(k p²),
    without the k x k matrix: with √W X = QR (Q k x p, rows q_i), P = S(I - H)S, S = diag(√w), H = QQ',
    h_i = H_ii = q_i'q_i, so P_ii = w_i (1 - h_i) and P_ij = -√(w_i w_j) q_i'q_j (i ≠ j):

    * trace(P) = Σ w_i (1 - h_i)
    * P y = √w r and y'P y = r'r, r = √w y - Q Q'(√w y) (the weighted residuals)
    * Σ_ij P_ij² a_i b_j = Σ_i P_ii² a_i b_i + Σ_i c_i q_i' (Σ_{j≠i} d_j q_j q_j') q_i, c = w a, d = w b,
      the inner p x p sum taken over the other studies (no cancellation when one study dominates).
      sum(P*P): a = b = 1; sum(PV*t(PV)) = tr(PVPV): a = b = v; sum(PV*P): a = 1, b = v (P symmetric).

    With w = 1 it is the OLS P = I - X(X'X)⁻¹X' of the HE estimator.
    """

    def __init__(self, X, w):
        self.w, self.s = w, np.sqrt(w)
        self.Q, _ = _qr(X, w)
        self.h = np.einsum("ij,ij->i", self.Q, self.Q)
        self.diag = w * (1 - self.h)
        self.trace = float(self.diag.sum())

    def residuals(self, y):
        """r = √w y - QQ'(√w y), so that P y = √w r."""
        sy = self.s * y
        return sy - self.Q @ (self.Q.T @ sy)

    def quad(self, y):
        """y'P y."""
        r = self.residuals(y)
        return float(r @ r)

    def sum_sq(self, a=1.0, b=1.0):
        """Σ_ij P_ij² a_i b_j (a, b vectors >= 0 or 1)."""
        Q, c, d = self.Q, self.w * a, self.w * b
        others = others_sum(d[:, None, None] * (Q[:, :, None] * Q[:, None, :]))
        return float((self.diag**2 * a * b).sum() + np.einsum("i,ij,ijl,il->", c, Q, others, Q))


def _xwx_inv(X, w):
    """(X'WX)⁻¹ = R⁻¹R⁻ᵀ."""
    _, R = _qr(X, w)
    R_inv = np.linalg.inv(R)
    return R_inv @ R_inv.T


def _logdet_xwx(X, w):
    _, R = _qr(X, w)
    return 2 * np.log(np.abs(np.diag(R))).sum()


def _loglik(yc, v, X, tau2, reml):
    """metafor's ll0check log-likelihoods (ML, or REML without the constant log|X'X| term)."""
    w = 1 / (v + tau2)
    beta = _xwx_inv(X, w) @ X.T @ (w * yc)
    rss = w @ (yc - X @ beta) ** 2
    k, p = X.shape
    if reml:
        return -0.5 * (k - p) * math.log(2 * math.pi) - 0.5 * np.log(v + tau2).sum() - 0.5 * _logdet_xwx(X, w) - 0.5 * rss
    return -0.5 * k * math.log(2 * math.pi) - 0.5 * np.log(v + tau2).sum() - 0.5 * rss


def _tau2(yc, v, X, method, maxiter, threshold):
    """(tau2, tau2_se, converged, iterations, notes) of one estimator with moderators, as in rma.uni.

    yc is the centred yi (metafor estimates τ² from it; with an intercept in X the residuals are the same).
    """
    k, p = X.shape
    notes: list[str] = []
    if method == "EE":
        return 0.0, math.nan, True, 0, notes

    if method in ("DL", "HS", "HSk"):
        w = 1 / v
        P = _PSums(X, w)
        rss, trP, sPP = P.quad(yc), P.trace, P.sum_sq()
        if method == "DL":
            t = max(0.0, (rss - (k - p)) / trP)
            return t, math.sqrt(2 * (k - p) + 4 * t * trP + 2 * t**2 * sPP) / trP, True, 0, notes
        t = max(0.0, ((rss - k) if method == "HS" else (k / (k - p) * rss - k)) / w.sum())
        se = math.sqrt(2 * (k - p) + 4 * t * trP + 2 * t**2 * sPP) / w.sum()
        return t, se * (k / (k - p) if method == "HSk" else 1.0), True, 0, notes

    # Hedges (HE), also the start value of Fisher scoring: OLS residuals
    ols = _PSums(X, np.ones(k))   # P = I - X(X'X)⁻¹X'; trace(PV) = Σ P_ii v_i, sum(PV*t(PV)) = Σ_ij P_ij² v_i v_j
    trPV = float((1 - ols.h) @ v)
    he = (ols.quad(yc) - trPV) / (k - p)
    if method == "HE":
        t = max(0.0, he)
        se = math.sqrt(2 * ols.sum_sq(v, v) + 4 * t * trPV + 2 * t**2 * (k - p)) / (k - p)
        return t, se, True, 0, notes

    if method == "SJ":
        t0 = yc @ yc / k
        P = _PSums(X, 1 / (v + t0))
        t = max(0.0, t0 * P.quad(yc) / (k - p))
        # sum(PV*t(PV)) = Σ_ij P_ij² v_i v_j, sum(PV*P) = Σ_ij P_ij² v_j, sum(P*P)
        se = t0 / (k - p) * math.sqrt(2 * P.sum_sq(v, v) + 4 * t * P.sum_sq(1.0, v) + 2 * t**2 * P.sum_sq())
        return t, se, True, 0, notes

    if method in ("PM", "PMM"):
        target = (k - p) if method == "PM" else distributions.chi2_ppf(0.5, k - p)
        f = lambda t: _PSums(X, 1 / (v + t)).quad(yc)  # noqa: E731
        t = 0.0 if f(0.0) < target else solve_decreasing(f, target)
        return t, math.sqrt(2 * k**2 / (k - p)) / np.sum(1 / (v + t)), True, 0, notes

    # ML / REML / EB: Fisher scoring from the HE estimate, step-halving to stay >= 0
    t = max(0.0, he)
    it, change = 0, threshold + 1
    while change > threshold:
        it += 1
        old = t
        w = 1 / (v + t)
        P = _PSums(X, w)
        Py = P.s * P.residuals(yc)
        if method == "ML":
            adj = (Py @ Py - w.sum()) / (w @ w)
        elif method == "REML":
            adj = (Py @ Py - P.trace) / P.sum_sq()
        else:  # EB
            adj = (yc @ Py * k / (k - p) - k) / w.sum()
        while t + adj < 0:
            adj /= 2
        t += adj
        change = abs(old - t)
        if it > maxiter:
            return t, math.nan, False, it, notes
    if method in ("ML", "REML"):
        reml = method == "REML"
        if _loglik(yc, v, X, 0.0, reml) - _loglik(yc, v, X, t, reml) > LL0_TOL and t > threshold:
            notes.append(f"{method}: Fisher scoring may have gotten stuck at a local maximum; "
                         "tau^2 set to 0 (log-likelihood is higher at tau^2 = 0)")
            t = 0.0
    w = 1 / (v + t)
    if method == "ML":
        se = math.sqrt(2 / (w @ w))
    elif method == "REML":
        se = math.sqrt(2 / _PSums(X, w).sum_sq())
    else:
        se = math.sqrt(2 * k**2 / (k - p)) / w.sum()
    return t, se, True, it, notes


def _design(mods, k, names):
    """Intercept plus the moderator columns; names default to "x1", "x2", ..."""
    M = np.asarray(mods, dtype=float)
    if M.ndim == 1:
        M = M[:, None]
    if M.ndim != 2 or M.shape[0] != k:
        raise ValueError(f"mods must have one row per study (k = {k}), got shape {np.shape(mods)}")
    if not np.all(np.isfinite(M)):
        raise ValueError("mods must be finite")
    names = list(names) if names is not None else [f"x{j + 1}" for j in range(M.shape[1])]
    if len(names) != M.shape[1]:
        raise ValueError(f"{len(names)} names for {M.shape[1]} moderator columns")
    X = np.column_stack([np.ones(k), M])
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise ValueError("the design matrix (intercept + mods) is not of full rank")
    return X, ("intrcpt", *names)


def rma_mods(yi, vi, mods, method="REML", test="z", level=0.95, *, names=None, fallback="DL",
             maxiter=100, threshold=1e-5) -> RmaModsResult:
    """Mixed-effects meta-regression, reproducing metafor::rma(yi, vi, mods = ~ mods, method, test).

    mods: a (k,) or (k, q) array of moderators; an intercept is always added. method and test as in
    ``meta.rma`` (knha: t with k - p df, F-test for QM, s² not floored). Needs k > p (k >= p for EE).
    """
    method = "EE" if method == "FE" else method
    test = "knha" if test == "hksj" else test
    y, v = validate_inputs(yi, vi, method, test, level, fallback=fallback)
    k = len(y)
    X, coef_names = _design(mods, k, names)
    p = X.shape[1]
    if k < p or (method != "EE" and k < p + 1):
        raise ValueError(f"too few studies (k = {k}) for {p} coefficients with method {method}")
    yc = y - y.mean()

    tau2, tau2_se, converged, iters, notes = _tau2(yc, v, X, method, maxiter, threshold)
    warn, method_used = list(notes), method
    if not converged:
        msg = f"{method} Fisher scoring did not converge within maxiter={maxiter} iterations (threshold={threshold:g})"
        if fallback is None:
            raise RuntimeError(msg)
        warn.append(f"{msg}; fell back to method={fallback}")
        method_used = fallback
        tau2, tau2_se, _, _, more = _tau2(yc, v, X, fallback, maxiter, threshold)
        warn += more

    w = 1 / (v + tau2)
    vb = _xwx_inv(X, w)
    beta = vb @ X.T @ (w * y)
    nan = math.nan
    if test == "knha":
        if method_used == "EE":
            warn.append("Knapp-Hartung method is not meant to be used with an EE model")
        rss = float(w @ (y - X @ beta) ** 2)
        vb = vb * (0.0 if rss <= np.finfo(float).eps else rss / (k - p))
        df = float(k - p)
    else:
        df = nan
    se = np.sqrt(np.diag(vb))
    with np.errstate(divide="ignore", invalid="ignore"):
        zt = beta / se
    btt = np.arange(1, p) if p > 1 else np.arange(1)
    m = len(btt)
    QM = float(beta[btt] @ np.linalg.solve(vb[np.ix_(btt, btt)], beta[btt])) if np.all(se[btt] > 0) else nan
    if test == "knha":
        QM /= m
        QM_df2 = float(k - p)
        QM_p = float(distributions.f_sf(QM, m, k - p)) if k > p else nan
        pval = 2 * distributions.t_sf(np.abs(zt), df) if k > p else np.full(p, nan)
        crit = distributions.t_isf((1 - level) / 2, df) if k > p else nan
    else:
        QM_df2 = nan
        QM_p = float(distributions.chi2_sf(QM, m))
        pval = 2 * distributions.norm_sf(np.abs(zt))
        crit = distributions.norm_isf((1 - level) / 2)

    if k > p:
        P = _PSums(X, 1 / v)
        QE = max(0.0, P.quad(yc))
        QE_p = float(distributions.chi2_sf(QE, k - p))
        vt = (k - p) / P.trace
        if method_used == "EE":
            I2, H2 = (0.0 if QE <= k - p else 100 * (QE - (k - p)) / QE), QE / (k - p)
        else:
            I2, H2 = 100 * tau2 / (vt + tau2), tau2 / vt + 1
    else:
        QE, QE_p, I2, H2 = 0.0, 1.0, 0.0, 1.0

    def tup(a):
        return tuple(float(x) for x in a)

    return RmaModsResult(
        k=k, p=p, method=method, method_used=method_used, test=test, level=level, coef_names=coef_names,
        beta=tup(beta), se=tup(se), zval_or_tval=tup(zt), pval=tup(pval), ci_lb=tup(beta - crit * se),
        ci_ub=tup(beta + crit * se), df=df, tau2=float(tau2), tau2_se=float(tau2_se), QE=QE, QE_df=k - p,
        QE_p=QE_p, QM=QM, QM_df1=m, QM_df2=QM_df2, QM_p=QM_p, I2=float(I2), H2=float(H2), converged=converged,
        iterations=iters, warnings=tuple(warn))


# --------------------------------------------------------------------------------------
# Test for subgroup differences
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SubgroupTest:
    """Two tests for subgroup differences, both with the same τ² method and test.

    Moderator test (metafor ``rma(yi, vi, mods = ~ factor(group))``): QM of the meta-regression on the
    subgroup dummies, one τ² shared by all subgroups (QM_df1 = groups - 1; F-test with QM_df2 under knha).
    Separate fits (RevMan's "test for subgroup differences", Cochrane Handbook chapter 10): each subgroup
    pooled on its own (own τ²), then Qb = Σ (estimate_g - pooled)² / se_g², the pooled value being their
    inverse-variance mean (metafor: rma(estimate, sei=se, method="EE")$QE), chi² with groups - 1 df.
    """

    method: str
    test: str
    level: float
    groups: tuple
    k: tuple[int, ...]
    QM: float
    QM_df1: int
    QM_df2: float
    QM_p: float
    tau2: float
    Qb: float
    Qb_df: int
    Qb_p: float
    estimates: tuple[float, ...]
    se: tuple[float, ...]
    tau2_groups: tuple[float, ...]
    model: RmaModsResult

    def as_dict(self) -> dict:
        return asdict(self)


def subgroup_test(yi, vi, groups, method="REML", test="z", level=0.95, **kw) -> SubgroupTest:
    """Test for subgroup differences in two ways (see ``SubgroupTest``). groups: one label per study.

    Levels are sorted; the first is the reference of the dummy coding (QM does not depend on it).
    kw go to ``rma_mods`` and ``meta.rma`` (fallback, maxiter, threshold).
    """
    labels = list(groups)
    y = np.atleast_1d(np.asarray(yi, dtype=float))
    v = np.atleast_1d(np.asarray(vi, dtype=float))
    if len(labels) != len(y):
        raise ValueError(f"groups has {len(labels)} labels for {len(y)} studies")
    levels = sorted(set(labels))
    if len(levels) < 2:
        raise ValueError("need at least two subgroups")
    dummies = np.column_stack([[lab == lev for lab in labels] for lev in levels[1:]]).astype(float)
    model = rma_mods(y, v, dummies, method, test, level, names=[str(lev) for lev in levels[1:]], **kw)
    members = [np.array([lab == lev for lab in labels]) for lev in levels]
    fits = [rma(y[m], v[m], method, test, level, **kw) for m in members]
    est = np.array([f.estimate for f in fits])
    w = 1 / np.array([f.se for f in fits]) ** 2
    Qb = float(w @ (est - w @ est / w.sum()) ** 2)
    return SubgroupTest(
        method=model.method, test=model.test, level=level, groups=tuple(levels), k=tuple(int(m.sum()) for m in members),
        QM=model.QM, QM_df1=model.QM_df1, QM_df2=model.QM_df2, QM_p=model.QM_p, tau2=model.tau2, Qb=Qb,
        Qb_df=len(levels) - 1, Qb_p=float(distributions.chi2_sf(Qb, len(levels) - 1)), estimates=tuple(map(float, est)),
        se=tuple(f.se for f in fits), tau2_groups=tuple(f.tau2 if f.pooled else 0.0 for f in fits), model=model)
