"""Summary-of-findings rows: absolute effects per 1,000 (by hand), texts, GRADE plain-language statements,
the choice of the pooled row, the whole table on constructed pooled/comparisons frames, and evidence gaps."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from livertrials.io.tables import to_table
from livertrials.synthesis.summary_of_findings import (
    SOF_SCHEMA,
    absolute_effects,
    absolute_text,
    evidence_gaps,
    little_or_no_difference,
    mean_difference_text,
    plain_language,
    pool_facts,
    primary_rows,
    relative_text,
    risk_with_intervention,
    summary_of_findings,
)

LN = math.log
RR_HALF = (LN(0.5), LN(0.3), LN(0.83))     # RR 0.50 (0.30 to 0.83) on the log scale


# ---------------------------------------------------------------------------------------------
# absolute effects, by hand
# ---------------------------------------------------------------------------------------------

def test_risk_with_intervention_by_hand():
    # RR: 0.2 x 0.5 = 0.1
    assert risk_with_intervention("RR", 0.2, LN(0.5)) == pytest.approx(0.1)
    # OR: control odds 0.2/0.8 = 0.25, x 0.5 = 0.125, risk 0.125/1.125 = 0.1111
    assert risk_with_intervention("OR", 0.2, LN(0.5)) == pytest.approx(0.125 / 1.125)
    # RD: 0.2 - 0.05 = 0.15
    assert risk_with_intervention("RD", 0.2, -0.05) == pytest.approx(0.15)
    # HR: 1 - 0.8^0.5 = 1 - 0.894427 = 0.105573
    assert risk_with_intervention("HR", 0.2, LN(0.5)) == pytest.approx(0.105573, abs=1e-6)
    # a risk never leaves 0..1: RR 3 at ACR 0.5 would be 1.5
    assert risk_with_intervention("RR", 0.5, LN(3.0)) == 1.0
    with pytest.raises(ValueError):
        risk_with_intervention("MD", 0.2, 1.0)


def test_absolute_effects_per_1000_with_the_ci_by_hand():
    # ACR 200/1000, RR 0.5 (0.25 to 1.2): risks 100, 50, 240; differences -100, -150, +40
    out = absolute_effects("RR", 0.2, LN(0.5), LN(0.25), LN(1.2))
    assert out["assumed_control_risk"] == pytest.approx(200)
    assert (out["risk_with_intervention"], out["risk_with_intervention_lb"], out["risk_with_intervention_ub"]) == \
        pytest.approx((100, 50, 240))
    assert (out["risk_difference"], out["risk_difference_lb"], out["risk_difference_ub"]) == \
        pytest.approx((-100, -150, 40))
    assert absolute_text(out["risk_difference"], out["risk_difference_lb"], out["risk_difference_ub"]) == \
        "100 fewer per 1,000 (from 150 fewer to 40 more)"


def test_absolute_effects_for_an_odds_ratio_by_hand():
    # ACR 0.3, odds 3/7; OR 2: odds 6/7, risk 6/13 = 0.461538 -> 461.5 per 1,000, 161.5 more
    out = absolute_effects("OR", 0.3, LN(2.0), LN(1.0), LN(4.0))
    assert out["risk_with_intervention"] == pytest.approx(6000 / 13)
    assert out["risk_difference_lb"] == pytest.approx(0.0)
    # OR 4: odds 12/7, risk 12/19
    assert out["risk_with_intervention_ub"] == pytest.approx(12000 / 19)


def test_relative_and_mean_difference_texts():
    assert relative_text("RR", LN(0.5), LN(0.3), LN(0.83)) == "RR 0.50 (0.30 to 0.83)"
    assert relative_text("MD", 1.0, 0.0, 2.0) == ""
    assert mean_difference_text("MD", 2.1, 0.5, 3.7, "g/L") == "MD 2.10 g/L higher (0.50 higher to 3.70 higher)"
    assert mean_difference_text("MD", -15.0, -32.5, 0.25, "umol/L") == \
        "MD 15.0 umol/L lower (32.5 lower to 0.25 higher)"
    assert mean_difference_text("SMD", 0.4, 0.1, 0.7, "g/L") == "SMD 0.40 higher (0.10 higher to 0.70 higher)"


# ---------------------------------------------------------------------------------------------
# plain language
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("level, statement", [
    (4, "Cell therapy reduces death at month 6."),
    (3, "Cell therapy probably reduces death at month 6."),
    (2, "Cell therapy may reduce death at month 6."),
    (1, "The evidence is very uncertain about the effect of cell therapy on death at month 6."),
])
def test_plain_language_follows_the_grade_wording_table(level, statement):
    assert plain_language(level, "RR", LN(0.5), LN(0.3), LN(0.83), "cell therapy", "Death", "month 6") == statement


def test_plain_language_increases_and_the_outcome_label_in_running_text():
    assert plain_language(3, "MD", 2.1, 0.5, 3.7, "cell therapy", "Serum albumin") == \
        "Cell therapy probably increases serum albumin."
    assert plain_language(2, "MD", -2.0, -3.0, -1.0, "cell therapy", "MELD score", "month 3") == \
        "Cell therapy may reduce MELD score at month 3."


def test_little_or_no_difference_rule():
    # the CI includes 1 and the estimate lies within 0.75..1.25
    assert little_or_no_difference("RR", LN(0.95), LN(0.8), LN(1.13))
    assert plain_language(4, "RR", LN(0.95), LN(0.8), LN(1.13), "cell therapy", "Death") == \
        "Cell therapy results in little or no difference in death."
    assert plain_language(3, "RR", LN(0.95), LN(0.8), LN(1.13), "cell therapy", "Death") == \
        "Cell therapy probably results in little or no difference in death."
    assert plain_language(2, "RR", LN(0.95), LN(0.8), LN(1.13), "cell therapy", "Death") == \
        "Cell therapy may result in little or no difference in death."
    # the estimate beyond the threshold: a direction, not 'no difference'
    assert not little_or_no_difference("RR", LN(0.6), LN(0.3), LN(1.2))
    # the CI excludes no effect: never 'no difference'
    assert not little_or_no_difference("RR", LN(0.95), LN(0.91), LN(0.99))
    # a mean difference: with a MID, the estimate must lie within it; without one the CI alone decides
    assert not little_or_no_difference("MD", 6.0, -1.0, 13.0, mid=5.0)
    assert little_or_no_difference("MD", 3.0, -1.0, 7.0, mid=5.0)
    assert little_or_no_difference("MD", 6.0, -1.0, 13.0)


# ---------------------------------------------------------------------------------------------
# the pooled row shown and the pool's counts
# ---------------------------------------------------------------------------------------------

def pooled_row(pooled_id, outcome="death", window="month 6", measure="RR", k=2, analysis="main", method="REML",
               test="z", design="between_arms", estimate=RR_HALF[0], ci=RR_HALF[1:], studies=None,
               comparison_ids=None, label="Death", unit=None, i2=0.0, pi=(None, None)) -> dict:
    studies = studies or [f"S{i}" for i in range(1, k + 1)]
    return {"pooled_id": pooled_id, "analysis": analysis, "design": design, "method": method, "test": test,
            "outcome": outcome, "outcome_label": label, "window": window, "measure": measure, "unit": unit, "k": k,
            "estimate": estimate, "ci_lb": ci[0], "ci_ub": ci[1], "pi_lb": pi[0], "pi_ub": pi[1], "I2": i2,
            "study_ids": studies, "weights": [100 / k] * k, "comparison_ids": comparison_ids or [],
            "comparison_label": "cells"}


def test_primary_rows_keep_main_default_model_most_studies_then_preferred_measure():
    pooled = pd.DataFrame([
        pooled_row("or", measure="OR"),
        pooled_row("rr", measure="RR"),
        pooled_row("rr-dl", method="DL"),
        pooled_row("rr-sub", analysis="subgroup"),
        pooled_row("hr", measure="HR", k=3),                                    # more studies: wins
        pooled_row("md-knha", outcome="albumin", measure="MD", test="knha"),
        pooled_row("md", outcome="albumin", measure="MD"),
        pooled_row("smd", outcome="albumin", measure="SMD"),
        pooled_row("inr-1", outcome="inr", measure="MD", k=1),                  # k = 1: test z is the only row
        pooled_row("mc", outcome="meld", measure="MC", design="within_arm"),
    ])
    chosen = primary_rows(pooled, "REML", "z")
    assert list(chosen["pooled_id"]) == ["hr", "md", "inr-1"]                   # in the pooled table's order
    assert set(chosen["comparison"]) == {"all"}
    # default test knha: the knha row where one exists, the z row of a single study (the only row it has)
    assert list(primary_rows(pooled, "REML", "knha")["pooled_id"]) == ["md-knha", "inr-1"]
    by_comparison = primary_rows(pooled, "REML", "z", comparison_column="comparison_label")
    assert list(by_comparison["pooled_id"]) == ["hr", "md", "inr-1"]
    assert set(by_comparison["comparison"]) == {"cells"}


def comparison(cid, study, n=(50, 50), events=(5, 10), total2=None, randomized="randomized", flags=(), yi=0.0,
               vi=0.1) -> dict:
    return {"comparison_id": cid, "study_id": study, "n_1": n[0], "n_2": n[1],
            "events_1": events[0] if events else None, "events_2": events[1] if events else None,
            "total_2": total2 if total2 is not None else n[1], "randomized": randomized, "flags": list(flags),
            "yi": yi, "vi": vi}


def test_pool_facts_sum_participants_and_take_the_median_control_risk():
    facts = pool_facts([comparison("a", "A", (50, 50), (5, 10)), comparison("b", "B", (40, 40), (5, 12)),
                        comparison("c", "C", (30, 50), (2, 15))])
    assert facts.participants == 100 + 80 + 80
    assert facts.events == 15 + 17 + 17
    assert facts.control_risks == pytest.approx((0.2, 0.3, 0.3))
    assert facts.control_risk == pytest.approx(0.3)                # median of 0.2, 0.3, 0.3
    unknown = pool_facts([comparison("a", "A"), {**comparison("b", "B", events=None), "n_1": None}])
    assert unknown.participants is None and unknown.studies_without_counts == ("B",)
    assert unknown.events is None and unknown.control_risk == pytest.approx(0.2)


# ---------------------------------------------------------------------------------------------
# the whole table
# ---------------------------------------------------------------------------------------------

@pytest.fixture
def frames():
    pooled = pd.DataFrame([
        pooled_row("p-death", studies=["A", "B", "C"], k=3, comparison_ids=["a", "b", "c"]),
        pooled_row("p-alb", outcome="albumin", label="Serum albumin", measure="MD", unit="g/L", k=2,
                   estimate=2.1, ci=(0.5, 3.7), studies=["A", "B"], comparison_ids=["a2", "b2"]),
    ])
    comparisons = pd.DataFrame([
        comparison("a", "A", (50, 50), (5, 10)), comparison("b", "B", (40, 40), (5, 12)),
        comparison("c", "C", (30, 50), (2, 15)),
        comparison("a2", "A", (50, 50), None, total2=float("nan")), comparison("b2", "B", (40, 40), None,
                                                                                total2=float("nan")),
    ])
    return pooled, comparisons


def test_summary_of_findings_rows_by_hand(frames):
    pooled, comparisons = frames
    sof = summary_of_findings(pooled, comparisons, method="REML", test="z",
                              risk_of_bias={"A": "low", "B": "low", "C": "low"},
                              interventions={"all": "cell therapy"})
    death = sof[sof["outcome"] == "death"].iloc[0]
    assert (death["k"], death["participants"]) == (3, 260)
    assert death["relative_effect"] == "RR 0.50 (0.30 to 0.83)"
    # ACR = median(10/50, 12/40, 15/50) = 0.3 -> 300 per 1,000; x 0.5 = 150; CI 300 x 0.3 = 90, 300 x 0.83 = 249
    assert death["assumed_control_risk"] == pytest.approx(300)
    assert death["risk_with_intervention"] == pytest.approx(150)
    assert (death["risk_with_intervention_lb"], death["risk_with_intervention_ub"]) == pytest.approx((90, 249))
    assert death["absolute_effect"] == "150 fewer per 1,000 (from 210 fewer to 51 fewer)"
    assert death["control_risk_basis"] == "median control-arm risk of the 3 pooled studies (200, 300, 300 per 1,000)"
    # randomized, low risk, I2 0: high; 260 participants < OIS 1074 at ACR 0.3 (test_synthesis_certainty) -> -1: moderate
    assert death["imprecision_change"] == 1 and death["certainty"] == "moderate"
    assert death["certainty_symbols"] == "⊕⊕⊕◯"
    assert death["plain_language"] == "Cell therapy probably reduces death at month 6."
    albumin = sof[sof["outcome"] == "albumin"].iloc[0]
    assert albumin["absolute_effect"] == "MD 2.10 g/L higher (0.50 higher to 3.70 higher)"
    assert albumin["relative_effect"] == "" and pd.isna(albumin["assumed_control_risk"])
    assert albumin["certainty"] == "high"
    table = to_table(sof, SOF_SCHEMA)
    assert table.schema.names == SOF_SCHEMA.names and table.num_rows == 2


def test_summary_of_findings_reads_design_flags_and_overrides(frames):
    pooled, comparisons = frames
    comparisons.loc[comparisons["study_id"] == "A", "randomized"] = "not randomized"
    comparisons.loc[comparisons["comparison_id"] == "b", "flags"] = pd.Series([["secondary_source"]],
                                                                             index=comparisons.index[[1]])
    asked = []

    def overrides(comparison_id, outcome, window):
        asked.append((comparison_id, outcome, window))
        return {"imprecision": {"rating": 0, "reason": "reviewer"}} if outcome == "death" else {}

    sof = summary_of_findings(pooled, comparisons, method="REML", test="z", overrides=overrides,
                              study_flags={"C": ["population_mismatch: children"]})
    death = sof[sof["outcome"] == "death"].iloc[0]
    assert death["certainty_start"] == "low"                       # one study is not randomized
    assert death["imprecision_overridden"] and death["imprecision_change"] == 0
    # B (row flag) and C (study flag) are indirect: 2 of 3 equal weights > 50%
    assert death["indirectness_change"] == 1
    assert ("all", "death", "month 6") in asked


# ---------------------------------------------------------------------------------------------
# evidence gaps
# ---------------------------------------------------------------------------------------------

def test_evidence_gaps_list_critical_outcomes_with_k_0_or_1_and_what_is_needed():
    pooled = pd.DataFrame([
        pooled_row("d6", outcome="death", window="month 6", k=1, studies=["Lin2017"], label="Death"),
        pooled_row("d12", outcome="death", window="month 12", k=3, label="Death"),
        pooled_row("m3", outcome="meld", window="month 3", measure="MD", k=1, studies=["Mohamadnejad2013"],
                   label="MELD score"),
    ])
    outcomes = {"death": SimpleNamespace(label="Death", kind="events"),
                "meld": SimpleNamespace(label="MELD score", kind="continuous")}
    gaps = evidence_gaps(pooled, comparisons=["all"], critical_outcomes=["death", "meld"],
                         windows=["month 3", "month 6", "month 12"], outcomes=outcomes, method="REML", test="z")
    found = {(g["outcome"], g["window"]): g for g in gaps}
    assert set(found) == {("death", "month 3"), ("death", "month 6"), ("meld", "month 3"), ("meld", "month 6"),
                          ("meld", "month 12")}                 # death at month 12 pools 3 studies: no gap
    assert found["meld", "month 6"]["gap"] == "MELD score at month 6: no controlled study reports it " \
                                              "(reported at month 3)"
    assert found["meld", "month 6"]["k"] == 0
    assert found["death", "month 6"]["gap"] == "Death at month 6: one controlled study only (Lin2017), nothing to pool"
    assert found["death", "month 6"]["needed"] == ("the number of patients with death and the number analysed in "
                                                    "each arm at month 6, from at least 1 more controlled study")
    assert found["meld", "month 12"]["needed"].startswith("the mean and SD (or median with IQR or range) of MELD "
                                                           "score at month 12 in each arm")
    assert found["meld", "month 12"]["needed"].endswith("from at least 2 more controlled studies")


def test_a_pooled_row_without_an_estimate_says_so(frames):
    pooled, comparisons = frames
    pooled.loc[0, ["estimate", "ci_lb", "ci_ub"]] = float("nan")
    death = summary_of_findings(pooled, comparisons, method="REML", test="z").iloc[0]
    assert death["relative_effect"] == "not estimable" and death["absolute_effect"] == "not estimable"
    assert death["plain_language"] == "The effect of the intervention on death could not be estimated " \
                                      "(see the pooled row's warnings)."
    assert death["imprecision_change"] == 2 and "no confidence interval" in death["imprecision_reason"]


def test_summary_of_findings_shows_the_outcomes_asked_for_in_their_order(frames):
    pooled, comparisons = frames
    sof = summary_of_findings(pooled, comparisons, method="REML", test="z", outcome_ids=["albumin", "death", "meld"])
    assert list(sof["outcome"]) == ["albumin", "death"]
    assert list(summary_of_findings(pooled, comparisons, method="REML", test="z", outcome_ids=["death"])["outcome"]) \
        == ["death"]


def test_list_cells_read_from_parquet_are_numpy_arrays_and_work(frames):
    pooled, comparisons = frames
    for column in ("study_ids", "weights", "comparison_ids"):
        pooled[column] = pooled[column].map(np.array)
    comparisons["flags"] = comparisons["flags"].map(lambda f: np.array(f, dtype=object))
    sof = summary_of_findings(pooled, comparisons, method="REML", test="z")
    assert list(sof["k"]) == [3, 2] and sof["study_ids"].iloc[0] == ["A", "B", "C"]
    gaps = evidence_gaps(pooled, comparisons=["all"], critical_outcomes=["albumin"], windows=["month 6"],
                         method="REML", test="z")
    assert gaps == []                                           # k = 2 at month 6
