"""The meta-analysis engine at scale (issue 14: pools of 10,000 studies).

meta.rma and meta_reg.rma_mods use closed forms of the sums of P = W - WX(X'WX)⁻¹X'W instead of k x k
matrices (800 MB each at k = 10,000). Checked here: (1) against a direct k x k computation of metafor's
formulas (``R/rma.uni.r``) at k = 300, every estimator, to 1e-10 relative; (2) at k = 10,000 every
method and test runs within bounded memory (no k x k array: traced peak far below one such matrix).
Speed is not asserted (measured for the issue instead).
"""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest

from livertrials.synthesis import meta
from livertrials.synthesis.meta import rma, rma_models
from livertrials.synthesis.meta_bias import regtest, trimfill
from livertrials.synthesis.meta_events import rma_mh, rma_peto
from livertrials.synthesis.meta_reg import rma_mods, subgroup_test

MODELS = [(m, t) for m in meta.METHODS if m != "FE" for t in ("z", "knha") if not (m == "EE" and t == "knha")]


def studies(k, seed, dominant=False):
    rng = np.random.default_rng(seed)
    vi = rng.uniform(0.005, 0.5, k)
    if dominant:
        vi[k // 2] = 1e-7   # one study with almost all the fixed-effect weight
    yi = rng.normal(0.2, np.sqrt(vi + 0.05))
    return yi, vi


def inverse(A):
    """Gauss-Jordan inverse of a small matrix, in A's own precision (np.linalg has no long double)."""
    n = len(A)
    M = np.concatenate([A, np.eye(n, dtype=A.dtype)], axis=1)
    for i in range(n):
        pivot = i + np.argmax(np.abs(M[i:, i]))
        M[[i, pivot]] = M[[pivot, i]]
        M[i] /= M[i, i]
        for j in range(n):
            if j != i:
                M[j] -= M[j, i] * M[i]
    return M[:, n:]


def direct_tau2(y, v, X, method, maxiter=100, threshold=1e-5):
    """(tau2, tau2_se, iterations) of metafor's rma.uni formulas with the k x k matrices P, V and I.

    In long double: P = W - WX(X'WX)⁻¹X'W cancels where one study dominates, so a float64 k x k reference
    would be less exact than the closed forms it checks.
    """
    y, v, X = (np.asarray(a, dtype=np.longdouble) for a in (y, v, X))
    k, p = X.shape
    yc = y - y.mean()

    def P_of(w):
        WX = X * w[:, None]
        return np.diag(w) - WX @ inverse(X.T @ WX) @ WX.T

    if method in ("DL", "HS", "HSk"):
        w = 1 / v
        P = P_of(w)
        rss, trP, sPP = yc @ P @ yc, np.trace(P), np.sum(P * P)
        if method == "DL":
            t = max(0.0, (rss - (k - p)) / trP)
            return float(t), math.sqrt(2 * (k - p) + 4 * t * trP + 2 * t**2 * sPP) / trP, 0
        t = max(0.0, ((rss - k) if method == "HS" else (k / (k - p) * rss - k)) / w.sum())
        se = math.sqrt(2 * (k - p) + 4 * t * trP + 2 * t**2 * sPP) / w.sum()
        return float(t), se * (k / (k - p) if method == "HSk" else 1.0), 0
    P_ols = np.eye(k, dtype=X.dtype) - X @ inverse(X.T @ X) @ X.T
    PV = P_ols * v[None, :]
    he = (yc @ P_ols @ yc - np.trace(PV)) / (k - p)
    if method == "HE":
        t = max(0.0, he)
        return float(t), math.sqrt(2 * np.sum(PV * PV.T) + 4 * t * np.trace(PV) + 2 * t**2 * (k - p)) / (k - p), 0
    if method == "SJ":
        t0 = yc @ yc / k
        P = P_of(1 / (v + t0))
        t = max(0.0, t0 * (yc @ P @ yc) / (k - p))
        PV = P * v[None, :]
        return float(t), t0 / (k - p) * math.sqrt(2 * np.sum(PV * PV.T) + 4 * t * np.sum(PV * P) + 2 * t**2 * np.sum(P * P)), 0
    assert method in ("ML", "REML", "EB")
    t, it, change = max(0.0, he), 0, threshold + 1
    while change > threshold:
        it += 1
        old = t
        w = 1 / (v + t)
        P = P_of(w)
        Py = P @ yc
        if method == "ML":
            adj = (Py @ Py - w.sum()) / (w @ w)
        elif method == "REML":
            adj = (Py @ Py - np.trace(P)) / np.sum(P * P)
        else:
            adj = (yc @ Py * k / (k - p) - k) / w.sum()
        while t + adj < 0:
            adj /= 2
        t += adj
        change = abs(old - t)
        assert it <= maxiter
    w = 1 / (v + t)
    se = {"ML": lambda: math.sqrt(2 / (w @ w)), "REML": lambda: math.sqrt(2 / np.sum(P_of(w) ** 2)),
          "EB": lambda: math.sqrt(2 * k**2 / (k - p)) / w.sum()}[method]()
    return float(t), float(se), it


DIRECT = ("DL", "HS", "HSk", "HE", "SJ", "ML", "REML", "EB")


@pytest.mark.parametrize("dominant", [False, True])
@pytest.mark.parametrize("method", DIRECT)
def test_closed_forms_equal_the_k_by_k_formulas(method, dominant):
    y, v = studies(300, 7, dominant)
    rng = np.random.default_rng(8)
    designs = [np.ones((300, 1)), np.column_stack([np.ones(300), np.sqrt(v)]),
               np.column_stack([np.ones(300), rng.integers(0, 2, 300), rng.normal(size=300)])]
    for X in designs:
        t, se, it = direct_tau2(y, v, X, method)
        fit = rma(y, v, method) if X.shape[1] == 1 else rma_mods(y, v, X[:, 1:], method)
        assert fit.tau2 == pytest.approx(t, rel=1e-10, abs=1e-300), (method, X.shape)
        assert fit.tau2_se == pytest.approx(se, rel=1e-10), (method, X.shape)
        assert fit.iterations == it and fit.converged and fit.method_used == method
        if X.shape[1] == 1:   # Q (fixed-effect P) and the typical within-study variance behind I2
            w = 1 / v.astype(np.longdouble)
            P = np.diag(w) - np.outer(w, w) / w.sum()
            yc = y - y.mean()
            assert fit.Q == pytest.approx(float(yc @ P @ yc), rel=1e-10)
            assert fit.I2 == pytest.approx(float(100 * t / ((len(y) - 1) / np.trace(P) + t)), rel=1e-10)


def test_ten_thousand_studies_every_method_within_bounded_memory():
    k = 10_000
    y, v = studies(k, 20240601)
    ni = np.random.default_rng(1).integers(20, 400, k)
    matrix = k * k * 8   # one k x k float matrix: 800 MB
    tracemalloc.start()
    try:
        fits = rma_models(y, v, MODELS)
        mods = [rma_mods(y, v, np.empty((k, 0)), method, "z") for method in ("DL", "HE", "SJ", "REML", "PM")]
        egger = regtest(y, v)
        groups = subgroup_test(y, v, np.arange(k) % 3, "REML", "knha")
        filled = trimfill(y, v, "REML")
        a = np.random.default_rng(2).binomial(ni // 2, 0.2)
        c = np.random.default_rng(3).binomial(ni // 2, 0.3)
        events = [rma_mh(a, ni // 2, c, ni // 2, m) for m in ("OR", "RR", "RD")] + [rma_peto(a, ni // 2, c, ni // 2)]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < matrix / 8, f"peak traced memory {peak / 1e6:.0f} MB"
    assert [(f.method, f.test) for f in fits] == MODELS
    for f in fits:
        assert f.converged and f.k == k and math.isfinite(f.estimate) and math.isfinite(f.ci_lb) and f.tau2 >= 0
        assert f.method == "EE" or math.isfinite(f.tau2_se)
    # two independent closed forms (sums over the other studies; QR of the design) agree at k = 10,000
    by_method = {f.method: f for f in fits if f.test == "z"}
    for m in mods:
        ref = by_method[m.method]
        assert m.tau2 == pytest.approx(ref.tau2, rel=1e-9) and m.tau2_se == pytest.approx(ref.tau2_se, rel=1e-9)
        assert m.beta[0] == pytest.approx(ref.estimate, rel=1e-9) and m.QE == pytest.approx(ref.Q, rel=1e-9)
    assert math.isfinite(egger.statistic) and math.isfinite(groups.QM) and filled.fit.k == k + filled.k0
    assert all(math.isfinite(e.estimate) for e in events)
