"""What every harmonized record shares: its stable id, its arm's facts, and the empty quantity columns."""

from __future__ import annotations

import hashlib


def record_id(*parts: str) -> str:
    """A stable 16-hex-digit id of the parts: the same inputs give the same id in every run."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


def arm_index(meta: dict) -> dict[str, dict]:
    """Arm and contrast entries by id, with the arm size used as denominator."""
    index = {}
    for arm in meta.get("arms") or []:
        index[arm["id"]] = {"label": arm.get("label", ""), "role": arm.get("role", ""), "contrast": False,
                            "n": arm.get("n_analysed") or arm.get("n_randomized")}
    for contrast in meta.get("contrasts") or []:
        index[contrast["id"]] = {"label": contrast.get("label", ""), "role": "contrast", "contrast": True,
                                 "n": contrast.get("n_total")}
    return index


def empty_quantities() -> dict:
    """The quantity columns of a record, all empty; each harmonization step fills the ones it derives."""
    return {"quantity": "level", "unit": None, "unit_printed": None, "unit_factor": None,
            "mean": None, "sd": None, "median": None, "q1": None, "q3": None, "minimum": None, "maximum": None,
            "events": None, "events_exact": None, "total": None,
            "effect_measure": None, "estimate": None, "ci_lower": None, "ci_upper": None, "method": "as reported"}
