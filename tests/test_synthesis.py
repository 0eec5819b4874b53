"""Tests for livertrials.synthesis (settings, comparisons, windows, pooling, comparators, the synthesize entry).

Expected numbers come from three independent places, never from running the code under test:

* hand formulas written out in this file (escalc, common-effect and DerSimonian-Laird pooling,
  Hartung-Knapp, prediction interval; for k = 2 the DL, REML and PM estimates of tau^2 all equal
  max(0, (d^2 - v1 - v2) / 2), the root of the k = 2 restricted likelihood and of Q(tau^2) = 1);
* the Cochrane Handbook Table 6.5.a vector of the project note formulas-and-methods.md §4.2
  ((10, 11.8, 2.4) + (20, 15.3, 3.2) + (15, 8.4, 4.1) -> N 45, mean 12.2222, SD 4.5028);
* R metafor, run on the project's own effects by tests/r/metafor_crosscheck.R (committed
  tests/r/metafor_results.csv and metafor_escalc.csv; see tests/r/README.md).
"""

from __future__ import annotations

import functools
import math
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import metafor_missing
from scipy import stats

from livertrials.io.tables import CHARACTERISTICS, HARMONIZED, to_table
from livertrials.synthesis import effects, meta
from livertrials.synthesis.comparators import comparators_table
from livertrials.synthesis.comparisons import build_comparisons
from livertrials.synthesis.pooling import pool_comparisons, pool_effects
from livertrials.synthesis.run import SCHEMAS, synthesize
from livertrials.synthesis.schemas import COMPARISONS
from livertrials.synthesis.settings import Settings
from livertrials.synthesis.windows import assign_window, mark_used, window_report

ROOT = Path(__file__).resolve().parents[1]
R_DIR = Path(__file__).parent / "r"
Z = stats.norm.isf(0.025)
# the window analyses alone: most tests look at one window, and the longest follow-up analysis would add a copy
# of each study's latest effect (tested on its own below)
WINDOWS_ONLY = Settings.from_config({"longest_follow_up": False})
MONTH = 365.25 / 12


# ---------------------------------------------------------------- synthetic harmonized tables

# what an arm of each role received, unless a test says otherwise: (intervention id, class) as in the registry
RECEIVED = {"intervention": ("bm_msc", "cell_therapy"), "control": ("standard_care", "control"),
            "active_comparator": ("gcsf", "mobilisation"), "all": ("all_arms", "whole_population")}


def rec(study, arm, role, *, outcome="albumin", tp="month 3", days=3 * MONTH, tkind="point", kind="continuous",
        n=20, mean=None, sd=None, events=None, total=None, quantity="level", collection="studies", flags=(),
        meld_variant=None, effect_measure=None, estimate=None, lo=None, hi=None, unit="g/L", p_value=None,
        received=None, arms_1=("cells",), arms_2=("control",)):
    contrast = role == "contrast"
    intervention, klass = received or RECEIVED.get(role, (None, None))
    return {
        "record_id": f"{study}|{arm}|{tp}|{outcome}", "study_id": study, "collection": collection, "arm_id": arm,
        "arm_label": arm, "arm_role": role, "is_contrast": contrast, "intervention": intervention,
        "intervention_label": intervention, "intervention_class": klass,
        "contrast_arms_1": list(arms_1) if contrast else [], "contrast_arms_2": list(arms_2) if contrast else [],
        "outcome": outcome, "outcome_label": outcome,
        "outcome_as_printed": [outcome], "kind": kind, "quantity": quantity, "timepoint_text": tp,
        "timepoint_kind": tkind, "timepoint_days": days, "timepoint_start_days": None, "unit": unit,
        "unit_printed": unit, "unit_factor": 1.0, "n": n, "mean": mean, "sd": sd, "median": None, "q1": None,
        "q3": None, "minimum": None, "maximum": None, "events": events, "events_exact": events, "total": total,
        "effect_measure": effect_measure, "estimate": estimate, "ci_lower": lo, "ci_upper": hi, "p_value": p_value,
        "t_statistic": None, "meld_variant": meld_variant, "method": "as reported", "source_row_ids": ["E1"],
        "flags": list(flags),
    }


def char(study, arm, role, *, randomized=True, condition="decompensated_cirrhosis", source="bone_marrow",
         route="hepatic_artery", kind="trial", collection="studies", received=None):
    intervention, klass = received or RECEIVED.get(role, (None, None))
    return {"study_id": study, "collection": collection, "kind": kind, "randomized": randomized, "condition": condition,
            "meld_variant": "not_stated", "arm_id": arm, "arm_role": role, "intervention": intervention,
            "intervention_label": intervention, "intervention_class": klass,
            "cell_source": source if role == "intervention" else "none", "route": route if role == "intervention" else "none",
            "study_flags": []}


def frames(records, chars):
    """As the pipeline reads them: through the Arrow schemas (nulls become NaN/None)."""
    return to_table(records, HARMONIZED).to_pandas(), to_table(chars, CHARACTERISTICS).to_pandas()


def two_arm(study, m1, sd1, n1, m2, sd2, n2, **kw):
    ckw = {k: kw.pop(k) for k in ("randomized", "condition", "source", "route") if k in kw}
    return ([rec(study, "cells", "intervention", n=n1, mean=m1, sd=sd1, **kw),
             rec(study, "control", "control", n=n2, mean=m2, sd=sd2, **kw)],
            [char(study, "cells", "intervention", **ckw), char(study, "control", "control", **ckw)])


# Three two-arm studies (albumin, g/L, month 3)
TOY = [("S1", 32.0, 5.0, 20, 29.0, 6.0, 22), ("S2", 40.0, 4.0, 15, 30.0, 5.0, 15), ("S3", 31.0, 6.0, 30, 31.5, 5.5, 28)]


def toy(settings=None, studies=TOY, **kw):
    records, chars = [], []
    for s in studies:
        r, c = two_arm(*s, **kw)
        records += r
        chars += c
    h, c = frames(records, chars)
    comparisons, reasons = build_comparisons(h, c, settings or WINDOWS_ONLY)
    return comparisons, reasons, h, c


def hand_md(m1, sd1, n1, m2, sd2, n2):
    return m1 - m2, sd1**2 / n1 + sd2**2 / n2


def main_rows(pooled, measure="MD"):
    return pooled[(pooled["analysis"] == "main") & (pooled["measure"] == measure)]


def pick(rows, method, test="z"):
    found = rows[(rows["method"] == method) & (rows["test"] == test)]
    assert len(found) == 1, found
    return found.iloc[0]


# ---------------------------------------------------------------- effect sizes by hand

def test_md_and_smd_match_hand_formulas():
    comparisons, *_ = toy()
    for study, m1, sd1, n1, m2, sd2, n2 in TOY:
        rows = comparisons[comparisons["study_id"] == study].set_index("measure")
        yi, vi = hand_md(m1, sd1, n1, m2, sd2, n2)
        assert rows.at["MD", "yi"] == pytest.approx(yi, abs=1e-12)
        assert rows.at["MD", "vi"] == pytest.approx(vi, abs=1e-12)
        m = n1 + n2 - 2
        j = math.exp(math.lgamma(m / 2) - 0.5 * math.log(m / 2) - math.lgamma((m - 1) / 2))   # exact J
        g = j * (m1 - m2) / math.sqrt(((n1 - 1) * sd1**2 + (n2 - 1) * sd2**2) / m)
        assert abs(j - (1 - 3 / (4 * m - 1))) < 1e-3          # close to Hedges' approximation, not equal
        assert rows.at["SMD", "yi"] == pytest.approx(g, abs=1e-12)
        assert rows.at["SMD", "vi"] == pytest.approx(1 / n1 + 1 / n2 + g**2 / (2 * (n1 + n2)), abs=1e-12)
        assert rows.at["MD", "ci_lb"] == pytest.approx(yi - Z * math.sqrt(vi), abs=1e-12)


def test_event_measures_with_metafor_zero_cell_correction():
    # 12/12 vs 1/13: a zero cell (no non-events in arm 1), so 0.5 goes to all four cells
    records = [rec("E", "cells", "intervention", kind="events", n=12, events=12, total=12, unit="patients"),
               rec("E", "control", "control", kind="events", n=13, events=1, total=13, unit="patients")]
    h, c = frames(records, [char("E", "cells", "intervention"), char("E", "control", "control")])
    rows = build_comparisons(h, c, WINDOWS_ONLY)[0].set_index("measure")
    a, b, cc, d = 12.5, 0.5, 1.5, 12.5
    assert rows.at["RR", "yi"] == pytest.approx(math.log((a / (a + b)) / (cc / (cc + d))), abs=1e-12)
    assert rows.at["RR", "vi"] == pytest.approx(1 / a - 1 / (a + b) + 1 / cc - 1 / (cc + d), abs=1e-12)
    assert rows.at["OR", "yi"] == pytest.approx(math.log(a * d / (b * cc)), abs=1e-12)
    assert rows.at["OR", "vi"] == pytest.approx(1 / a + 1 / b + 1 / cc + 1 / d, abs=1e-12)
    p1, p2 = a / 13, cc / 14
    assert rows.at["RD", "yi"] == pytest.approx(p1 - p2, abs=1e-12)
    assert rows.at["RD", "vi"] == pytest.approx(p1 * (1 - p1) / 13 + p2 * (1 - p2) / 14, abs=1e-12)
    assert "0.5 added" in rows.at["RR", "note"]


def test_reported_effects_enter_with_yi_vi_from_their_ci():
    records = [rec("H", "c", "contrast", outcome="survival", kind="events", tp="month 12", days=12 * MONTH,
                   quantity="ratio", effect_measure="HR", estimate=0.47, lo=0.29, hi=0.76, unit="HR"),
               rec("M", "c", "contrast", tp="month 6", days=6 * MONTH, quantity="difference",
                   effect_measure="WMD", estimate=2.0, lo=0.5, hi=3.5)]
    arms = [char(study, arm, role) for study in ("H", "M") for arm, role in (("cells", "intervention"), ("control", "control"))]
    h, c = frames(records, arms)
    rows = build_comparisons(h, c, WINDOWS_ONLY)[0].set_index("study_id")
    assert set(rows["comparison"]) == {"cell_vs_control"}          # the contrast's arms: cells vs control
    assert rows.at["H", "measure"] == "HR" and rows.at["H", "source"] == "reported_effect"
    assert rows.at["H", "yi"] == pytest.approx(math.log(0.47), abs=1e-12)
    assert rows.at["H", "vi"] == pytest.approx(((math.log(0.76) - math.log(0.29)) / (2 * Z)) ** 2, abs=1e-12)
    assert rows.at["M", "measure"] == "MD"          # WMD is a mean difference
    assert rows.at["M", "vi"] == pytest.approx((3.0 / (2 * Z)) ** 2, abs=1e-12)
    assert rows.at["M", "window"] == "month 6" and rows.at["H", "window"] == "month 12"


def test_arm_data_supersede_a_reported_effect_at_the_same_timepoint():
    records, chars = two_arm("R", 32.0, 5.0, 20, 29.0, 6.0, 22)
    records.append(rec("R", "c", "contrast", quantity="difference", effect_measure="MD", estimate=2.5, lo=0.5, hi=4.5))
    comparisons = build_comparisons(*frames(records, chars), WINDOWS_ONLY)[0]
    md = comparisons[comparisons["measure"] == "MD"].set_index("source")
    assert md.at["arm_data", "used"] and not md.at["reported_effect", "used"]
    assert md.at["reported_effect", "not_used_reason"] == "arm-level data used instead of the reported effect"
    # the reported MD alone (no arm data) is pooled with other studies' MDs
    other, other_chars = two_arm("O", 30.0, 5.0, 20, 29.0, 6.0, 22)
    alone = [r for r in records if r["arm_role"] == "contrast"] + other
    pooled = pool_comparisons(build_comparisons(*frames(alone, chars + other_chars), WINDOWS_ONLY)[0], WINDOWS_ONLY)
    row = pick(main_rows(pooled), "REML")
    assert row["k"] == 2 and row["basis"] == "final values + reported mean difference"


def test_multi_arm_cell_arms_combined_by_cochrane_formula():
    # formulas-and-methods.md §4.2 (Cochrane Handbook 23.3.4 / Table 6.5.a): N 45, mean 12.2222, SD 4.5028
    records = [rec("M3", "a", "intervention", n=10, mean=11.8, sd=2.4), rec("M3", "b", "intervention", n=20, mean=15.3, sd=3.2),
               rec("M3", "c", "intervention", n=15, mean=8.4, sd=4.1), rec("M3", "ctl", "control", n=20, mean=10.0, sd=3.0)]
    chars = [char("M3", a, "intervention") for a in "abc"] + [char("M3", "ctl", "control")]
    comparisons = build_comparisons(*frames(records, chars), WINDOWS_ONLY)[0]
    between = comparisons[(comparisons["design"] == "between_arms") & (comparisons["measure"] == "MD")]
    assert len(between) == 1                            # one row: the three cell arms are one side of cell_vs_control
    main = between.iloc[0]
    assert main["comparison"] == "cell_vs_control" and main["comparison_type"] == "main"
    assert list(main["arms_1"]) == ["a", "b", "c"] and list(main["arms_2"]) == ["ctl"]
    assert main["n_1"] == 45
    assert main["mean_1"] == pytest.approx(12.2222, abs=1e-4)
    assert main["sd_1"] == pytest.approx(4.5028, abs=1e-4)
    assert main["yi"] == pytest.approx(12.2222 - 10.0, abs=1e-4)
    assert "a + b + c combined into one group (Cochrane Handbook 23.3.4)" in main["note"]
    # arms on the same side are never compared with each other unless a comparison declares it
    assert set(comparisons["comparison_type"]) == {"main"}


def test_multi_arm_events_add_events_and_totals():
    records = [rec("EV", "a", "intervention", kind="events", n=10, events=3, total=10, unit="patients"),
               rec("EV", "b", "intervention", kind="events", n=12, events=5, total=12, unit="patients"),
               rec("EV", "ctl", "control", kind="events", n=20, events=4, total=20, unit="patients")]
    chars = [char("EV", "a", "intervention"), char("EV", "b", "intervention"), char("EV", "ctl", "control")]
    comparisons = build_comparisons(*frames(records, chars), WINDOWS_ONLY)[0]
    rr = comparisons[(comparisons["comparison_type"] == "main") & (comparisons["measure"] == "RR")].iloc[0]
    assert (rr["events_1"], rr["total_1"]) == (8, 22)
    assert rr["yi"] == pytest.approx(math.log((8 / 22) / (4 / 20)), abs=1e-12)


def test_within_arm_change_with_configurable_correlation():
    base = rec("CS", "cells", "intervention", tp="baseline", days=0.0, n=12, mean=28.2, sd=5.8)
    after = rec("CS", "cells", "intervention", tp="week 24", days=168.0, n=12, mean=33.8, sd=5.4)
    h, c = frames([base, after], [char("CS", "cells", "intervention", kind="case_series", randomized=False)])
    every = build_comparisons(h, c, WINDOWS_ONLY)[0]
    assert set(every["design"]) == {"within_arm"}
    # the cell arm is on the experimental side of two default comparisons: its change is a row of each
    assert sorted(set(every["comparison"])) == ["cell_vs_control", "cell_vs_gcsf"]
    comparisons = every[every["comparison"] == "cell_vs_control"]
    by_r = comparisons.set_index("pre_post_correlation")
    for r in (0.5, 0.2, 0.8):
        assert by_r.at[r, "yi"] == pytest.approx(5.6, abs=1e-12)
        assert by_r.at[r, "vi"] == pytest.approx((5.8**2 + 5.4**2 - 2 * r * 5.8 * 5.4) / 12, abs=1e-12)
        assert by_r.at[r, "measure"] == "MC" and by_r.at[r, "window"] == "month 6"
    pooled = pool_comparisons(comparisons, WINDOWS_ONLY)
    assert pooled.set_index("analysis_name").at["main", "pre_post_correlation"] == 0.5
    assert {"pre-post correlation 0.2", "pre-post correlation 0.8"} <= set(pooled["analysis_name"])
    other = Settings.from_config({"longest_follow_up": False, "pre_post_correlation": 0.3, "pre_post_correlation_sensitivity": [0.6]})
    assert sorted(set(build_comparisons(h, c, other)[0]["pre_post_correlation"])) == [0.3, 0.6]


# ---------------------------------------------------------------- pooling by hand

def test_common_effect_and_dersimonian_laird_by_hand():
    comparisons, *_ = toy()
    rows = main_rows(pool_comparisons(comparisons, WINDOWS_ONLY))
    y, v = np.array([hand_md(*s[1:])[0] for s in TOY]), np.array([hand_md(*s[1:])[1] for s in TOY])
    w = 1 / v
    mu_ee = (w @ y) / w.sum()
    q = float(w @ (y - mu_ee) ** 2)
    ee = pick(rows, "EE")
    assert ee["estimate"] == pytest.approx(mu_ee, abs=1e-10)
    assert ee["se"] == pytest.approx(1 / math.sqrt(w.sum()), abs=1e-10)
    assert ee["Q"] == pytest.approx(q, abs=1e-10) and ee["Q_df"] == 2
    assert ee["Q_p"] == pytest.approx(stats.chi2.sf(q, 2), abs=1e-12)
    assert ee["I2"] == pytest.approx(max(0, 100 * (q - 2) / q), abs=1e-9)
    assert ee["H2"] == pytest.approx(q / 2, abs=1e-10)
    assert math.isnan(ee["pi_lb"])                      # no prediction interval for a common-effect model

    tau2 = max(0.0, (q - 2) / (w.sum() - (w**2).sum() / w.sum()))
    assert tau2 > 0
    ws = 1 / (v + tau2)
    mu = (ws @ y) / ws.sum()
    se = 1 / math.sqrt(ws.sum())
    dl = pick(rows, "DL")
    assert dl["tau2"] == pytest.approx(tau2, abs=1e-10)
    assert dl["estimate"] == pytest.approx(mu, abs=1e-10)
    assert dl["ci_lb"] == pytest.approx(mu - Z * se, abs=1e-10)
    assert dl["pi_ub"] == pytest.approx(mu + Z * math.sqrt(se**2 + tau2), abs=1e-10)
    assert dl["I2"] == pytest.approx(100 * (q - 2) / q, abs=1e-9)        # DL: tau2-based = Q-based
    assert dl["H2"] == pytest.approx(q / 2, abs=1e-9)
    assert list(dl["weights"]) == pytest.approx(list(100 * ws / ws.sum()), abs=1e-9)

    se_hk = math.sqrt(float(ws @ (y - mu) ** 2) / 2 / ws.sum())     # Hartung-Knapp, not floored
    t = stats.t.isf(0.025, 2)
    hk = pick(rows, "DL", "knha")
    assert hk["se"] == pytest.approx(se_hk, abs=1e-10) and hk["df"] == 2
    assert hk["ci_ub"] == pytest.approx(mu + t * se_hk, abs=1e-10)
    assert hk["pi_lb"] == pytest.approx(mu - t * math.sqrt(se_hk**2 + tau2), abs=1e-10)
    assert pick(rows, "REML")["method_used"] == "REML"
    assert not ((rows["method"] == "EE") & (rows["test"] == "knha")).any()


@pytest.mark.parametrize("method, tol", [("DL", 1e-10), ("PM", 1e-8), ("REML", 1e-4)])
def test_two_studies_tau2_closed_form(method, tol):
    # k = 2: DL, PM and REML all give max(0, (d^2 - v1 - v2) / 2); REML to its 1e-5 threshold
    comparisons, *_ = toy(studies=TOY[:2])
    (y1, v1), (y2, v2) = (hand_md(*s[1:]) for s in TOY[:2])
    tau2 = max(0.0, ((y1 - y2) ** 2 - v1 - v2) / 2)
    assert tau2 > 1
    row = pick(main_rows(pool_comparisons(comparisons, WINDOWS_ONLY)), method)
    assert row["tau2"] == pytest.approx(tau2, abs=tol)
    w = np.array([1 / (v1 + tau2), 1 / (v2 + tau2)])
    assert row["estimate"] == pytest.approx((w @ [y1, y2]) / w.sum(), abs=tol)


def test_single_study_is_reported_not_pooled():
    comparisons, *_ = toy(studies=TOY[:1])
    rows = main_rows(pool_comparisons(comparisons, WINDOWS_ONLY))
    assert len(rows) == 1
    row = rows.iloc[0]
    assert not row["pooled"] and row["k"] == 1 and "k=1: not pooled" in row["warnings"]
    assert row["estimate"] == pytest.approx(3.0) and math.isnan(row["tau2"]) and math.isnan(row["I2"])


def test_reml_non_convergence_falls_back_visibly(monkeypatch):
    monkeypatch.setattr(meta, "rma_models", functools.partial(meta.rma_models, maxiter=0))
    comparisons, *_ = toy()
    reml = pick(main_rows(pool_comparisons(comparisons, WINDOWS_ONLY)), "REML")
    assert reml["method_used"] == "DL" and not reml["converged"]
    assert any("fell back to method=DL" in w for w in reml["warnings"])


def test_settings_on_every_pooled_row():
    comparisons, *_ = toy()
    pooled = pool_comparisons(comparisons, WINDOWS_ONLY)
    for column in ("analysis", "analysis_name", "method", "test", "measure", "window", "level", "prediction_interval"):
        assert pooled[column].notna().all(), column
    row = pick(main_rows(pooled), "REML")
    assert sorted(row["study_ids"]) == ["S1", "S2", "S3"]
    assert len(row["record_ids"]) == 6 and len(row["comparison_ids"]) == 3


# ---------------------------------------------------------------- subgroups and sensitivity

def test_subgroups_sensitivity_and_leave_one_out():
    records, chars = [], []
    specs = [("A", True, "bone_marrow", "ACLF", []), ("B", True, "umbilical_cord", "decompensated_cirrhosis", []),
             ("C", False, "bone_marrow", "compensated_cirrhosis", ["arm_attribution_uncertain"]),
             ("D", None, "umbilical_cord", "ACLF", ["count_from_percentage"])]
    for (study, randomized, source, condition, flags), s in zip(specs, TOY + [("S4", 33.0, 5.0, 25, 30.0, 5.0, 25)]):
        r, c = two_arm(study, *s[1:], flags=flags, randomized=randomized, source=source, condition=condition)
        records += r
        chars += c
    pooled = pool_comparisons(build_comparisons(*frames(records, chars), WINDOWS_ONLY)[0], WINDOWS_ONLY)
    md = pooled[pooled["measure"] == "MD"]
    by_name = md.groupby("analysis_name")["study_ids"].apply(list)
    assert [sorted(x) for x in by_name["exclude arm_attribution_uncertain"]] == [["A", "B", "D"]]
    assert [sorted(x) for x in by_name["exclude derived counts"]] == [["A", "B", "C"]]
    assert [sorted(x) for x in by_name["exclude non-randomized (or not stated)"]] == [["A", "B"]]
    assert "exclude secondary_source" not in by_name           # nothing to exclude: no row
    loo = md[md["analysis"] == "leave_one_out"]
    assert sorted(loo["omitted_study_id"]) == ["A", "B", "C", "D"] and set(loo["k"]) == {3}
    for row in loo.itertuples():
        assert row.omitted_study_id not in row.study_ids
    condition = md[md["subgroup_variable"] == "condition"].set_index("subgroup_level")
    assert sorted(condition["study_ids"]["cirrhosis"]) == ["B", "C"]   # compensated and decompensated map to cirrhosis
    assert sorted(condition["study_ids"]["ACLF"]) == ["A", "D"]
    randomized = md[md["subgroup_variable"] == "randomized"]
    assert set(randomized["subgroup_level"]) == {"randomized", "not randomized", "not stated"}
    flagged = md[md["analysis_name"] == "exclude arm_attribution_uncertain"].iloc[0]
    assert list(flagged["excluded_flags"]) == ["arm_attribution_uncertain"]


def test_meld_variants_pooled_separately_unless_allowed():
    records, chars = [], []
    for (study, *numbers), variant in zip(TOY, ["MELD", "MELD-Na", "MELD"]):
        r, c = two_arm(study, *numbers, outcome="meld", meld_variant=variant, unit="points")
        records += r
        chars += c
    comparisons = build_comparisons(*frames(records, chars), WINDOWS_ONLY)[0]
    separate = main_rows(pool_comparisons(comparisons, WINDOWS_ONLY))
    assert set(separate["meld_variant"]) == {"MELD", "MELD-Na"}
    assert set(separate["k"]) == {1, 2}
    together = main_rows(pool_comparisons(comparisons, Settings.from_config({"longest_follow_up": False, "pool_across_meld_variants": True})))
    assert set(together["meld_variant"]) == {"any"} and set(together["k"]) == {3}


# ---------------------------------------------------------------- windows

@pytest.mark.parametrize("days, window", [
    (0.5, None), (1.0, "week 4"), (14.0, "week 4"), (28.0, "week 4"), (42.0, "week 4"), (43.0, "week 4"),
    (48.99, "week 4"), (49.0, "month 3"), (56.0, "month 3"), (60.0, "month 3"), (2 * MONTH, "month 3"),
    (84.0, "month 3"), (4 * MONTH, "month 3"), (136.9, "month 3"), (137.0, "month 6"), (168.0, "month 6"),
    (8 * MONTH, "month 6"), (252.0, "month 6"), (273.9, "month 6"), (274.0, "month 12"), (336.0, "month 12"),
    (15 * MONTH, "month 12"), (16 * MONTH, "month 12"), (547.9, "month 12"), (548.0, "month 24+"),
    (18 * MONTH + 1, "month 24+"), (1826.25, "month 24+"),
])
def test_default_windows(days, window):
    got, assignment = assign_window("S", f"day {days}", "point", days, WINDOWS_ONLY)
    assert got == window
    assert assignment == window if window else assignment.startswith("unassigned: day")


def test_default_windows_cover_every_day_after_baseline_once():
    windows = WINDOWS_ONLY.windows
    for days in np.arange(1.0, 3000.0, 0.25):
        assert sum(w.contains(days) for w in windows) == 1, days
    assert [w.words() for w in windows] == ["days 1 to <49", "days 49 to <137", "days 137 to <274", "days 274 to <548",
                                            "days 548 on"]


def test_baseline_and_not_stated_are_never_in_a_window_unless_config_says_so():
    settings = WINDOWS_ONLY
    assert assign_window("S", "baseline", "point", 0.0, settings)[0] is None
    assert assign_window("S", "baseline biopsy", "point", 0.0, settings)[1].startswith("baseline")
    assert assign_window("S", "end of follow-up", "not_stated", float("nan"), settings) == (None, "unassigned: timepoint not stated")
    decided = Settings.from_config({"not_stated_assignments": [{"study_id": "S", "timepoint_text": "end of follow-up",
                                                                "window": "month 6", "reason": "protocol says week 24"}]})
    window, text = assign_window("S", "end of follow-up", "not_stated", float("nan"), decided)
    assert window == "month 6" and "protocol says week 24" in text
    assert assign_window("T", "end of follow-up", "not_stated", float("nan"), decided)[0] is None


def test_windows_must_not_overlap_and_assignments_must_name_a_window():
    with pytest.raises(ValueError, match="overlap"):
        Settings.from_config({"windows": [{"label": "a", "from_days": 1, "to_days": 50, "nominal_days": 20},
                                          {"label": "b", "from_days": 40, "to_days": 90, "nominal_days": 60}]})
    # half-open: one window may start where the other ends
    back_to_back = Settings.from_config({"windows": [{"label": "a", "from_days": 1, "to_days": 50, "nominal_days": 20},
                                                     {"label": "b", "from_days": 50, "to_days": None, "nominal_days": 60}]})
    assert [w.label for w in back_to_back.windows if w.contains(50.0)] == ["b"]
    with pytest.raises(ValueError, match="to_days must be after"):
        Settings.from_config({"windows": [{"label": "a", "from_days": 60, "to_days": 60, "nominal_days": 60}]})
    with pytest.raises(ValueError, match="longest follow-up"):
        Settings.from_config({"windows": [{"label": "longest follow-up", "from_days": 1, "to_days": None,
                                           "nominal_days": 60}]})
    with pytest.raises(ValueError, match="unknown window"):
        Settings.from_config({"not_stated_assignments": [{"study_id": "S", "timepoint_text": "x", "window": "month 99",
                                                          "reason": "r"}]})


def test_two_timepoints_in_one_window_keep_the_closest():
    records = []
    for tp, days, shift in (("week 10", 70.0, 0.0), ("week 12", 84.0, 1.0), ("week 16", 112.0, 2.0)):
        records += [rec("T", "cells", "intervention", tp=tp, days=days, mean=30 + shift, sd=5),
                    rec("T", "control", "control", tp=tp, days=days, mean=28, sd=5)]
    h, c = frames(records, [char("T", "cells", "intervention"), char("T", "control", "control")])
    comparisons, reasons = build_comparisons(h, c, WINDOWS_ONLY)
    md = comparisons[comparisons["measure"] == "MD"].set_index("timepoint_text")
    assert md.at["week 12", "used"] and not md.at["week 10", "used"] and not md.at["week 16", "used"]
    assert "'week 12' is closer" in md.at["week 10", "not_used_reason"]
    report = window_report(h, comparisons, reasons, WINDOWS_ONLY).set_index("timepoint_text")
    assert report.at["week 12", "status"] == "used"
    assert report.at["week 16", "status"] == "not used" and "closer" in report.at["week 16", "note"]
    assert set(report["window"]) == {"month 3"}


def test_window_report_explains_unused_timepoints():
    records = [rec("U", "cells", "intervention", tp="baseline", days=0.0, mean=30, sd=5),
               rec("U", "control", "control", tp="baseline", days=0.0, mean=30, sd=5),
               rec("U", "cells", "intervention", tp="follow-up (not stated)", days=None, tkind="not_stated", mean=33, sd=5),
               rec("U", "cells", "intervention", tp="week 8", days=56.0, mean=33, sd=5),
               rec("U", "control", "control", tp="week 8", days=56.0, mean=31, sd=None),
               rec("U", "cells", "intervention", tp="month 6", days=6 * MONTH, mean=34, sd=5),
               rec("U", "control", "control", tp="month 6", days=6 * MONTH, mean=31, sd=None)]
    h, c = frames(records, [char("U", "cells", "intervention"), char("U", "control", "control")])
    comparisons, reasons = build_comparisons(h, c, WINDOWS_ONLY)
    report = window_report(h, comparisons, reasons, WINDOWS_ONLY).set_index("timepoint_text")
    assert report.at["baseline", "status"] == "used"             # reference of the month-6 within-arm change
    assert pd.isna(report.at["baseline", "window"])
    assert report.at["follow-up (not stated)", "status"] == "unassigned"
    assert report.at["week 8", "window"] == "month 3"             # day 56: no gap between week 4 and month 3 any more
    assert report.at["week 8", "status"] == "used"                # within-arm change (control SD missing)
    assert report.at["month 6", "status"] == "used"               # within-arm change (control SD missing)
    assert "no n, mean and SD > 0 in control" in reasons[("U", "albumin", "month 6")]


# ---------------------------------------------------------------- comparators

def test_comparators_are_never_pooled_and_shown_beside_ours():
    records, chars = [], []
    for s in TOY:
        r, c = two_arm(*s, kind="events", unit="patients")
        records += r
        chars += c
    for r, (e1, _) in zip(records[::2], [(15, 10), (12, 6), (20, 18)]):
        r.update(outcome="survival", events=e1, total=r["n"], mean=None, sd=None)
    for r, e2 in zip(records[1::2], [10, 6, 18]):
        r.update(outcome="survival", events=e2, total=r["n"], mean=None, sd=None)
    # a published meta-analysis, with arm rows that look poolable: it must still never be pooled
    records += [rec("MA", "x", "intervention", outcome="survival", kind="events", n=100, events=90, total=100, collection="comparators"),
                rec("MA", "y", "control", outcome="survival", kind="events", n=100, events=50, total=100, collection="comparators"),
                rec("MA", "x_vs_y", "contrast", outcome="survival", kind="events", quantity="ratio", collection="comparators",
                    arms_1=["x"], arms_2=["y"],
                    effect_measure="OR", estimate=2.2, lo=1.4, hi=3.5, n=None, unit="OR")]
    chars += [char("MA", "x", "intervention", kind="meta_analysis", collection="comparators"),
              char("MA", "y", "control", kind="meta_analysis", collection="comparators")]
    h, c = frames(records, chars)
    comparisons = build_comparisons(h, c, WINDOWS_ONLY)[0]
    assert set(comparisons["study_id"]) == {"S1", "S2", "S3"}
    pooled = pool_comparisons(comparisons, WINDOWS_ONLY)
    with pytest.raises(ValueError, match="never be pooled"):
        pool_comparisons(comparisons.assign(collection="comparators"), WINDOWS_ONLY)
    table = comparators_table(h, c, pooled, WINDOWS_ONLY)
    assert len(table) == 1
    row = table.iloc[0]
    assert row["source"] == "published, not recomputed" and row["published_estimate"] == 2.2
    assert row["comparison"] == "cell_vs_control"          # its arms x (cells) vs y (control)
    ours = pick(pooled[(pooled["analysis"] == "main") & (pooled["measure"] == "OR")], "REML")
    assert row["our_k"] == 3 and row["our_measure"] == "OR"
    assert row["our_estimate"] == pytest.approx(math.exp(ours["estimate"]), rel=1e-12)   # on the published (ratio) scale
    assert row["our_ci_lb"] == pytest.approx(math.exp(ours["ci_lb"]), rel=1e-12)


# ---------------------------------------------------------------- configuration and outputs

def test_shipped_config_equals_the_defaults():
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    assert Settings.from_config(config["synthesis"], config["comparisons"]) == Settings.default()


def test_synthesize_writes_the_five_tables_with_their_schemas(tmp_path):
    records, chars = [], []
    for s in TOY:
        r, c = two_arm(*s)
        records += r
        chars += c
    harmonized, characteristics = tmp_path / "h.parquet", tmp_path / "c.parquet"
    pq.write_table(to_table(records, HARMONIZED), harmonized)
    pq.write_table(to_table(chars, CHARACTERISTICS), characteristics)
    outputs = {name: tmp_path / f"{name}.parquet" for name in SCHEMAS}
    synthesize(harmonized, characteristics, ROOT / "resources" / "registry" / "outcomes.yaml", {}, outputs)
    for name, path in outputs.items():
        table = pq.read_table(path)
        assert table.schema.remove_metadata().equals(SCHEMAS[name].remove_metadata()), name
        assert b"livertrials.synthesis.settings" in table.schema.metadata
    comparisons = pq.read_table(outputs["comparisons"]).to_pandas()
    assert set(comparisons["benefit"]) == {"higher"}          # albumin, from the registry
    assert len(pq.read_table(outputs["pooled"])) > 0


# ---------------------------------------------------------------- agreement with R metafor

CLOSED_FORM = {"EE": 1e-6, "DL": 1e-6, "REML": 1e-4, "PM": 1e-4}
COMPARED = ["estimate", "se", "statistic", "pval", "ci_lb", "ci_ub", "pi_lb", "pi_ub", "tau2", "tau2_se", "tau2_ci_lb",
            "tau2_ci_ub", "I2", "I2_ci_lb", "I2_ci_ub", "H2", "H2_ci_lb", "H2_ci_ub", "Q", "Q_p"]


def _compare_with_metafor(fixture: pd.DataFrame, results: pd.DataFrame) -> int:
    """Fit every (group, method, test) of results with the pipeline's pool_effects; returns the count."""
    checked = 0
    for ref in results.itertuples():
        group = fixture[fixture["group"] == ref.group]
        ours = pool_effects(group["yi"], group["vi"], ref.method, ref.test, WINDOWS_ONLY)
        assert ours["k"] == ref.k
        tol = CLOSED_FORM[ref.method]
        for column in COMPARED:
            expected, got = getattr(ref, column), ours[column]
            if pd.isna(expected):
                assert got is None or math.isnan(got), (ref.group, ref.method, ref.test, column, got)
                continue
            # absolute for |x| <= 1, relative beyond (MD on umol/L has tau2 in the thousands)
            assert abs(got - expected) <= tol * max(1.0, abs(expected)), (ref.group, ref.method, ref.test, column, got, expected)
        checked += 1
    return checked


def _read_r_outputs(directory: Path):
    return (pd.read_csv(directory / "metafor_results.csv"), pd.read_csv(directory / "metafor_escalc.csv"))


@pytest.fixture(scope="module")
def effects_fixture():
    return pd.read_csv(R_DIR / "effects_fixture.csv")


def test_pooled_results_agree_with_committed_metafor_results(effects_fixture):
    results, _ = _read_r_outputs(R_DIR)
    assert set(results["method"]) == {"EE", "DL", "REML", "PM"} and set(results["test"]) == {"z", "knha"}
    assert set(results["group"]) == set(effects_fixture["group"])
    assert (results["k"] >= 2).all()
    assert _compare_with_metafor(effects_fixture, results) == len(results) >= 80


def test_effect_sizes_agree_with_committed_metafor_escalc(effects_fixture):
    _, escalc = _read_r_outputs(R_DIR)
    ours = effects_fixture.drop_duplicates("comparison_id")
    both = ours.merge(escalc, on=["comparison_id", "measure"], suffixes=("", "_metafor"), validate="one_to_one")
    assert len(both) == (ours["source"] == "arm_data").sum()
    assert set(both["measure"]) >= {"MD", "SMD", "RR", "OR", "RD", "MC"}
    np.testing.assert_allclose(both["yi"], both["yi_metafor"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(both["vi"], both["vi_metafor"], rtol=1e-10, atol=1e-12)


def test_live_metafor_run_reproduces_the_committed_results(effects_fixture, tmp_path):
    reason = metafor_missing()
    if reason:
        pytest.skip(reason)
    out, esc = tmp_path / "results.csv", tmp_path / "escalc.csv"
    subprocess.run(["Rscript", str(R_DIR / "metafor_crosscheck.R"), str(R_DIR / "effects_fixture.csv"), str(out), str(esc)],
                   check=True, capture_output=True, text=True)
    live, live_escalc = pd.read_csv(out), pd.read_csv(esc)
    committed, committed_escalc = _read_r_outputs(R_DIR)
    numeric = [c for c in COMPARED if c in live]
    pd.testing.assert_frame_equal(live[numeric], committed[numeric], check_exact=False, rtol=1e-9, atol=1e-9)
    pd.testing.assert_frame_equal(live_escalc, committed_escalc, check_exact=False, rtol=1e-9, atol=1e-12)
    assert _compare_with_metafor(effects_fixture, live) == len(live)


def test_meld_at_mean_labs_is_kept_out_of_pools_unless_configured():
    def comparison(study, outcome):
        row = {name: None for name in COMPARISONS.names}
        row.update(study_id=study, outcome=outcome, comparison_type="main", design="between_arms", basis="final values",
                   measure="MD", source="arm_data", timepoint_text="month 3", timepoint_kind="point", timepoint_days=91.3125)
        return row

    frame = pd.DataFrame([comparison("A", "meld_at_mean_labs"), comparison("B", "meld")])
    default = mark_used(frame, WINDOWS_ONLY)
    assert list(default["used"]) == [False, True]
    assert "include_meld_approximations" in default.loc[0, "not_used_reason"]
    included = mark_used(frame, Settings.from_config({"longest_follow_up": False, "include_meld_approximations": True}))
    assert list(included["used"]) == [True, True]


def test_effect_sizes_in_one_batch_equal_one_pair_at_a_time():
    # effect_sizes computes every pair's escalc in one call per measure; elementwise, so nothing may change
    Side = effects.Side
    continuous = [(Side(["a"], [], n=n1, mean=m1, sd=sd1), Side(["b"], [], n=n2, mean=m2, sd=sd2))
                  for _, m1, sd1, n1, m2, sd2, n2 in TOY]
    events = [(Side(["a"], [], n=t1, events=e1, total=t1), Side(["b"], [], n=t2, events=e2, total=t2))
              for e1, t1, e2, t2 in ((3, 20, 7, 21), (0, 15, 4, 15), (0, 10, 0, 12), (12, 12, 5, 11))]
    for drop00 in (False, True):
        settings = Settings.from_config({"longest_follow_up": False, "continuity_correction": {"drop00": drop00}})
        for kind, pairs in (("continuous", continuous), ("events", events)):
            one_at_a_time = [effects.effect_sizes(kind, [pair], settings)[0] for pair in pairs]
            assert effects.effect_sizes(kind, pairs, settings) == one_at_a_time
