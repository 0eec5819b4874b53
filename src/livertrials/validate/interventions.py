"""Every arm of a study names what it received: an id from the intervention registry.

The ids live in ``interventions.yaml`` beside the outcome registry (``Registry.interventions``),
so adding an intervention is a data change. The study.yaml schema already requires the
key; this check says which id to add, and for an unknown id names the closest known ones.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from livertrials.io.extraction import StudyFolder
from livertrials.io.registry import Registry
from livertrials.validate.issues import Issue
from livertrials.validate.meta import groups

RULE = "known intervention"
# classes whose ids a missing-intervention message suggests first, by the arm's role
SUGGESTED_CLASSES = {"control": ("control",), "all": ("whole_population",)}
SUGGESTIONS_SHOWN = 4


def closest_first(name: str, known: Sequence[str]) -> list[str]:
    """Known ids, most similar to ``name`` first (ties keep the registry's order)."""
    key = name.strip().casefold()
    return sorted(known, key=lambda k: -difflib.SequenceMatcher(None, key, k).ratio())


def _suggestions(role, registry: Registry) -> str:
    classes = SUGGESTED_CLASSES.get(role) if isinstance(role, str) else None
    ids = [i.id for i in registry.interventions.values() if classes is None or i.class_id in classes]
    return ", ".join(ids[:SUGGESTIONS_SHOWN]) + (", ..." if len(ids) > SUGGESTIONS_SHOWN else "")


def validate_interventions(study: StudyFolder, registry: Registry, meta_issues: Sequence = ()) -> list:
    """Issues of the arms' ``intervention`` keys; with ``meta_issues`` (the study.yaml checks), returns them too.

    A missing or empty intervention is reported once, here, with what to add: the schema's
    generic report of the same key (required, or not text) is left out of ``meta_issues``.
    """
    file = str(study.folder / "study.yaml")
    where = registry.interventions_file or "the intervention registry"
    known = list(registry.interventions)
    issues, replaced = [], set()
    for index, arm in enumerate(groups(study.meta, "arms")):
        column = f"arms.{index}.intervention"
        name = f"arms[{index}] ({arm['id']})" if isinstance(arm.get("id"), str) else f"arms[{index}]"
        value = arm.get("intervention")
        if value is None or (isinstance(value, str) and not value.strip()):
            replaced.add(column)
            issues.append(Issue(study.study_id, file, None, "", column, "", RULE,
                                f'{name}: no intervention: add "intervention: <id>" with an id from {where} '
                                f"({_suggestions(arm.get('role'), registry)})"))
        elif isinstance(value, str) and value not in registry.interventions:
            ranked = closest_first(value, known)
            close = difflib.get_close_matches(value.strip().casefold(), known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            issues.append(Issue(study.study_id, file, None, "", column, value, RULE,
                                f"{name}: intervention {value!r} is not in {where}; {hint}"
                                f"known ids, closest first: {', '.join(ranked)}"))
        # any other type (a number, a list) is reported by the study.yaml schema
    kept = [i for i in meta_issues if not (i.rule == "study.yaml schema" and i.column in replaced)]
    return kept + issues
