"""Arrow schemas of the synthesis tables, with the meaning (and unit) of every column."""

from __future__ import annotations

import pyarrow as pa

from livertrials.io.tables import field as _field

_LIST = pa.list_(pa.string())


def _side_fields(side: int) -> list[pa.Field]:
    who = ("arms on the experimental side, or the arms at follow-up" if side == 1
           else "arms on the control side, or the same arms at baseline")
    return [_field(f"n_{side}", pa.float64(), f"patients on side {side} ({who})", "patients"),
            _field(f"mean_{side}", pa.float64(), f"mean on side {side} (canonical unit)"),
            _field(f"sd_{side}", pa.float64(), f"SD on side {side} (canonical unit)"),
            _field(f"events_{side}", pa.float64(), f"patients with the event on side {side}", "patients"),
            _field(f"total_{side}", pa.float64(), f"denominator of events on side {side}", "patients")]


COMPARISONS = pa.schema([
    _field("comparison_id", pa.string(), "stable id of this study-level effect"),
    _field("collection", pa.string(), "always 'studies': comparator rows are never turned into comparisons"),
    _field("study_id", pa.string(), "study folder name"),
    _field("outcome", pa.string(), "registry outcome id"),
    _field("outcome_label", pa.string(), "outcome name for people"),
    _field("benefit", pa.string(), "direction of benefit from the registry (higher, lower, none)"),
    _field("comparison", pa.string(), "id of the declared comparison (config comparisons) this effect belongs to"),
    _field("design", pa.string(), "between_arms (experimental vs control side) or within_arm (change from baseline in "
           "the arms of the experimental side)"),
    _field("comparison_type", pa.string(), "main (the experimental side's arms vs the control side's arms, each side's "
           "arms combined) or within_arm (the experimental side's arms combined, follow-up vs baseline)"),
    _field("contrast", pa.string(), "the effect in words: arm ids of side 1 vs side 2, a reported contrast's id, or "
           "the arms' follow-up vs baseline"),
    _field("source", pa.string(), "arm_data (computed from arm summaries) or reported_effect (study's own effect and CI)"),
    _field("basis", pa.string(), "final values, change from baseline (arm-reported or a change outcome), within-arm "
           "change, events, reported mean difference or time to event. MD pools may mix final values, changes and "
           "reported MDs (Cochrane Handbook 10.5.2); every other measure is pooled within one basis"),
    _field("arms_1", _LIST, "arm ids of side 1 (experimental side, or the follow-up arms of a within-arm change)"),
    _field("arms_2", _LIST, "arm ids of side 2 (control side, or the same arms at baseline)"),
    *_side_fields(1),
    *_side_fields(2),
    _field("pre_post_correlation", pa.float64(), "correlation used to impute the SD of change (within_arm only)"),
    _field("measure", pa.string(), "MD, SMD, RR, OR, RD, HR, or MC (raw mean change, metafor measure MC)"),
    _field("scale", pa.string(), "what yi is (log scale for RR, OR and HR)"),
    _field("unit", pa.string(), "canonical unit of the outcome (MD and MC rows)"),
    _field("yi", pa.float64(), "effect size (side 1 minus / over side 2)"),
    _field("vi", pa.float64(), "sampling variance of yi"),
    _field("se", pa.float64(), "sqrt(vi)"),
    _field("ci_lb", pa.float64(), "lower Wald confidence limit of yi (level from config)"),
    _field("ci_ub", pa.float64(), "upper Wald confidence limit of yi"),
    _field("timepoint_text", pa.string(), "timepoint as printed"),
    _field("timepoint_kind", pa.string(), "point, range, not_stated or schedule"),
    _field("timepoint_days", pa.float64(), "days since first treatment", "days"),
    _field("window", pa.string(), "analysis window (null: unassigned, see assignment); 'longest follow-up' on the "
           "copy of a study's latest effect that enters the longest follow-up analysis"),
    _field("assignment", pa.string(), "window label, or 'unassigned: reason', or how the longest follow-up was chosen"),
    _field("used", pa.bool_(), "true if the row enters the pooled analyses of its window"),
    _field("not_used_reason", pa.string(), "why a row with an effect is not pooled"),
    _field("meld_variant", pa.string(), "MELD variant (MELD outcomes only)"),
    _field("study_kind", pa.string(), "trial, cohort, case_series"),
    _field("randomized", pa.string(), "randomized, not randomized or not stated"),
    _field("condition", pa.string(), "study condition (decompensated cirrhosis, ACLF, ...)"),
    _field("cell_source", pa.string(), "cell source of the side-1 arms ('mixed' if they differ; 'none' without cells)"),
    _field("route", pa.string(), "route of delivery of the side-1 arms ('mixed' if they differ)"),
    _field("flags", _LIST, "union of the flags of every record used"),
    _field("record_ids", _LIST, "harmonized record_id of every record used"),
    _field("note", pa.string(), "how the effect was made (arms on one side combined, continuity correction, reversed "
           "contrast, ...)"),
])

WINDOWS = pa.schema([
    _field("window_row_id", pa.string(), "stable id of this row (lineage: results/provenance/lineage.parquet)"),
    _field("study_id", pa.string(), "study folder name"),
    _field("outcome", pa.string(), "registry outcome id"),
    _field("timepoint_text", pa.string(), "timepoint as printed"),
    _field("timepoint_kind", pa.string(), "point, range, not_stated or schedule"),
    _field("timepoint_days", pa.float64(), "days since first treatment (end of a range)", "days"),
    _field("window", pa.string(), "analysis window, null if unassigned or baseline"),
    _field("assignment", pa.string(), "window label, 'baseline: ...' or 'unassigned: reason'"),
    _field("status", pa.string(), "used, not used, no comparison, unassigned or baseline"),
    _field("note", pa.string(), "why (e.g. another timepoint is closer to the window's nominal time)"),
    _field("record_ids", _LIST, "harmonized records at this study x outcome x timepoint"),
])

_RESULT_FIELDS = [
    ("estimate", "pooled estimate (scale of the measure)"), ("se", "standard error"),
    ("statistic", "z or t statistic"), ("df", "t degrees of freedom (knha), null for z"), ("pval", "p value"),
    ("ci_lb", "lower confidence limit"), ("ci_ub", "upper confidence limit"),
    ("pi_lb", "lower prediction limit (null for EE and k = 1)"), ("pi_ub", "upper prediction limit"),
    ("ratio_estimate", "exp(estimate) for RR, OR, HR"), ("ratio_ci_lb", "exp(ci_lb)"), ("ratio_ci_ub", "exp(ci_ub)"),
    ("ratio_pi_lb", "exp(pi_lb)"), ("ratio_pi_ub", "exp(pi_ub)"),
    ("tau2", "between-study variance"), ("tau2_se", "SE of tau2"), ("tau2_ci_lb", "Q-profile lower limit of tau2"),
    ("tau2_ci_ub", "Q-profile upper limit of tau2"), ("tau", "sqrt(tau2)"),
    ("Q", "Cochran's Q"), ("Q_p", "p value of Q"), ("I2", "I^2 in percent (metafor: from tau2)"),
    ("I2_ci_lb", "lower limit of I^2"), ("I2_ci_ub", "upper limit of I^2"), ("H2", "H^2"),
    ("H2_ci_lb", "lower limit of H^2"), ("H2_ci_ub", "upper limit of H^2"),
]

POOLED = pa.schema([
    _field("pooled_id", pa.string(), "stable id of this pooled row: the same pool, analysis, method and test keep their "
           "id when studies are added (`livertrials audit ID` prints its trail down to the printed numbers)"),
    _field("comparison", pa.string(), "id of the declared comparison (config comparisons): every study pooled has its "
           "arms on its sides"),
    _field("analysis", pa.string(), "main, subgroup, sensitivity or leave_one_out"),
    _field("analysis_name", pa.string(),
           "which analysis (e.g. 'exclude arm_attribution_uncertain', 'pre-post correlation 0.2')"),
    _field("design", pa.string(), "between_arms or within_arm"),
    _field("basis", pa.string(),
           "basis of the study effects pooled, ' + ' joined if an MD pool mixes them (see comparisons.basis)"),
    _field("outcome", pa.string(), "registry outcome id"),
    _field("outcome_label", pa.string(), "outcome name for people"),
    _field("benefit", pa.string(), "direction of benefit (higher, lower, none)"),
    _field("window", pa.string(), "analysis window, or 'longest follow-up' (each study's latest timepoint)"),
    _field("measure", pa.string(), "effect measure"),
    _field("scale", pa.string(), "what the estimate is"),
    _field("unit", pa.string(), "canonical unit (MD, MC)"),
    _field("meld_variant", pa.string(), "MELD variant pooled (MELD outcomes; 'any' if pooling across variants is allowed)"),
    _field("pre_post_correlation", pa.float64(), "correlation used for within-arm SDs of change"),
    _field("subgroup_variable", pa.string(), "cell_source, route, condition or randomized (subgroup rows)"),
    _field("subgroup_level", pa.string(), "level of the subgroup variable"),
    _field("excluded_flags", _LIST, "flags whose rows were excluded (sensitivity rows)"),
    _field("omitted_study_id", pa.string(), "study left out (leave_one_out rows)"),
    _field("method", pa.string(), "tau^2 estimator asked for (EE = common effect); MH = Mantel-Haenszel, Peto = Peto's "
           "one-step OR: common-effect pooling of the 2x2 counts (main analysis of event pools, no tau^2)"),
    _field("method_used", pa.string(), "estimator that produced tau^2 (differs after a REML fallback)"),
    _field("test", pa.string(), "z or knha (Hartung-Knapp)"),
    _field("level", pa.float64(), "confidence level"),
    _field("prediction_interval", pa.string(), "default (metafor predict) or riley (t, k-2 df)"),
    _field("k", pa.int64(), "number of studies"),
    _field("pooled", pa.bool_(), "false when k = 1: the study's own estimate is shown, nothing was pooled"),
    *[_field(name, pa.float64(), text) for name, text in _RESULT_FIELDS],
    _field("Q_df", pa.int64(), "degrees of freedom of Q"),
    _field("converged", pa.bool_(), "false if the iterative estimator did not converge (see warnings)"),
    _field("iterations", pa.int64(), "Fisher scoring iterations"),
    _field("warnings", _LIST, "engine warnings (k = 1, fallback, ll0check, ...)"),
    _field("study_ids", _LIST, "studies pooled"),
    _field("weights", pa.list_(pa.float64()), "weights in percent, in the order of study_ids: inverse-variance; on MH "
           "rows the Mantel-Haenszel weights (OR b*c/N, RR c*n1/N, RD n1*n2/N), on Peto rows V, normalised to 100"),
    _field("comparison_ids", _LIST, "comparisons.comparison_id of the rows pooled"),
    _field("record_ids", _LIST, "harmonized record_ids behind the rows pooled"),
    # the test for subgroup differences: the same on every row of one subgroup analysis, null on other rows
    _field("subgroup_q", pa.float64(), "test for subgroup differences: QM of rma(yi, vi, mods = ~ factor(subgroup)) "
           "with the default estimator and test (chi^2 under z, F under knha); subgroup rows only"),
    _field("subgroup_df", pa.int64(), "degrees of freedom of subgroup_q (subgroups - 1; the numerator df under knha)"),
    _field("subgroup_p", pa.float64(), "p value of the test for subgroup differences"),
    _field("subgroup_test", pa.string(), "which test, with its model (or why it was not computed)"),
])

COMPARATORS = pa.schema([
    _field("comparator_id", pa.string(), "stable id of this row (lineage: results/provenance/lineage.parquet)"),
    _field("source", pa.string(), "always 'published, not recomputed'"),
    _field("study_id", pa.string(), "published meta-analysis (comparator folder)"),
    _field("record_id", pa.string(), "harmonized record_id"),
    _field("outcome", pa.string(), "registry outcome id"),
    _field("outcome_label", pa.string(), "outcome name"),
    _field("comparison", pa.string(), "our comparison whose sides the published contrast's arms fall on (null: none)"),
    _field("timepoint_text", pa.string(), "timepoint as printed"),
    _field("timepoint_days", pa.float64(), "days", "days"),
    _field("window", pa.string(), "analysis window (null: unassigned)"),
    _field("assignment", pa.string(), "window label or 'unassigned: reason'"),
    _field("published_measure", pa.string(), "effect measure as published (MD, WMD, OR, RR, HR)"),
    _field("published_estimate", pa.float64(), "published pooled estimate (ratio scale for OR/RR/HR)"),
    _field("published_ci_lower", pa.float64(), "published lower 95% limit"),
    _field("published_ci_upper", pa.float64(), "published upper 95% limit"),
    _field("published_p_value", pa.string(), "p value as printed"),
    _field("published_n", pa.float64(), "patients in the published analysis", "patients"),
    _field("unit", pa.string(), "unit of the published estimate"),
    _field("flags", _LIST, "flags of the published record"),
    _field("our_measure", pa.string(), "our measure matched to the published one (WMD -> MD)"),
    _field("our_method", pa.string(), "our tau^2 estimator"),
    _field("our_test", pa.string(), "our test"),
    _field("our_k", pa.int64(), "studies in our estimate (0: none)"),
    _field("our_estimate", pa.float64(), "our pooled estimate on the published scale (null if k < 2)"),
    _field("our_ci_lb", pa.float64(), "our lower limit (published scale)"),
    _field("our_ci_ub", pa.float64(), "our upper limit (published scale)"),
    _field("our_I2", pa.float64(), "our I^2 (percent)"),
    _field("our_study_ids", _LIST, "our studies"),
    _field("our_note", pa.string(), "what was matched, or why there is no pooled estimate"),
    _field("our_pooled_id", pa.string(), "pooled.pooled_id of our estimate shown (null: none)"),
])

UNMATCHED = pa.schema([
    _field("study_id", pa.string(), "study folder name"),
    _field("status", pa.string(), "'study in no comparison' (nothing of it is pooled) or 'arms in no comparison' "
           "(the study is in a comparison; these arms are not)"),
    _field("arms", _LIST, "the arms concerned: 'arm_id = intervention (class)'"),
    _field("reason", pa.string(), "why, in words"),
])

SMALL_STUDY_TESTS = pa.schema([
    _field("pooled_id", pa.string(), "pooled.pooled_id of the main-analysis row tested (default estimator and test)"),
    _field("comparison", pa.string(), "id of the declared comparison of the pool"),
    _field("outcome", pa.string(), "registry outcome id"),
    _field("outcome_label", pa.string(), "outcome name for people"),
    _field("design", pa.string(), "between_arms or within_arm"),
    _field("basis", pa.string(), "basis of the study effects (see pooled.basis)"),
    _field("window", pa.string(), "analysis window"),
    _field("measure", pa.string(), "effect measure (RR, OR, HR on the log scale)"),
    _field("meld_variant", pa.string(), "MELD variant pooled (MELD outcomes)"),
    _field("k", pa.int64(), "studies in the main analysis (at least synthesis.small_study_min_k)"),
    _field("method", pa.string(), "tau^2 estimator of both tests (synthesis.default_method)"),
    _field("observed_estimate", pa.float64(), "the main analysis's estimate (analysis scale)"),
    _field("observed_ci_lb", pa.float64(), "its lower confidence limit"),
    _field("observed_ci_ub", pa.float64(), "its upper confidence limit"),
    _field("regtest_model", pa.string(), "regression test for funnel-plot asymmetry: 'rma' = metafor regtest default, "
           "meta-regression of yi on the SE with the default estimator and test (null: not computed)"),
    _field("regtest_predictor", pa.string(), "sei (standard error)"),
    _field("regtest_test", pa.string(), "z or knha (t with k - 2 df)"),
    _field("regtest_statistic", pa.float64(), "z or t of the slope on the SE"),
    _field("regtest_df", pa.float64(), "t degrees of freedom (knha), null for z"),
    _field("regtest_pval", pa.float64(), "p value of the test for funnel-plot asymmetry"),
    _field("regtest_limit_estimate", pa.float64(), "intercept: the effect expected at SE = 0 (analysis scale)"),
    _field("regtest_limit_ci_lb", pa.float64(), "its lower confidence limit"),
    _field("regtest_limit_ci_ub", pa.float64(), "its upper confidence limit"),
    _field("trimfill_estimator", pa.string(), "trim-and-fill estimator of k0 (L0; null: not computed)"),
    _field("trimfill_side", pa.string(), "side on which studies are imputed (left or right; chosen as metafor does)"),
    _field("trimfill_k0", pa.int64(), "number of studies imputed"),
    _field("trimfill_k0_se", pa.float64(), "standard error of k0"),
    _field("trimfill_estimate", pa.float64(), "estimate of the observed plus imputed studies (analysis scale, z test)"),
    _field("trimfill_se", pa.float64(), "its standard error"),
    _field("trimfill_ci_lb", pa.float64(), "its lower confidence limit"),
    _field("trimfill_ci_ub", pa.float64(), "its upper confidence limit"),
    _field("trimfill_ratio_estimate", pa.float64(), "exp(trimfill_estimate) for RR, OR, HR"),
    _field("trimfill_ratio_ci_lb", pa.float64(), "exp(trimfill_ci_lb)"),
    _field("trimfill_ratio_ci_ub", pa.float64(), "exp(trimfill_ci_ub)"),
    _field("trimfill_tau2", pa.float64(), "tau^2 of the filled model"),
    _field("trimfill_yi_filled", pa.list_(pa.float64()), "effects of the imputed studies (analysis scale)"),
    _field("trimfill_vi_filled", pa.list_(pa.float64()), "their sampling variances"),
    _field("study_ids", _LIST, "studies of the main analysis"),
    _field("comparison_ids", _LIST, "comparisons.comparison_id of its study effects"),
    _field("note", pa.string(), "which tests, as metafor would be called, and any test that could not be computed"),
])
