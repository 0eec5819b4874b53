"""The test for subgroup differences of every subgroup analysis, written on its subgroup rows.

One test per pool x subgroup variable: the moderator test of ``meta_reg.subgroup_test``, i.e. QM of
metafor's ``rma(yi, vi, mods = ~ factor(subgroup), method, test)`` with the default estimator and test (one
tau^2 shared by the subgroups; chi^2 with groups - 1 df under z, F(groups - 1, k - groups) under knha). The
subgroups are exactly the subgroup rows' studies, so the test and the rows can never disagree.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from livertrials.synthesis.meta_reg import subgroup_test
from livertrials.synthesis.settings import Settings

COLUMNS = ("subgroup_q", "subgroup_df", "subgroup_p", "subgroup_test")


def add_subgroup_tests(pool_rows: list[dict], frame: pd.DataFrame, settings: Settings) -> None:
    """Set subgroup_q, subgroup_df, subgroup_p and subgroup_test on every subgroup row of one pool (in place)."""
    if not settings.subgroup_difference_test:
        return
    by_variable: dict[str, list[dict]] = {}
    for row in pool_rows:
        if row["analysis"] == "subgroup":
            by_variable.setdefault(row["subgroup_variable"], []).append(row)
    if not by_variable:
        return
    effects = dict(zip(frame["comparison_id"], zip(frame["yi"].to_numpy(dtype=float), frame["vi"].to_numpy(dtype=float))))
    for variable, rows in by_variable.items():
        test = difference_test(variable, rows, effects, settings)
        for row in rows:
            row.update(test)


def difference_test(variable: str, rows: list[dict], effects: dict, settings: Settings) -> dict:
    """The four columns for the subgroup rows of one variable (a row each level, with its comparison_ids)."""
    level_of = {cid: row["subgroup_level"] for row in rows for cid in row["comparison_ids"]}
    ids = sorted(level_of)
    yi = np.array([effects[cid][0] for cid in ids])
    vi = np.array([effects[cid][1] for cid in ids])
    groups = [level_of[cid] for cid in ids]
    method, test = settings.default_method, settings.default_test
    model = f"rma(yi, vi, mods = ~ factor({variable}), method = \"{method}\", test = \"{test}\")"
    try:
        result = subgroup_test(yi, vi, groups, method, test, settings.level, fallback=settings.fallback)
    except ValueError as error:   # e.g. as many subgroups as studies: no residual df for tau^2
        return {"subgroup_q": math.nan, "subgroup_df": None, "subgroup_p": math.nan,
                "subgroup_test": f"not computed: {error} (the moderator test needs more studies than subgroups)"}
    stat = (f"F({result.QM_df1}, {result.QM_df2:.0f})" if test == "knha"
            else f"chi-squared with {result.QM_df1} df")
    used = result.model.method_used
    fallback = f"; tau^2 by {used} (fallback)" if used != result.method else ""
    return {"subgroup_q": result.QM, "subgroup_df": result.QM_df1, "subgroup_p": result.QM_p,
            "subgroup_test": f"moderator test QM, {stat}, one tau^2 shared by the subgroups (metafor {model}){fallback}"}
