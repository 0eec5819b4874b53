"""Arms matched to the declared comparisons (config ``comparisons``): which side of which comparison an arm or a
reported contrast falls on, the comparisons' side names from the intervention registry, and the studies (or arms)
that fall in no comparison, with the reason. The one home of these rules: comparisons, comparators and the report
read them from here."""

from __future__ import annotations

import dataclasses

import pandas as pd

from livertrials.io.registry import Registry
from livertrials.synthesis.rows import records, text
from livertrials.synthesis.schemas import UNMATCHED
from livertrials.synthesis.settings import Comparison, ComparisonSide, Settings

WHOLE_POPULATION_ROLE = "all"   # numbers about every arm together: never on a side


def resolve_comparisons(settings: Settings, registry: Registry) -> Settings:
    """Settings whose comparison sides all have a label (config's, else the registry labels of their
    interventions and classes joined with "or"); refuses an intervention or class the registry does not list."""
    resolved = []
    for c in settings.comparisons:
        sides = []
        for name, side in (("experimental", c.experimental), ("control", c.control)):
            unknown = [i for i in side.interventions if i not in registry.interventions]
            unknown += [k for k in side.classes if k not in registry.classes]
            if unknown:
                where = registry.interventions_file or "the intervention registry"
                raise ValueError(f"comparison {c.id!r}, {name} side: {', '.join(unknown)} not in {where} (interventions: "
                                 f"{', '.join(registry.interventions)}; classes: {', '.join(registry.classes)})")
            label = side.label or " or ".join([registry.interventions[i].label for i in side.interventions]
                                              + [registry.classes[k].label for k in side.classes])
            sides.append(dataclasses.replace(side, label=label))
        resolved.append(dataclasses.replace(c, experimental=sides[0], control=sides[1]))
    return dataclasses.replace(settings, comparisons=tuple(resolved))


def side_label(side: ComparisonSide) -> str:
    """A side's name for people (resolved settings carry one; unresolved ones fall back to the ids)."""
    return side.label or " or ".join(side.interventions + side.classes)


def arm_side(comparison: Comparison, arm: dict) -> int | None:
    """Side (1, 2) of an arm record or characteristics row in ``comparison``; None for no side or whole-population
    numbers."""
    if arm.get("arm_role") == WHOLE_POPULATION_ROLE:
        return None
    return comparison.side_of(text(arm.get("intervention")), text(arm.get("intervention_class")))


def contrast_side(comparison: Comparison, arms_1: list[dict], arms_2: list[dict]) -> str | None:
    """How a reported contrast (arms_1 vs arms_2, as printed) lies in ``comparison``: "as printed" when every
    arm of arms_1 is on the experimental side and every arm of arms_2 on the control side, "reversed" for the
    other way round, None otherwise (also when a side names no arm)."""
    if not arms_1 or not arms_2:
        return None
    first = {arm_side(comparison, a) for a in arms_1}
    second = {arm_side(comparison, a) for a in arms_2}
    if first == {1} and second == {2}:
        return "as printed"
    if first == {2} and second == {1}:
        return "reversed"
    return None


def arm_text(arm: dict) -> str:
    """'arm_id = intervention (class)' for reasons and the unmatched table."""
    return f"{arm['arm_id']} = {text(arm.get('intervention')) or 'no intervention'} ({text(arm.get('intervention_class')) or '-'})"


def unmatched_table(characteristics: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """One row per study (collection studies) with an arm in no comparison: the whole study when no comparison
    has one of its arms on its experimental side (a within-arm change needs only that side; a between-arm effect
    or a reported contrast needs it too), else the arms left out."""
    arms_by_study: dict[str, list[dict]] = {}
    chars = characteristics[characteristics["collection"] == "studies"]
    for arm in records(chars):
        arms_by_study.setdefault(arm["study_id"], []).append(arm)
    out = []
    for study_id, arms in sorted(arms_by_study.items()):
        sided = [a for a in arms if a["arm_role"] != WHOLE_POPULATION_ROLE]
        placed = {a["arm_id"]: [(c.id, s) for c in settings.comparisons if (s := arm_side(c, a))] for a in sided}
        in_study = any(s == 1 for found in placed.values() for _, s in found)
        left_out = [a for a in sided if not placed[a["arm_id"]]]
        if in_study and not left_out:
            continue
        if not sided:
            reason = "no arm with its own numbers (only whole-population numbers)"
        elif not settings.comparisons:
            reason = "no comparison is declared (config comparisons is empty)"
        elif not in_study:
            on_control = sorted({cid for found in placed.values() for cid, s in found if s == 2})
            reason = ("no declared comparison has one of its arms' interventions or classes on its experimental side"
                      + (f" (on the control side only of {', '.join(on_control)})" if on_control else ""))
        else:
            reason = "these arms' interventions and classes are on no side of any declared comparison"
        out.append({"study_id": study_id, "status": "study in no comparison" if not in_study else "arms in no comparison",
                    "arms": [arm_text(a) for a in (sided if not in_study else left_out)], "reason": reason})
    return pd.DataFrame(out, columns=UNMATCHED.names)
