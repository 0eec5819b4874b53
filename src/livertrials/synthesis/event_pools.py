"""Mantel-Haenszel and Peto rows beside the inverse-variance main analysis of every event pool.

A pool of RR, OR or RD study effects (one outcome x window x measure, between arms) gets, for its main
analysis, a Mantel-Haenszel row of that measure (method "MH", ``meta_events.rma_mh``) and, on the OR pool, a
Peto OR row (method "Peto", ``meta_events.rma_peto``): common-effect pooling of the 2x2 counts of the pool's
studies, with metafor's ``rma.mh``/``rma.peto`` defaults (raw counts for the estimate; 0.5 added to tables with
a zero cell, double-zero tables left out, for Q). A study that entered the pool through its own reported effect
has no counts and is left out of these rows (said in the row's warnings); a pool with no counts gets none.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from livertrials.synthesis.meta_events import MH_MEASURES, rma_mh, rma_peto
from livertrials.synthesis.settings import Settings

EVENT_METHODS = ("MH", "Peto")
_NAMES = {"MH": "Mantel-Haenszel", "Peto": "Peto"}
_FUNCTIONS = {"MH": "rma.mh", "Peto": "rma.peto"}
# result columns of a pooled row: an event row fills these itself and copies every other column (the pool's identity)
RESULT_COLUMNS = frozenset({
    "pooled_id", "method", "method_used", "test", "level", "prediction_interval", "k", "pooled", "estimate", "se",
    "statistic", "df", "pval", "ci_lb", "ci_ub", "pi_lb", "pi_ub", "ratio_estimate", "ratio_ci_lb", "ratio_ci_ub",
    "ratio_pi_lb", "ratio_pi_ub", "tau2", "tau2_se", "tau2_ci_lb", "tau2_ci_ub", "tau", "Q", "Q_df", "Q_p", "I2",
    "I2_ci_lb", "I2_ci_ub", "H2", "H2_ci_lb", "H2_ci_ub", "converged", "iterations", "warnings", "study_ids",
    "weights", "comparison_ids", "record_ids", "subgroup_q", "subgroup_df", "subgroup_p", "subgroup_test"})


def has_counts(frame: pd.DataFrame) -> np.ndarray:
    """Rows of a pool that carry a 2x2 table: effects computed from arm events and totals."""
    counts = frame[["events_1", "total_1", "events_2", "total_2"]].to_numpy(dtype=float)
    return (frame["source"] == "arm_data").to_numpy() & np.isfinite(counts).all(axis=1)


def event_rows(pool_rows: list[dict], frame: pd.DataFrame, settings: Settings) -> list[dict]:
    """MH (and, for OR, Peto) rows for the main analysis of one pool, without pooled_id (the caller gives it).

    pool_rows: the pool's rows already made (the main analysis's identity is copied from them); frame: the
    pool's comparisons, sorted by study. Nothing for pools of other measures or without counts."""
    measure = frame["measure"].iloc[0]
    main = next((r for r in pool_rows if r["analysis"] == "main"), None)
    if main is None or measure not in MH_MEASURES or not settings.event_methods:
        return []
    usable = has_counts(frame)
    if not usable.any():
        return []
    tables = frame[usable]
    a, n1, c, n2 = (tables[col].to_numpy(dtype=float) for col in ("events_1", "total_1", "events_2", "total_2"))
    left_out = frame.loc[~usable, "study_id"].tolist()
    identity = {key: value for key, value in main.items() if key not in RESULT_COLUMNS}
    members = {"study_ids": tables["study_id"].tolist(), "comparison_ids": tables["comparison_id"].tolist(),
               "record_ids": list(dict.fromkeys(r for ids in tables["record_ids"] for r in ids))}
    out = []
    for method in settings.event_methods:
        if method == "Peto" and measure != "OR":
            continue
        numbers = _fit(method, measure, a, n1, c, n2, settings.level)
        if left_out:
            numbers["warnings"].append(f"{len(left_out)} of {len(frame)} studies have no 2x2 counts (their own reported "
                                       f"effect only) and are not in this {_NAMES[method]} row: {', '.join(left_out)}")
        out.append({**identity, **numbers, **members})
    return out


def _fit(method: str, measure: str, a, n1, c, n2, level: float) -> dict:
    """The numeric part of an MH or Peto row; a Peto fit metafor refuses (no events anywhere) is a row of NaN."""
    warnings: list[str] = []
    try:
        res = rma_mh(a, n1, c, n2, measure=measure, level=level) if method == "MH" else rma_peto(a, n1, c, n2, level=level)
    except ValueError as error:   # Peto: sum of V = 0
        res = None
        warnings.append(f"Peto OR not estimable: {error}")
    k = len(a)
    nan = math.nan
    row = {"method": method, "method_used": method, "test": "z", "level": level, "prediction_interval": None,
           "k": k, "pooled": k > 1, "df": nan, "pi_lb": nan, "pi_ub": nan, "ratio_pi_lb": nan, "ratio_pi_ub": nan,
           "tau2": nan, "tau2_se": nan, "tau2_ci_lb": nan, "tau2_ci_ub": nan, "tau": nan, "I2_ci_lb": nan,
           "I2_ci_ub": nan, "H2_ci_lb": nan, "H2_ci_ub": nan, "converged": True, "iterations": 0}
    if res is None:
        row.update(dict.fromkeys(("estimate", "se", "statistic", "pval", "ci_lb", "ci_ub", "Q", "Q_p", "I2", "H2"), nan),
                   Q_df=max(0, k - 1), weights=[nan] * k)
    else:
        warnings += res.warnings
        row.update(estimate=res.estimate, se=res.se, statistic=res.zval, pval=res.pval, ci_lb=res.ci_lb, ci_ub=res.ci_ub,
                   Q=res.Q, Q_df=res.Q_df, Q_p=res.Q_p, I2=res.I2, H2=res.H2, weights=list(res.weights))
        if res.k_yi < res.k:
            warnings.append(f"Q has {res.Q_df} df: tables with no events (or only events) in both arms "
                            f"({res.k - res.k_yi} of {res.k}) have no study-level estimate (metafor drop00=TRUE)")
    if k == 1:
        warnings.insert(0, "k=1: not pooled (the single table's own estimate)")
    ratio = measure in ("RR", "OR")
    for name in ("estimate", "ci_lb", "ci_ub"):
        row["ratio_" + name] = math.exp(row[name]) if ratio and math.isfinite(row[name]) else nan
    row["warnings"] = warnings
    return row


# --------------------------------------------------------------------------------------
# Lineage texts
# --------------------------------------------------------------------------------------

def event_method_text(row) -> str:
    """How an MH or Peto row was computed, for its lineage edges."""
    measure = "OR" if row["method"] == "Peto" else row["measure"]
    weights = {"MH": {"OR": "b*c/N", "RR": "c*n1/N", "RD": "n1*n2/N"}[measure], "Peto": "V (hypergeometric variance)"}
    pooled = "" if row["pooled"] else "k = 1, nothing pooled: "
    return (f"{pooled}{_NAMES[row['method']]} {measure} (common effect; metafor {_FUNCTIONS[row['method']]}, "
            f"livertrials.synthesis.meta_events), 2x2 counts events_1/total_1 vs events_2/total_2 of each study, raw "
            f"counts for the estimate; Q from study estimates with 0.5 added to tables with a zero cell, double-zero "
            f"tables left out; weights {weights[row['method']]} normalised to 100%; z test, "
            f"{float(row['level']) * 100:g}% CI")


def with_event_counts(edges: list[dict], pooled: pd.DataFrame, comparisons: pd.DataFrame) -> list[dict]:
    """Lineage edges with, on the edges of MH and Peto rows, each study's counts (pool edges) or the reason a
    study is missing (exclude edges of a used study without counts)."""
    rows = pooled[pooled["method"].isin(EVENT_METHODS)]
    if rows.empty:
        return edges
    ids = set(rows["pooled_id"])
    needed = {edge["input_id"] for edge in edges if edge["output_id"] in ids}   # a row lookup per edge cost seconds
    info = {r["comparison_id"]: r for r in comparisons[comparisons["comparison_id"].isin(needed)].to_dict("records")}
    out = []
    for edge in edges:
        if edge["output_id"] in ids and edge["input_id"] in info:
            c = info[edge["input_id"]]
            if edge["step"] == "pool":
                counts = (f"; counts {_n(c['events_1'])}/{_n(c['total_1'])} vs {_n(c['events_2'])}/{_n(c['total_2'])} "
                          f"({' + '.join(c['arms_1'])} vs {' + '.join(c['arms_2'])})")
                edge = {**edge, "transformation": edge["transformation"] + counts}
            elif edge["step"] == "exclude" and bool(c["used"]) and c["source"] != "arm_data":
                edge = {**edge, "transformation": "left out of this main analysis: no 2x2 counts (the study's own "
                                                  "reported effect only); Mantel-Haenszel and Peto pool events and totals"}
        out.append(edge)
    return out


def _n(x) -> str:
    return f"{float(x):g}"
