"""The effect-measure vocabulary: how published measures map to ours (which are ratios: io.measures), what yi
is on each measure's scale, and the formula texts the lineage shows. The one home of these facts."""

from __future__ import annotations

from livertrials.io.measures import RATIO_MEASURES  # noqa: F401 - the measure vocabulary's one home

REPORTED_MEASURE = {"MD": "MD", "WMD": "MD", "OR": "OR", "RR": "RR", "HR": "HR"}   # as published -> ours
MEASURE_SCALE = {
    "MD": "difference in the outcome's canonical unit",
    "MC": "mean change from baseline in the outcome's canonical unit",
    "SMD": "Hedges' g (exact J), SD units",
    "RR": "log risk ratio", "OR": "log odds ratio", "HR": "log hazard ratio",
    "RD": "risk difference (proportion)",
}
EVENT_MEASURES = ("RR", "OR", "RD")   # computed from events and totals
EFFECT_FORMULA = {
    "MD": "MD = mean_1 - mean_2, vi = sd_1^2/n_1 + sd_2^2/n_2 (metafor escalc MD)",
    "SMD": "SMD = Hedges' g with exact J, large-sample vi (metafor escalc SMD)",
    "RR": "yi = log((events_1/total_1) / (events_2/total_2)), vi = 1/e_1 - 1/t_1 + 1/e_2 - 1/t_2 (metafor escalc RR)",
    "OR": "yi = log odds ratio, vi = sum of 1/cell (metafor escalc OR)",
    "RD": "RD = events_1/total_1 - events_2/total_2 (metafor escalc RD)",
    "MC": "MC = mean at follow-up - mean at baseline, vi = SD_change^2 / n with SD_change imputed at r = {corr:g} "
          "(Cochrane Handbook 6.5.2.8; metafor escalc MC)",
}


def reported_formula(measure: str) -> str:
    """How a study's own estimate and 95% CI become yi and vi."""
    if measure in RATIO_MEASURES:
        return "yi = log(estimate), vi = ((log(upper) - log(lower)) / (2 x 1.96))^2"
    return "yi = estimate, vi = ((upper - lower) / (2 x 1.96))^2"
