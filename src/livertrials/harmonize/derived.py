"""Measures derived from a study's harmonized arm means, each its own flagged outcome.

MELD at the mean labs (an approximation, never the mean MELD) and INR from prothrombin
time (only with the study's own ISI and mean normal PT).
"""

from __future__ import annotations

from livertrials.harmonize import scores
from livertrials.harmonize.fields import empty_quantities, record_id
from livertrials.io.registry import Outcome, Registry


def _arm_means(records: list[dict], outcome: str) -> dict[tuple[str, str], dict]:
    return {(r["arm_id"], r["timepoint_text"]): r for r in records
            if r["outcome"] == outcome and not r["is_contrast"] and r["quantity"] == "level" and r["mean"] is not None}


def _derived(template: dict, study_id: str, outcome: Outcome, suffix: str, **values) -> dict:
    record = dict(template)
    record.update(empty_quantities())
    record.update(
        record_id=record_id(study_id, template["arm_id"], template["timepoint_text"], outcome.id, suffix),
        outcome=outcome.id, outcome_label=outcome.label, outcome_as_printed=[], kind=outcome.kind,
        unit=outcome.canonical_unit, p_value=None, t_statistic=None, **values,
    )
    return record


def meld_at_mean_labs(records: list[dict], study_id: str, registry: Registry) -> list[dict]:
    """UNOS MELD computed at an arm's mean bilirubin, INR and creatinine.

    The MELD of the mean labs is not the mean MELD (MELD is non-linear in its labs), so the
    value is its own outcome, flagged as an approximation and kept out of pooling unless the
    configuration asks for it. Formula and bounds: scores.meld_unos (OPTN policy 9.1.D).
    """
    bilirubin, inr, creatinine = (_arm_means(records, o) for o in ("bilirubin", "inr", "creatinine"))
    outcome = registry.outcomes["meld_at_mean_labs"]
    derived = []
    for key in sorted(set(bilirubin) & set(inr) & set(creatinine)):
        parts = (bilirubin[key], inr[key], creatinine[key])
        if any(p["unit"] != registry.outcomes[p["outcome"]].canonical_unit for p in parts):
            continue  # a unit that could not be converted: no score
        value = float(scores.meld_unos(scores.bilirubin_umol_to_mg_dl(parts[0]["mean"]), parts[1]["mean"],
                                       scores.creatinine_umol_to_mg_dl(parts[2]["mean"])))
        flags = sorted({"approximation", "meld_at_mean_labs"} | {f for p in parts for f in p["flags"]})
        derived.append(_derived(parts[0], study_id, outcome, "meld_at_mean_labs", mean=value, meld_variant="UNOS",
                                method="UNOS MELD (OPTN 9.1.D) computed at the arm's mean bilirubin, INR and creatinine: "
                                       "an approximation, not the mean MELD",
                                source_row_ids=[i for p in parts for i in p["source_row_ids"]], flags=flags))
    return derived


def inr_from_prothrombin_time(records: list[dict], coagulation: dict | None, study_id: str, registry: Registry) -> list[dict]:
    """INR = (PT / MNPT)^ISI (WHO), only with the study's own ISI and mean normal PT.

    Applied to arm means where the study reports no INR itself. The SD is carried by the
    delta method (d INR / d PT = ISI * INR / PT); with ISI = 1 the conversion is exact.
    """
    if not coagulation:
        return []
    isi, mnpt = float(coagulation["isi"]), float(coagulation["mean_normal_pt_s"])
    reported_inr = _arm_means(records, "inr")
    outcome = registry.outcomes["inr"]
    derived = []
    for key, pt in sorted(_arm_means(records, "prothrombin_time").items()):
        if key in reported_inr:
            continue
        mean = (pt["mean"] / mnpt) ** isi
        sd = isi * mean / pt["mean"] * pt["sd"] if pt["sd"] is not None else None
        derived.append(_derived(pt, study_id, outcome, "inr_from_pt", mean=mean, sd=sd, unit_printed="s",
                                method=f"INR = (PT / {mnpt:g} s)^{isi:g} (WHO; ISI and mean normal PT as the study reports them)",
                                flags=sorted(set(pt["flags"]) | {"inr_from_pt_isi"})))
    return derived
