"""Small-study effects / publication bias: Egger-type regression test and trim-and-fill.

Reproduce metafor's ``regtest`` and ``trimfill`` (``R/regtest.r``, ``R/trimfill.rma.uni.r``; formulas
in docs/methods.md). Which regression test is reported must always be said: metafor's default
(model "rma") is a mixed-effects meta-regression on the standard error with the model's τ² method and
test; the classical Egger test (Egger et al. 1997) is model "lm", a weighted least-squares regression
with a multiplicative dispersion parameter and a t-test on k - 2 df.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from livertrials import distributions
from livertrials.synthesis.meta import RmaResult, rma, validate_inputs
from livertrials.synthesis.meta_reg import RmaModsResult, rma_mods

__all__ = ["RegtestResult", "regtest", "TrimfillResult", "trimfill"]

PREDICTORS = ("sei", "vi", "ni", "ninv", "sqrtni", "sqrtninv")
_LIMIT_PREDICTORS = ("sei", "vi", "ninv", "sqrtninv")   # the intercept is the estimate as the predictor -> 0


@dataclass(frozen=True)
class RegtestResult:
    """Regression test for funnel-plot asymmetry.

    statistic: z (model "rma" with test "z") or t (model "lm", or "rma" with knha), df NaN for z.
    limit_estimate: the intercept, i.e. the effect expected for a study with predictor 0 (infinitely
    precise); NaN for the predictors ni and sqrtni, where metafor gives none.
    """

    model: str
    predictor: str
    method: str
    test: str
    level: float
    k: int
    statistic: float
    df: float
    pval: float
    slope: float
    slope_se: float
    limit_estimate: float
    limit_ci_lb: float
    limit_ci_ub: float
    fit: RmaModsResult | None

    def as_dict(self) -> dict:
        return asdict(self)


def regtest(yi, vi, model="rma", predictor="sei", method="REML", test="z", level=0.95, *, ni=None,
            **kw) -> RegtestResult:
    """Egger-type regression test (metafor ``regtest``); defaults are metafor's: model "rma", predictor "sei".

    model "rma": rma_mods(yi, vi, mods = predictor, method, test), test of the predictor's coefficient.
    model "lm": classical Egger, weighted least squares with weights 1/vi, t-test with k - 2 df (method
    and test are not used). ni (sample sizes) is needed for the predictors ni, ninv, sqrtni, sqrtninv.
    kw go to rma_mods (fallback, maxiter, threshold).
    """
    if model not in ("rma", "lm"):
        raise ValueError(f"model must be 'rma' or 'lm', got {model!r}")
    if predictor not in PREDICTORS:
        raise ValueError(f"predictor must be one of {PREDICTORS}, got {predictor!r}")
    y, v = validate_inputs(yi, vi, "EE" if model == "lm" else method, test, level)
    k = len(y)
    if k < 3:
        raise ValueError(f"the regression test needs at least 3 studies, got k = {k}")
    if predictor in ("sei", "vi"):
        x = np.sqrt(v) if predictor == "sei" else v
    else:
        if ni is None:
            raise ValueError(f"predictor {predictor!r} needs the sample sizes ni")
        n = np.atleast_1d(np.asarray(ni, dtype=float))
        if n.shape != y.shape or not np.all(n > 0):
            raise ValueError("ni must hold one sample size > 0 per study")
        x = {"ni": n, "ninv": 1 / n, "sqrtni": np.sqrt(n), "sqrtninv": 1 / np.sqrt(n)}[predictor]
    nan = math.nan
    if model == "rma":
        fit = rma_mods(y, v, x, method, test, level, names=[predictor], **kw)
        stat, pval, df = fit.zval_or_tval[1], fit.pval[1], fit.df
        slope, slope_se = fit.beta[1], fit.se[1]
        est, lb, ub = fit.beta[0], fit.ci_lb[0], fit.ci_ub[0]
        method, test = fit.method, fit.test
    else:
        fit = None
        X = np.column_stack([np.ones(k), x])
        w = 1 / v
        xtwx_inv = np.linalg.inv(X.T @ (X * w[:, None]))
        beta = xtwx_inv @ X.T @ (w * y)
        df = float(k - 2)
        s2 = float(w @ (y - X @ beta) ** 2) / df
        se = np.sqrt(np.diag(xtwx_inv) * s2)
        stat = float(beta[1] / se[1])
        pval = float(2 * distributions.t_sf(abs(stat), df))
        slope, slope_se = float(beta[1]), float(se[1])
        crit = distributions.t_isf((1 - level) / 2, df)
        est, lb, ub = float(beta[0]), float(beta[0] - crit * se[0]), float(beta[0] + crit * se[0])
        method, test = "", "t"
    if predictor not in _LIMIT_PREDICTORS:
        est = lb = ub = nan
    return RegtestResult(model=model, predictor=predictor, method=method, test=test, level=level, k=k,
                         statistic=float(stat), df=float(df), pval=float(pval), slope=float(slope),
                         slope_se=float(slope_se), limit_estimate=float(est), limit_ci_lb=float(lb),
                         limit_ci_ub=float(ub), fit=fit)


# --------------------------------------------------------------------------------------
# Trim and fill (Duval & Tweedie 2000)
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TrimfillResult:
    """Trim-and-fill: k0 studies imputed on ``side``; ``fit`` is the model of the observed plus filled
    studies (the model of the observed studies when k0 = 0). yi_filled/vi_filled are the imputed studies.
    k0_p: p-value of H0 "no missing studies" (estimator R0 only, NaN otherwise).
    """

    k0: int
    k0_se: float
    k0_p: float
    side: str
    estimator: str
    method: str
    iterations: int
    yi_filled: tuple[float, ...]
    vi_filled: tuple[float, ...]
    fit: RmaResult

    def as_dict(self) -> dict:
        return asdict(self)


def _signed_ranks(yc):
    """sign(yc) * rank(|yc|, ties.method = "first"), as in metafor."""
    ranks = np.empty(len(yc))
    ranks[np.argsort(np.abs(yc), kind="stable")] = np.arange(1, len(yc) + 1)
    return np.sign(yc) * ranks


def trimfill(yi, vi, method="REML", *, side=None, estimator="L0", level=0.95, maxiter=100,
             **kw) -> TrimfillResult:
    """Trim-and-fill (metafor ``trimfill``) for an intercept-only model with the given τ² method.

    side: "left" or "right" (where studies are missing); None chooses as metafor: "right" when the slope
    of rma_mods(yi, vi, mods = sqrt(vi), method) is negative, else "left". estimator: "L0" (default),
    "R0" or "Q0". Like metafor, every fit uses the z-test (metafor does not pass the model's test on).
    maxiter bounds the k0 iterations; kw (fallback, threshold) go to the model fits.
    """
    y0, v0 = validate_inputs(yi, vi, method, "z", level)
    k = len(y0)
    if k < 2:
        raise ValueError("trim-and-fill needs at least 2 studies")
    if estimator not in ("L0", "R0", "Q0"):
        raise ValueError(f"estimator must be 'L0', 'R0' or 'Q0', got {estimator!r}")
    if side is None:
        side = "right" if rma_mods(y0, v0, np.sqrt(v0), method, **kw).beta[1] < 0 else "left"
    elif side not in ("left", "right"):
        raise ValueError(f"side must be 'left', 'right' or None, got {side!r}")

    flip = -1.0 if side == "right" else 1.0
    order = np.argsort(flip * y0, kind="stable")
    y, v = flip * y0[order], v0[order]
    k0, k0_prev, it = 0, -1, 0
    while k0 != k0_prev:
        k0_prev = k0
        it += 1
        if it > maxiter:
            raise RuntimeError(f"trim-and-fill did not converge within maxiter={maxiter} iterations")
        if k - k0 < 1:
            raise RuntimeError("trim-and-fill trimmed every study")
        beta = rma(y[:k - k0], v[:k - k0], method, "z", level, **kw).estimate
        yc = y - beta
        r = _signed_ranks(yc)
        if estimator == "R0":
            if not np.any(r < 0):
                raise RuntimeError("R0 is not defined: no study lies below the trimmed estimate")
            k0_raw = (k - np.max(-r[r < 0])) - 1
            se_k0 = math.sqrt(2 * max(0.0, k0_raw) + 2)
        else:
            Sr = r[r > 0].sum()
            if estimator == "L0":
                k0_raw = (4 * Sr - k * (k + 1)) / (2 * k - 1)
            else:
                k0_raw = k - 0.5 - math.sqrt(2 * k**2 - 4 * Sr + 0.25)
            var_sr = (k * (k + 1) * (2 * k + 1) + 10 * k0_raw**3 + 27 * k0_raw**2 + 17 * k0_raw
                      - 18 * k * k0_raw**2 - 18 * k * k0_raw + 6 * k**2 * k0_raw) / 24
            if estimator == "L0":
                se_k0 = 4 * math.sqrt(var_sr) / (2 * k - 1)
            else:
                se_k0 = 2 * math.sqrt(var_sr) / math.sqrt((k - 0.5) ** 2 - k0_raw * (2 * k - k0_raw - 1))
        k0 = max(0, round(k0_raw))   # Python's round, like R's, takes halves to the even integer
        se_k0 = max(0.0, se_k0)

    if k0 > 0:
        y_fill = flip * (2 * beta - y[k - k0:])   # mirror images about the trimmed estimate
        v_fill = v[k - k0:]
        fit = rma(np.concatenate([y0, y_fill]), np.concatenate([v0, v_fill]), method, "z", level, **kw)
    else:
        y_fill = v_fill = np.array([])
        fit = rma(y0, v0, method, "z", level, **kw)
    # metafor: 1 - sum(choose(m+1, m+1) * 0.5^(m+2)) over m = -1..k0-1, i.e. 0.5^(k0+1)
    k0_p = 0.5 ** (k0 + 1) if estimator == "R0" else math.nan
    return TrimfillResult(k0=k0, k0_se=float(se_k0), k0_p=k0_p, side=side, estimator=estimator, method=fit.method,
                          iterations=it, yi_filled=tuple(map(float, y_fill)), vi_filled=tuple(map(float, v_fill)),
                          fit=fit)

