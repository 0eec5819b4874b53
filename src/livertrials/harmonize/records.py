"""Turn one validated study into harmonized records: canonical units, mean/SD, counts.

One record per study x arm (or contrast) x timepoint x outcome. Every record names
the method and unit factor applied and the ``row_id`` of every printed number it was
made from, so any value can be traced back to its source sentence.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from livertrials.harmonize import statconv
from livertrials.harmonize.derived import inr_from_prothrombin_time, meld_at_mean_labs
from livertrials.harmonize.fields import arm_index, empty_quantities, record_id
from livertrials.io.extraction import StudyFolder
from livertrials.io.measures import RATIO_MEASURES
from livertrials.io.numbers import parse_number
from livertrials.io.registry import Outcome, Registry
from livertrials.io.tables import row_dicts
from livertrials.io.timepoints import parse_timepoint
from livertrials.validate.consistency import cell_key, conflicting, outcome_unit, percentage_inconsistent

EFFECT_STATISTICS = {"mean_difference": "MD", "weighted_mean_difference": "WMD", "odds_ratio": "OR",
                     "risk_ratio": "RR", "hazard_ratio": "HR"}
KAPLAN_MEIER = re.compile(r"kaplan|cumulative survival|\bK-?M\b", re.IGNORECASE)


@dataclass
class Reported:
    """The printed numbers of one study x arm x timepoint x outcome, by statistic."""

    values: dict[str, float | None] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    row_ids: list[str] = field(default_factory=list)
    units: set[str] = field(default_factory=set)
    presumed_unit: bool = False
    flags: set[str] = field(default_factory=set)
    quotes: list[str] = field(default_factory=list)
    outcome_names: set[str] = field(default_factory=set)


def collect(study: StudyFolder, registry: Registry) -> dict[tuple[str, str, str], Reported]:
    groups: dict[tuple[str, str, str], Reported] = {}
    for row in row_dicts(study.measurements):
        outcome = registry.outcome(row["outcome"])
        statistic = registry.statistic(row["statistic"])
        group = groups.setdefault(cell_key(row, outcome), Reported())
        flags = {f.strip() for f in row.get("flags", "").split(";") if f.strip()}
        if conflicting(group.texts.get(statistic.id), row["value"]):
            flags.add("conflicting_reports")  # two different printed values: keep the first
        else:
            group.texts[statistic.id] = row["value"]
            group.values[statistic.id] = parse_number(row["value"])
        group.row_ids.append(row["row_id"])
        group.flags |= flags
        group.quotes.append(row["quote"])
        group.outcome_names.add(row["outcome"])
        unit, presumed = outcome_unit(row, outcome, statistic, registry)
        group.presumed_unit |= presumed
        if unit is not None:
            group.units.add(unit)
    return groups


def harmonize_study(study: StudyFolder, registry: Registry, collection: str = "studies") -> list[dict]:
    arms = arm_index(study.meta, registry)
    records = []
    for (arm_id, timepoint_text, outcome_id), reported in collect(study, registry).items():
        outcome = registry.outcomes[outcome_id]
        arm = arms[arm_id]
        timepoint = parse_timepoint(timepoint_text)
        record = {
            "record_id": record_id(study.study_id, arm_id, timepoint_text, outcome_id),
            "study_id": study.study_id,
            "collection": collection,
            "arm_id": arm_id,
            "arm_label": arm["label"],
            "arm_role": arm["role"],
            "is_contrast": arm["contrast"],
            **arm["fields"],
            "outcome": outcome_id,
            "outcome_label": outcome.label,
            "outcome_as_printed": sorted(reported.outcome_names),
            "kind": outcome.kind,
            "timepoint_text": timepoint_text,
            "timepoint_kind": timepoint.kind,
            "timepoint_days": timepoint.days,
            "timepoint_start_days": timepoint.start_days,
            "n": arm["n"],
            "p_value": reported.texts.get("p_value"),
            "t_statistic": reported.values.get("t_statistic"),
            "meld_variant": study.meta.get("meld_variant", "not_stated") if outcome_id.startswith("meld") else None,
            "source_row_ids": list(reported.row_ids),
        }
        flags = set(reported.flags)
        if reported.presumed_unit:
            flags.add("unit_presumed")
        if outcome_id.startswith("meld") and record["meld_variant"] == "not_stated":
            flags.add("meld_variant_not_stated")
        if timepoint.kind == "not_stated":
            flags.add("timepoint_not_stated")
        record.update(_quantities(outcome, reported, arm["n"], flags))
        record["flags"] = sorted(flags)
        records.append(record)
    records += meld_at_mean_labs(records, study.study_id, registry)
    records += inr_from_prothrombin_time(records, study.meta.get("coagulation"), study.study_id, registry)
    return records


def _quantities(outcome: Outcome, reported: Reported, n: int | None, flags: set[str]) -> dict:
    out = empty_quantities()
    values = reported.values
    if len(reported.units) > 1:
        flags.add("mixed_units")
    printed_unit = sorted(reported.units)[0] if reported.units else None
    factor = outcome.units.get(printed_unit) if printed_unit else None
    out["unit_printed"] = printed_unit
    if printed_unit and factor is None:
        flags.add("unit_not_convertible")  # e.g. ALT in multiples of ULN: kept as printed
        out["unit"], scale = printed_unit, 1.0
    else:
        out["unit"], scale = outcome.canonical_unit, (factor if factor is not None else 1.0)
        out["unit_factor"] = factor

    effect = next((s for s in EFFECT_STATISTICS if s in values), None)
    if effect:
        ratio = EFFECT_STATISTICS[effect] in RATIO_MEASURES
        unit_scale = 1.0 if ratio else scale
        out.update(effect_measure=EFFECT_STATISTICS[effect], estimate=_scaled(values[effect], unit_scale),
                   ci_lower=_scaled(values.get("ci95_lower"), unit_scale), ci_upper=_scaled(values.get("ci95_upper"), unit_scale),
                   quantity="difference" if not ratio else "ratio", method="effect as reported")
        if ratio:
            out["unit"] = EFFECT_STATISTICS[effect]
            out["unit_factor"] = None
        return out

    if outcome.kind == "events":
        return _events(out, reported, n, flags)

    if "mean_relative_change" in values or "mean_relative_change_range_low" in values:
        out.update(quantity="relative_change", unit="%", unit_factor=None,
                   mean=values.get("mean_relative_change"), minimum=values.get("mean_relative_change_range_low"),
                   maximum=values.get("mean_relative_change_range_high"), method="relative change as reported (%)")
        return out
    if "mean_change" in values:
        out["quantity"] = "change"
    location = values.get("mean", values.get("mean_change"))
    for key, stat in (("median", "median"), ("q1", "q1"), ("q3", "q3"), ("minimum", "min"), ("maximum", "max")):
        out[key] = _scaled(values.get(stat), scale)
    sd, se = values.get("sd"), values.get("se")
    lower, upper = values.get("ci95_lower"), values.get("ci95_upper")
    if location is not None:
        out["mean"] = _scaled(location, scale)
        if sd is not None:
            out.update(sd=_scaled(sd, scale), method="mean and SD as reported")
        elif se is not None and n:
            conv = statconv.sd_from_se(se, n, location)
            out.update(sd=_scaled(conv.sd, scale), method="SD = SE x sqrt(n) (Cochrane Handbook 6.5.2.2)")
        elif lower is not None and upper is not None and n:
            conv = statconv.sd_from_ci(lower, upper, n, mean=location)
            out.update(sd=_scaled(conv.sd, scale), method=f"SD from 95% CI ({conv.method}, Cochrane Handbook 6.5.2.2)")
            if conv.note:
                flags.add("ci_asymmetric" if "asymmetr" in conv.note else "sd_from_ci_note")
        else:
            out["method"] = "mean as reported; no SD"
        return out
    if values.get("median") is not None:
        conv = _from_quantiles(values, n)
        if conv is None:
            out["method"] = "median as reported; not converted (no spread or no n)"
        elif not conv.estimable:
            out["method"] = f"median as reported; not converted: {conv.note}"
            flags.add("not_converted_skewed" if "skew" in conv.note else "not_converted")
        else:
            out.update(mean=_scaled(conv.mean, scale), sd=_scaled(conv.sd, scale), method=_METHOD_TEXT[conv.method])
            flags.add("mean_sd_estimated_from_quantiles")
        return out
    for stat in ("value", "approx", "pooled_level", "central_value"):
        if values.get(stat) is not None:
            out.update(mean=_scaled(values[stat], scale), method=f"{stat.replace('_', ' ')} as reported")
            if stat == "central_value":
                flags.add("statistic_type_unknown")
            if stat == "approx":
                flags.add("approximate")
            return out
    if values.get("count") is not None:
        out.update(events=values["count"], method="count as reported")
        return out
    out["method"] = "no location statistic reported"
    return out


_METHOD_TEXT = {
    statconv.METHOD_IQR: "mean Luo 2018, SD Wan 2014 from median and IQR",
    statconv.METHOD_RANGE: "mean Luo 2018, SD Wan 2014 from median and range",
    statconv.METHOD_FIVENUM: "mean Luo 2018, SD Shi 2020 from median, IQR and range",
}


def _from_quantiles(values: dict, n: int | None) -> statconv.Conversion | None:
    if not n:
        return None
    median, q1, q3, low, high = (values.get(k) for k in ("median", "q1", "q3", "min", "max"))
    if None not in (q1, q3, low, high):
        return statconv.from_five_numbers(low, q1, median, q3, high, n)
    if None not in (q1, q3):
        return statconv.from_median_iqr(q1, median, q3, n)
    if None not in (low, high):
        return statconv.from_median_range(low, median, high, n)
    return None


def _events(out: dict, reported: Reported, n: int | None, flags: set[str]) -> dict:
    values = reported.values
    count, percent = values.get("count"), values.get("proportion")
    out.update(unit="patients", unit_factor=None, total=n)
    if count is not None:
        out.update(events=count, events_exact=count, method="count as reported")
        if percentage_inconsistent(count, percent, n):
            flags.add("inconsistent_percentage")  # printed as the source has it; e.g. 18/30 printed as 53%
    elif percent is not None and n:
        exact = percent * n / 100
        out.update(events=float(round(exact)), events_exact=exact, method="count = percentage x n / 100, rounded")
        flags.add("count_from_percentage")
        if any(KAPLAN_MEIER.search(q) for q in reported.quotes) or "km_estimate" in flags or any(
                "cumulative" in name.lower() for name in reported.outcome_names):
            flags.add("km_estimate")  # a Kaplan-Meier percentage is not a crude proportion
    elif percent is not None:
        out.update(method="percentage without a denominator; not converted")
        out["mean"] = percent
        out["unit"] = "%"
    return out


def _scaled(value: float | None, factor: float) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value * factor
