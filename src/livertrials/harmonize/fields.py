"""What every harmonized record shares: its stable id, its arm's facts, and the empty quantity columns."""

from __future__ import annotations

import hashlib

from livertrials.io.registry import Registry


def record_id(*parts: str) -> str:
    """A stable 16-hex-digit id of the parts: the same inputs give the same id in every run."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


def arm_index(meta: dict, registry: Registry) -> dict[str, dict]:
    """Arm and contrast entries by id, with the arm size used as denominator and, under "fields", what each
    record of the arm carries about its treatment (intervention id, label and class; a contrast's arm ids):
    synthesis matches arms to the declared comparisons by these."""
    index = {}
    for arm in meta.get("arms") or []:
        index[arm["id"]] = {"label": arm.get("label", ""), "role": arm.get("role", ""), "contrast": False,
                            "n": arm.get("n_analysed") or arm.get("n_randomized"),
                            "fields": {**intervention_fields(arm.get("intervention"), registry),
                                       "contrast_arms_1": [], "contrast_arms_2": []}}
    for contrast in meta.get("contrasts") or []:
        index[contrast["id"]] = {"label": contrast.get("label", ""), "role": "contrast", "contrast": True,
                                 "n": contrast.get("n_total"),
                                 "fields": {**intervention_fields(None, registry),
                                            "contrast_arms_1": _arm_ids(contrast.get("intervention")),
                                            "contrast_arms_2": _arm_ids(contrast.get("control"))}}
    return index


def intervention_fields(intervention_id: str | None, registry: Registry) -> dict:
    """An arm's intervention id with its registry label and class (validation has checked the id is listed)."""
    found = registry.interventions.get(intervention_id) if intervention_id else None
    return {"intervention": intervention_id, "intervention_label": found.label if found else None,
            "intervention_class": found.class_id if found else None}


def _arm_ids(value) -> list[str]:
    """A contrast's side as arm ids: study.yaml gives one id, a list of ids, or null."""
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def empty_quantities() -> dict:
    """The quantity columns of a record, all empty; each harmonization step fills the ones it derives."""
    return {"quantity": "level", "unit": None, "unit_printed": None, "unit_factor": None,
            "mean": None, "sd": None, "median": None, "q1": None, "q3": None, "minimum": None, "maximum": None,
            "events": None, "events_exact": None, "total": None,
            "effect_measure": None, "estimate": None, "ci_lower": None, "ci_upper": None, "method": "as reported"}
