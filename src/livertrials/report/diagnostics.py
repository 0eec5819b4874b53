"""The report's section on the methods beside the inverse-variance pools: where the Mantel-Haenszel and Peto
rows are, the test for subgroup differences of every subgroup analysis (from the subgroup rows of
pooled.parquet), and the small-study tests (small_study_tests.parquet), with the rule for when they are made."""

from __future__ import annotations

import math

import pandas as pd

from livertrials.figures.forest_specs import RATIO
from livertrials.report.html import Html, esc, num, para, section, table
from livertrials.report.trails import trail_link
from livertrials.synthesis.event_pools import EVENT_METHODS, RESULT_COLUMNS

ANCHOR, TITLE = "diagnostics", "Subgroup differences and small-study effects"


def _plain(x):
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else x


def _p(p) -> str:
    return "" if not _finite(p) else ("< 0.001" if p < 0.001 else num(p, 3))


def _finite(x) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _what(r: dict) -> Html:
    design = f"{r['design']}; {r['basis']}" + (f"; MELD {r['meld_variant']}" if _plain(r.get("meld_variant")) else "")
    return Html(f"<b>{esc(r['measure'])}</b><br><span class=\"small\">{esc(design)}</span>")


SUBGROUP_SHOWN = ["subgroup_test", "subgroup_q", "subgroup_df", "subgroup_p", "subgroup_level", "k", "pooled_id"]


def subgroup_tests(pooled: pd.DataFrame) -> list[list]:
    """One table row per subgroup analysis (pool x subgroup variable), from its subgroup rows."""
    if "subgroup_test" not in pooled.columns:
        return []
    rows = pooled[(pooled["analysis"] == "subgroup")]
    # the analysis's identity: every column that is not a result or the level (a comparison column included)
    key_columns = [c for c in pooled.columns if c not in RESULT_COLUMNS and c not in ("subgroup_level", "excluded_flags")]
    shown = [*key_columns, *[c for c in SUBGROUP_SHOWN if c in pooled.columns and c not in key_columns]]
    groups: dict[tuple, list[dict]] = {}
    for r in rows[shown].to_dict("records"):       # not the id lists: 800,000 ids at 1,000 studies
        groups.setdefault(tuple(_plain(r[c]) for c in key_columns), []).append(r)
    out = []
    for levels in groups.values():
        first = levels[0]
        if not _plain(first.get("subgroup_test")):
            continue
        k = ", ".join(f"{r['subgroup_level']} (k = {r['k']})" for r in levels)
        stat = (f"{num(first['subgroup_q'])} (df {int(first['subgroup_df'])})" if _finite(first["subgroup_q"]) else "")
        out.append([first.get("comparison"), first["outcome_label"], first["window"], _what(first),
                    first["subgroup_variable"], k, stat,
                     _p(first["subgroup_p"]), Html(f'<span class="small">{esc(first["subgroup_test"])}</span>'),
                     trail_link(str(first["pooled_id"]))])
    return out


def _on_scale(r: dict, name: str) -> float:
    value = r[name]
    return math.exp(value) if r["measure"] in RATIO and _finite(value) else value


def _interval(r: dict, est: str, lb: str, ub: str) -> str:
    if not _finite(r.get(est)):
        return ""
    return f"{num(_on_scale(r, est))} [{num(_on_scale(r, lb))}, {num(_on_scale(r, ub))}]"


def small_study_rows(small: pd.DataFrame) -> list[list]:
    out = []
    for r in small.to_dict("records"):
        stat = "t" if r.get("regtest_test") == "knha" else "z"
        regtest = (f"{stat} = {num(r['regtest_statistic'])}, p = {_p(r['regtest_pval'])}"
                   if _finite(r.get("regtest_statistic")) else "not computed")
        filled = (f"k0 = {int(r['trimfill_k0'])} ({r['trimfill_side']}); {_interval(r, 'trimfill_estimate', 'trimfill_ci_lb', 'trimfill_ci_ub')}"
                  if _finite(r.get("trimfill_k0")) else "not computed")
        out.append([r.get("comparison"), r["outcome_label"], r["window"], _what(r), r["k"],
                    _interval(r, "observed_estimate", "observed_ci_lb", "observed_ci_ub"), regtest,
                    _interval(r, "regtest_limit_estimate", "regtest_limit_ci_lb", "regtest_limit_ci_ub"), filled,
                    Html(f'<span class="small">{esc(r["note"])}</span>'), trail_link(str(r["pooled_id"]))])
    return out


def diagnostics_section(pooled: pd.DataFrame, small: pd.DataFrame | None, settings: dict) -> Html:
    """settings: the synthesis settings stored with pooled.parquet (forest_specs.synthesis_settings)."""
    method, test = settings.get("default_method"), settings.get("default_test")
    events = pooled[pooled["method"].isin(EVENT_METHODS)]
    parts = [para(f"Event outcomes: {len(events)} common-effect rows on the 2x2 counts stand beside the inverse-variance "
                  "rows of the main analyses in the pooled-results table (method MH: Mantel-Haenszel OR, RR and RD, as "
                  "metafor rma.mh; method Peto: Peto's one-step OR, as metafor rma.peto; raw counts for the estimate, "
                  "0.5 added to tables with a zero cell for Q; studies known only by their own reported effect have no "
                  "counts and are not in these rows). synthesis.event_methods: "
                  f"{', '.join(settings.get('event_methods') or []) or 'none'}.")]
    parts.append("<h3>Tests for subgroup differences</h3>")
    parts.append(para(f"One test per subgroup analysis: the moderator test QM of rma(yi, vi, mods = ~ factor(subgroup), "
                      f"method = {method}, test = {test}), one τ² shared by the subgroups; chi² with subgroups − 1 df "
                      "(F under Hartung-Knapp). The same numbers are under each subgroup forest plot and on the subgroup "
                      "rows of pooled.parquet (subgroup_q, subgroup_df, subgroup_p, subgroup_test).", "small"))
    parts.append(table(["Comparison", "Outcome", "Window", "Measure (design; basis)", "Subgroup variable", "Subgroups", "Statistic (df)",
                        "p", "Test", "Trail"], subgroup_tests(pooled), "small"))
    parts.append("<h3>Small-study effects: regression test and trim-and-fill</h3>")
    min_k = settings.get("small_study_min_k")
    main = pooled[(pooled["analysis"] == "main") & (pooled["method"] == method) & (pooled["test"] == test)]
    fewer = int((main["k"] < min_k).sum()) if min_k is not None else 0
    tests = settings.get("small_study_tests") or []
    parts.append(para(
        f"Computed for every main analysis with k ≥ {min_k} studies (synthesis.small_study_min_k; Cochrane Handbook "
        f"chapter 13: with fewer studies these tests cannot tell chance from asymmetry) — tests: "
        f"{', '.join(tests) or 'none'} (synthesis.small_study_tests). Regression test: metafor's regtest default, a "
        f"meta-regression of the effects on their standard errors ({method}, {test} test); trim-and-fill: L0 "
        f"estimator, side chosen as metafor does, {method}, z test. {fewer} of {len(main)} main analyses have fewer "
        f"than {min_k} studies and are not assessed (no row in results/synthesis/small_study_tests.parquet). Ratios "
        "(RR, OR, HR) on the ratio scale.", "small"))
    rows = small_study_rows(small) if small is not None else []
    parts.append(table(["Comparison", "Outcome", "Window", "Measure (design; basis)", "k", "Observed [95% CI]", "Regression test",
                        "Limit estimate (SE → 0) [95% CI]", "Trim-and-fill: k0 (side); filled [95% CI]", "Note", "Trail"],
                       rows, "small"))
    return section(ANCHOR, TITLE, *parts)
