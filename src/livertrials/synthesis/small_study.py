"""Small-study tests of the main analyses with at least ``small_study_min_k`` studies: the table
``results/synthesis/small_study_tests.parquet`` (schema ``schemas.SMALL_STUDY_TESTS``).

Per main-analysis pool, on the study effects of its default-estimator row (never MH or Peto rows):

* the regression test for funnel-plot asymmetry as metafor's ``regtest`` does it by default: a meta-regression
  of yi on the SE (model "rma", predictor "sei") with the default estimator and test (``meta_bias.regtest``);
* trim-and-fill (``meta_bias.trimfill``): estimator L0, side chosen as metafor chooses it, the default estimator,
  z test (as metafor's ``trimfill``).

Pools with fewer studies get no row (the report says how many); Cochrane Handbook chapter 13: with fewer
than 10 studies these tests cannot tell chance from asymmetry.
"""

from __future__ import annotations

import math

import pandas as pd

from livertrials.io.cache import ContentCache
from livertrials.synthesis.measures import RATIO_MEASURES
from livertrials.synthesis.meta_bias import regtest, trimfill
from livertrials.synthesis.schemas import SMALL_STUDY_TESTS
from livertrials.synthesis.settings import Settings

_IDENTITY = ("pooled_id", "comparison", "outcome", "outcome_label", "design", "basis", "window", "measure", "meld_variant")
_READ = (*_IDENTITY, "k", "estimate", "ci_lb", "ci_ub", "study_ids", "comparison_ids")   # the row fields a test uses


def tested_rows(pooled: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """The main-analysis rows that get small-study tests: default estimator and test, k >= small_study_min_k."""
    return pooled[(pooled["analysis"] == "main") & (pooled["method"] == settings.default_method)
                  & (pooled["test"] == settings.default_test) & (pooled["k"] >= settings.small_study_min_k)]


def small_study_table(comparisons: pd.DataFrame, pooled: pd.DataFrame, settings: Settings,
                      cache: ContentCache | None = None) -> pd.DataFrame:
    """One row per main analysis with k >= small_study_min_k (none when small_study_tests is empty). With a
    ``cache``, the tests of a row whose fields, study effects and settings are unchanged are reused."""
    rows = tested_rows(pooled, settings) if settings.small_study_tests else pooled.iloc[:0]
    effects = comparisons.set_index("comparison_id")[["yi", "vi"]]
    cache = cache or ContentCache(None, "small_study_tests", "")
    out = []
    for row in rows.to_dict("records"):
        study_effects = effects.loc[list(row["comparison_ids"])]
        used = {name: row[name] for name in _READ}
        key = cache.key(settings.as_json(), used, study_effects.to_numpy(dtype=float)) if cache.enabled else ""
        out.append(cache.fetch(key, small_study_row, row, study_effects, settings))
    return pd.DataFrame(out, columns=SMALL_STUDY_TESTS.names)


def small_study_row(row: dict, effects: pd.DataFrame, settings: Settings) -> dict:
    """The tests of one pooled row; effects: its studies' yi and vi, in the row's order."""
    yi, vi = effects["yi"].to_numpy(dtype=float), effects["vi"].to_numpy(dtype=float)
    method, test = settings.default_method, settings.default_test
    out = {**{key: row[key] for key in _IDENTITY}, "k": int(row["k"]), "method": method,
           "observed_estimate": row["estimate"], "observed_ci_lb": row["ci_lb"], "observed_ci_ub": row["ci_ub"],
           "study_ids": list(row["study_ids"]), "comparison_ids": list(row["comparison_ids"])}
    notes = []
    if "regtest" in settings.small_study_tests:
        call = f'regtest(model = "rma", predictor = "sei") of rma(yi, vi, method = "{method}", test = "{test}")'
        try:
            r = regtest(yi, vi, model="rma", predictor="sei", method=method, test=test, level=settings.level,
                        fallback=settings.fallback)
            out.update(regtest_model=r.model, regtest_predictor=r.predictor, regtest_test=r.test,
                       regtest_statistic=r.statistic, regtest_df=r.df, regtest_pval=r.pval,
                       regtest_limit_estimate=r.limit_estimate, regtest_limit_ci_lb=r.limit_ci_lb,
                       regtest_limit_ci_ub=r.limit_ci_ub)
            notes.append(f"metafor {call}" + "".join(f" ({w})" for w in r.fit.warnings))
        except (ValueError, RuntimeError) as error:   # e.g. every study with the same SE: the slope is not identifiable
            notes.append(f"{call} not computed: {error}")
    if "trimfill" in settings.small_study_tests:
        call = f'trimfill(rma(yi, vi, method = "{method}"), estimator = "L0")'
        try:
            t = trimfill(yi, vi, method, estimator="L0", level=settings.level, fallback=settings.fallback)
            fit = t.fit
            ratio = row["measure"] in RATIO_MEASURES
            out.update(trimfill_estimator=t.estimator, trimfill_side=t.side, trimfill_k0=t.k0, trimfill_k0_se=t.k0_se,
                       trimfill_estimate=fit.estimate, trimfill_se=fit.se, trimfill_ci_lb=fit.ci_lb,
                       trimfill_ci_ub=fit.ci_ub, trimfill_tau2=fit.tau2, trimfill_yi_filled=list(t.yi_filled),
                       trimfill_vi_filled=list(t.vi_filled),
                       **{f"trimfill_ratio_{name}": math.exp(getattr(fit, name)) if ratio else None
                          for name in ("estimate", "ci_lb", "ci_ub")})
            notes.append(f"metafor {call}, z test" + "".join(f" ({w})" for w in fit.warnings))
        except (ValueError, RuntimeError) as error:
            notes.append(f"{call} not computed: {error}")
    out["note"] = "; ".join(notes)
    return out
