"""GRADE certainty rules on constructed pools: each domain triggers and does not trigger, the start level,
upgrading, the floor, and reviewers' overrides. Expected values are worked out by hand in each test."""

from __future__ import annotations

import math

import pytest

from livertrials.synthesis.certainty import (
    DOMAINS,
    apply_override,
    assess_certainty,
    optimal_information_size,
    overrides_for,
    rate_imprecision,
    rate_inconsistency,
    rate_indirectness,
    rate_large_effect,
    rate_publication_bias,
    rate_risk_of_bias,
    weight_shares,
)

LN = math.log


def pool(measure="MD", estimate=1.0, ci=(0.5, 1.5), k=3, i2=0.0, pi=None, studies=None, weights=None) -> dict:
    """A pooled row as pooled.parquet has it (ratio measures on the log scale)."""
    studies = studies or [f"S{i}" for i in range(1, k + 1)]
    return {"measure": measure, "estimate": estimate, "ci_lb": ci[0], "ci_ub": ci[1], "k": k, "I2": i2,
            "pi_lb": pi[0] if pi else None, "pi_ub": pi[1] if pi else None, "study_ids": studies,
            "weights": weights if weights is not None else [100 / len(studies)] * len(studies)}


# ---------------------------------------------------------------------------------------------
# weights
# ---------------------------------------------------------------------------------------------

def test_weight_shares_are_fractions_of_the_percent_weights():
    assert weight_shares(["A", "B", "C"], [50.0, 30.0, 20.0]) == pytest.approx({"A": 0.5, "B": 0.3, "C": 0.2})
    assert weight_shares(["A", "B"], None) == {"A": 0.5, "B": 0.5}
    assert weight_shares(["A"], [float("nan")]) == {"A": 1.0}


# ---------------------------------------------------------------------------------------------
# risk of bias
# ---------------------------------------------------------------------------------------------

SHARES = {"A": 0.6, "B": 0.3, "C": 0.1}


def test_risk_of_bias_two_levels_when_most_weight_is_at_high_risk():
    rating = rate_risk_of_bias(SHARES, {"A": "high", "B": "low", "C": "low"})
    assert rating.change == 2
    assert "60%" in rating.reason and "high 60% (A)" in rating.reason


def test_risk_of_bias_one_level_when_high_plus_not_assessed_is_most_weight():
    # B high 30% + A not assessed 60% = 90% > 50%, high alone 30% <= 50%
    rating = rate_risk_of_bias(SHARES, {"B": "high", "C": "low"})
    assert rating.change == 1
    assert "not assessed 60% (A)" in rating.reason


def test_risk_of_bias_no_downgrade_when_most_weight_is_low_or_some_concerns():
    assert rate_risk_of_bias(SHARES, {"A": "some_concerns", "B": "high", "C": "high"}).change == 0   # high 40%
    assert rate_risk_of_bias(SHARES, {"A": "low", "B": "low", "C": "low"}).change == 0


def test_risk_of_bias_threshold_is_more_than_half():
    assert rate_risk_of_bias({"A": 0.5, "B": 0.5}, {"A": "high", "B": "low"}).change == 0
    assert rate_risk_of_bias({"A": 0.5, "B": 0.5}, {"A": "high"}).change == 1        # 50% high + 50% not assessed


def test_robins_i_levels_map_to_the_categories():
    # serious and critical count as high, moderate as some concerns, no information as not assessed
    assert rate_risk_of_bias(SHARES, {"A": "serious", "B": "low", "C": "low"}).change == 2
    assert rate_risk_of_bias(SHARES, {"A": "critical", "B": "low", "C": "low"}).change == 2
    assert rate_risk_of_bias(SHARES, {"A": "moderate", "B": "low", "C": "low"}).change == 0
    assert rate_risk_of_bias(SHARES, {"A": "no_information", "B": "low", "C": "low"}).change == 1


# ---------------------------------------------------------------------------------------------
# inconsistency
# ---------------------------------------------------------------------------------------------

def test_inconsistency_not_applicable_for_one_study():
    rating = rate_inconsistency(pool(k=1, studies=["A"]))
    assert (rating.change, rating.assessable) == (0, False)


def test_inconsistency_none_below_fifty_percent():
    rating = rate_inconsistency(pool(i2=40.0, ci=(0.5, 1.5), pi=(0.2, 1.8)))
    assert rating.change == 0 and "I² = 40%" in rating.reason


def test_inconsistency_one_level_from_fifty_percent():
    assert rate_inconsistency(pool(i2=50.0)).change == 1
    assert rate_inconsistency(pool(i2=74.9)).change == 1


def test_inconsistency_two_levels_from_75_percent_with_non_overlapping_cis():
    cis = {"S1": (0.1, 0.9), "S2": (1.2, 2.0), "S3": (0.5, 1.5)}     # S1 ends below S2's start
    rating = rate_inconsistency(pool(i2=80.0), cis)
    assert rating.change == 2 and "S1 and S2 do not overlap" in rating.reason


def test_inconsistency_one_level_at_75_percent_when_cis_overlap_or_are_unknown():
    overlapping = {"S1": (0.1, 1.3), "S2": (1.2, 2.0), "S3": (0.5, 1.5)}
    assert rate_inconsistency(pool(i2=80.0), overlapping).change == 1
    assert rate_inconsistency(pool(i2=80.0), None).change == 1


def test_inconsistency_prediction_interval_crossing_no_effect_while_the_ci_does_not():
    assert rate_inconsistency(pool(i2=20.0, ci=(0.2, 1.8), pi=(-0.5, 2.5))).change == 1
    # the same prediction interval, no heterogeneity: nothing to explain
    assert rate_inconsistency(pool(i2=0.0, ci=(0.2, 1.8), pi=(-0.5, 2.5))).change == 0
    # the CI itself includes no effect: that is imprecision, not inconsistency
    assert rate_inconsistency(pool(i2=20.0, ci=(-0.2, 1.8), pi=(-0.5, 2.5))).change == 0


# ---------------------------------------------------------------------------------------------
# imprecision
# ---------------------------------------------------------------------------------------------

def test_optimal_information_size_by_hand():
    # n per arm = (z_.975 + z_.80)^2 (pc(1-pc) + pe(1-pe)) / (pc - pe)^2 with pe = 0.75 pc,
    # z_.975 = 1.959964, z_.80 = 0.841621: (2.801585)^2 = 7.848879
    # pc 0.3: pe 0.225, 7.848879 x (0.21 + 0.174375) / 0.075^2 = 536.34 -> 537 per arm
    assert optimal_information_size(0.3) == 2 * 537
    # pc 0.2: pe 0.15, 7.848879 x (0.16 + 0.1275) / 0.05^2 = 902.62 -> 903 per arm
    assert optimal_information_size(0.2) == 2 * 903
    with pytest.raises(ValueError):
        optimal_information_size(0.0)


def test_imprecision_none_when_the_ci_excludes_no_effect():
    rating = rate_imprecision(pool(ci=(0.5, 1.5)))
    assert rating.change == 0 and "excludes no effect" in rating.reason


def test_imprecision_one_level_when_the_ci_includes_no_effect():
    rating = rate_imprecision(pool(estimate=0.5, ci=(-0.2, 1.2)))
    assert rating.change == 1 and "includes no effect" in rating.reason


def test_imprecision_one_level_when_the_ci_crosses_the_minimal_important_difference():
    # MID 2: CI 1 to 3 holds both unimportant (< 2) and important (> 2) differences
    rating = rate_imprecision(pool(estimate=2.0, ci=(1.0, 3.0)), mid=2.0)
    assert rating.change == 1 and "minimal important difference (2)" in rating.reason
    assert rate_imprecision(pool(estimate=3.0, ci=(2.5, 3.5)), mid=2.0).change == 0


def test_imprecision_two_levels_when_the_ci_holds_important_effects_both_ways():
    assert rate_imprecision(pool(estimate=0.0, ci=(-3.0, 3.0)), mid=2.0).change == 2
    # ratio measures: GRADE's 0.75 and 1.25
    rating = rate_imprecision(pool("RR", LN(0.9), (LN(0.5), LN(1.5))))
    assert rating.change == 2 and "RR 0.75 and 1.25" in rating.reason
    assert rate_imprecision(pool("RR", LN(0.9), (LN(0.8), LN(1.1)))).change == 1


def test_imprecision_two_levels_for_a_single_study():
    rating = rate_imprecision(pool(k=1, studies=["A"], ci=(0.5, 1.5)))
    assert rating.change == 2 and "a single study" in rating.reason


def test_imprecision_optimal_information_size_for_events():
    precise = pool("RR", LN(0.6), (LN(0.45), LN(0.8)))
    # OIS at control risk 0.3 is 1074 participants (by hand above)
    assert rate_imprecision(precise, participants=1074, control_risk=0.3).change == 0
    below = rate_imprecision(precise, participants=1073, control_risk=0.3)
    assert below.change == 1 and "1073 participants, fewer than the optimal information size of 1074" in below.reason
    crossing = pool("RR", LN(0.8), (LN(0.76), LN(1.05)))
    assert rate_imprecision(crossing, participants=1200, control_risk=0.3).change == 1
    assert rate_imprecision(crossing, participants=300, control_risk=0.3).change == 2   # below OIS and no effect


def test_imprecision_rd_thresholds_are_a_quarter_of_the_control_risk():
    # ACR 0.4: appreciable beyond RD -0.1 and +0.1
    assert rate_imprecision(pool("RD", 0.0, (-0.12, 0.11)), participants=5000, control_risk=0.4).change == 2
    assert rate_imprecision(pool("RD", 0.0, (-0.05, 0.05)), participants=5000, control_risk=0.4).change == 1


# ---------------------------------------------------------------------------------------------
# publication bias
# ---------------------------------------------------------------------------------------------

def test_publication_bias_not_assessable_below_ten_studies():
    rating = rate_publication_bias([0.1] * 9, [0.04] * 9, 9)
    assert (rating.change, rating.assessable) == (0, False)
    assert "fewer than 10" in rating.reason
    assert rate_publication_bias(None, None, 12).assessable is False


def test_publication_bias_downgrades_when_the_regression_test_finds_asymmetry():
    se = [0.1 + 0.1 * i for i in range(10)]
    # effects grow with the standard error (small studies show larger effects): strong asymmetry
    yi = [2 * s + (0.01 if i % 2 else -0.01) for i, s in enumerate(se)]
    rating = rate_publication_bias(yi, [s * s for s in se], 10)
    assert rating.change == 1 and rating.assessable and "p = 0.0" in rating.reason


def test_publication_bias_no_downgrade_for_a_symmetric_funnel():
    se = [0.1 + 0.1 * i for i in range(10)]
    yi = [0.3 + (0.05 if i % 2 else -0.05) for i in range(10)]
    rating = rate_publication_bias(yi, [s * s for s in se], 10)
    assert rating.change == 0 and rating.assessable and "no small-study effects" in rating.reason


# ---------------------------------------------------------------------------------------------
# indirectness and large effect
# ---------------------------------------------------------------------------------------------

def test_indirectness_when_flagged_studies_carry_most_weight():
    rating = rate_indirectness(SHARES, {"A": ["secondary_source: numbers from a review"]})
    assert rating.change == 1 and "60%" in rating.reason and "secondary source" in rating.reason
    assert rate_indirectness(SHARES, {"B": ["population_mismatch"], "C": ["intervention_mismatch"]}).change == 0
    assert rate_indirectness(SHARES, {"A": ["km_estimate"]}).change == 0         # not an indirectness flag
    assert rate_indirectness(SHARES, {}).reason == "no study carries an indirectness flag"


def test_large_effect_upgrades_non_randomized_evidence_only_without_downgrades():
    assert rate_large_effect(False, "RR", LN(0.4), 0).change == 1
    assert rate_large_effect(False, "OR", LN(2.5), 0).change == 1
    assert rate_large_effect(False, "RR", LN(0.6), 0).change == 0
    assert rate_large_effect(False, "RR", LN(0.4), 1).change == 0
    assert rate_large_effect(True, "RR", LN(0.4), 0).assessable is False
    assert rate_large_effect(False, "MD", 5.0, 0).assessable is False


# ---------------------------------------------------------------------------------------------
# the whole assessment
# ---------------------------------------------------------------------------------------------

LOW = {"S1": "low", "S2": "low", "S3": "low"}


def test_randomized_clean_pool_is_high():
    certainty = assess_certainty(pool(), randomized=True, risk_of_bias=LOW)
    assert certainty.start == "high"
    assert [r.change for r in certainty.ratings] == [0, 0, 0, 0, 0]
    assert (certainty.level, certainty.certainty, certainty.symbols) == (4, "high", "⊕⊕⊕⊕")
    assert certainty.footnotes() == []


def test_non_randomized_starts_low_and_a_large_effect_moves_it_up_one():
    clean = pool("RR", LN(0.4), (LN(0.3), LN(0.55)))
    certainty = assess_certainty(clean, randomized=False, risk_of_bias=LOW)
    assert certainty.start == "low"
    assert certainty.upgrade.change == 1
    assert (certainty.certainty, certainty.symbols) == ("moderate", "⊕⊕⊕◯")
    assert certainty.footnotes() == [f"Large effect (+1): {certainty.upgrade.reason}"]


def test_downgrades_add_up_and_stop_at_very_low():
    # risk of bias not assessed (-1) and the CI includes no effect (-1): high (4) - 2 = low
    two = assess_certainty(pool(estimate=0.5, ci=(-0.2, 1.2)), randomized=True)
    assert [two.rating(d).change for d in DOMAINS] == [1, 0, 0, 1, 0]
    assert (two.level, two.certainty, two.symbols) == (2, "low", "⊕⊕◯◯")
    # plus I2 60% (-1): 4 - 3 = very low
    three = assess_certainty(pool(estimate=0.5, ci=(-0.2, 1.2), i2=60.0), randomized=True)
    assert [three.rating(d).change for d in DOMAINS] == [1, 1, 0, 1, 0]
    assert (three.level, three.certainty, three.symbols) == (1, "very low", "⊕◯◯◯")
    # non-randomized: low (2) - 3 stops at very low
    floor = assess_certainty(pool(estimate=0.5, ci=(-0.2, 1.2), i2=60.0), randomized=False)
    assert (floor.level, floor.certainty) == (1, "very low")


def test_footnotes_list_each_downgrade_with_its_reason():
    certainty = assess_certainty(pool(i2=60.0), randomized=True, risk_of_bias=LOW)
    assert certainty.footnotes() == [f"Inconsistency (-1): {certainty.rating('inconsistency').reason}"]


def test_the_study_effects_feed_the_overlap_and_publication_bias():
    effects = {"S1": (0.0, 0.01), "S2": (1.0, 0.01), "S3": (0.5, 0.01)}   # 95% CIs 0 +- 0.196, 1 +- 0.196
    certainty = assess_certainty(pool(i2=90.0), randomized=True, risk_of_bias=LOW, study_effects=effects)
    assert certainty.rating("inconsistency").change == 2
    assert certainty.rating("publication_bias").assessable is False


def test_an_override_replaces_the_rule_and_keeps_it_beside():
    overrides = {"imprecision": {"rating": "not serious", "reason": "the CI lies within a range we call trivial"}}
    certainty = assess_certainty(pool(estimate=0.5, ci=(-0.2, 1.2)), randomized=True, risk_of_bias=LOW,
                                 overrides=overrides)
    rating = certainty.rating("imprecision")
    assert (rating.change, rating.overridden, rating.rule_change) == (0, True, 1)
    assert rating.reason == "the CI lies within a range we call trivial" and "includes no effect" in rating.rule_reason
    assert certainty.certainty == "high"
    assert certainty.footnotes() == ["Imprecision: the CI lies within a range we call trivial [reviewer's override]"]
    row = certainty.as_row()
    assert row["imprecision_overridden"] is True and row["imprecision_change"] == 0


def test_an_override_can_downgrade_and_upgrade():
    certainty = assess_certainty(pool(), randomized=True, risk_of_bias=LOW,
                                 overrides={"indirectness": {"rating": 2, "reason": "adults only, question is children"}})
    assert certainty.rating("indirectness").change == 2 and certainty.certainty == "low"
    nrs = assess_certainty(pool(), randomized=False, risk_of_bias=LOW,
                           overrides={"large_effect": {"rating": 1, "reason": "dose-response gradient"}})
    assert nrs.upgrade.overridden and nrs.certainty == "moderate"


@pytest.mark.parametrize("override, message", [
    ({"imprecision": {"rating": 1}}, "needs a reason"),
    ({"imprecision": {"rating": "maybe", "reason": "r"}}, "override rating"),
    ({"imprecision": {"rating": 3, "reason": "r"}}, "override rating"),
    ({"imprecission": {"rating": 1, "reason": "r"}}, "unknown GRADE domain"),
])
def test_bad_overrides_are_refused(override, message):
    with pytest.raises(ValueError, match=message):
        assess_certainty(pool(), randomized=True, overrides=override)


def test_apply_override_without_override_keeps_the_rating():
    rating = rate_imprecision(pool())
    assert apply_override(rating, None) is rating


def test_overrides_for_matches_outcome_comparison_and_window():
    entries = [
        {"outcome": "death", "domain": "imprecision", "rating": 0, "reason": "a"},                       # all
        {"outcome": "death", "window": "month 6", "domain": "indirectness", "rating": 1, "reason": "b"},
        {"outcome": "death", "comparison": "gcsf", "domain": "risk_of_bias", "rating": 2, "reason": "c"},
        {"outcome": "meld", "domain": "inconsistency", "rating": 1, "reason": "d"},
    ]
    assert overrides_for(entries, "cells", "death", "month 6") == {
        "imprecision": {"rating": 0, "reason": "a"}, "indirectness": {"rating": 1, "reason": "b"}}
    assert set(overrides_for(entries, "gcsf", "death", "month 12")) == {"imprecision", "risk_of_bias"}
    with pytest.raises(ValueError, match="unknown GRADE domain"):
        overrides_for([{"outcome": "death", "domain": "bias", "rating": 1, "reason": "r"}], None, "death", None)
