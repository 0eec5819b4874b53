"""study.yaml: checks across keys that the JSON schema cannot express (sizes, contrasts, where a study is filed).

Each finding names the key as a path (``arms.0.n_analysed``) and says what to do.
"""

from __future__ import annotations

import re

from livertrials.io.text import quoted
from livertrials.validate.issues import Issue

# a contrast total this far from the sum of its arms' sizes (both the randomized and the analysed sum) is worth a look;
# a patient or two (dropouts, a late exclusion) is common and not reported
TOTAL_SLACK = 2
TOTAL_SHARE = 0.10
COMPARATOR_KINDS = {"meta_analysis", "trial_listing"}
# a design that starts by calling the study a review: "meta-analysis of 7 RCTs", "systematic review and ..."
REVIEW_DESIGN = re.compile(r"^\s*(?:an?\s+)?(?:network\s+|pooled\s+|cumulative\s+)?(?:meta-?\s?analys[ie]s|systematic\s+review)\b",
                           re.IGNORECASE)


def _size(value) -> int | None:
    """A whole number >= 0 (anything else is a schema error, reported there)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _indexed(meta: dict, key: str) -> list[tuple[int, dict]]:
    value = meta.get(key)
    return [(i, g) for i, g in enumerate(value) if isinstance(g, dict)] if isinstance(value, list) else []


def _refs(contrast: dict) -> list[str]:
    refs = contrast.get("intervention")
    refs = [refs] if isinstance(refs, str) else [r for r in refs if isinstance(r, str)] if isinstance(refs, list) else []
    control = contrast.get("control")
    return refs + ([control] if isinstance(control, str) and control else [])


def validate_groups(meta: dict, study_id: str, file: str) -> list[Issue]:
    """Arm sizes and contrasts: n analysed within n randomized, a contrast of two different arms, its total."""
    issues = []
    arms = {}
    for index, arm in _indexed(meta, "arms"):
        randomized, analysed = _size(arm.get("n_randomized")), _size(arm.get("n_analysed"))
        if isinstance(arm.get("id"), str):
            arms[arm["id"]] = (randomized, analysed)
        if randomized is not None and analysed is not None and analysed > randomized:
            issues.append(Issue(study_id, file, None, "", f"arms.{index}.n_analysed", str(analysed), "n analysed within n randomized",
                                f"arm {quoted(arm.get('id'))}: n_analysed ({analysed}) is larger than n_randomized ({randomized}); "
                                "only randomized patients can be analysed: check both numbers against the source"))
    for index, contrast in _indexed(meta, "contrasts"):
        name = quoted(contrast.get("id"))
        interventions = _refs(dict(contrast, control=None))
        control = contrast.get("control")
        if isinstance(control, str) and control in interventions:
            issues.append(Issue(study_id, file, None, "", f"contrasts.{index}.control", control, "contrast of two different arms",
                                f"contrast {name} compares arm {quoted(control)} with itself: the control must be another arm "
                                "(set control to the comparator arm's id)"))
        elif len(set(interventions)) < len(interventions):
            twice = next(r for r in interventions if interventions.count(r) > 1)
            issues.append(Issue(study_id, file, None, "", f"contrasts.{index}.intervention", twice, "contrast of two different arms",
                                f"contrast {name} lists arm {quoted(twice)} twice: list each arm once"))
        else:  # the total of a contrast whose arms are wrong says nothing more
            issues += _total_warning(contrast, index, arms, study_id, file)
    return issues


def _total_warning(contrast: dict, index: int, arms: dict, study_id: str, file: str) -> list[Issue]:
    total, refs = _size(contrast.get("n_total")), list(dict.fromkeys(_refs(contrast)))
    if total is None or not refs or any(r not in arms for r in refs):
        return []  # an unknown arm is reported by "contrast refers to an arm"
    randomized = [arms[r][0] for r in refs]
    analysed = [arms[r][1] if arms[r][1] is not None else arms[r][0] for r in refs]
    sums = [sum(s) for s in (randomized, analysed) if None not in s]
    if not sums or any(abs(total - s) <= max(TOTAL_SLACK, TOTAL_SHARE * s) for s in sums):
        return []
    return [Issue(study_id, file, None, "", f"contrasts.{index}.n_total", str(total), "contrast total matches its arms",
                  f"contrast {quoted(contrast.get('id'))}: n_total ({total}) is far from the sum of its arms' sizes "
                  f"({' or '.join(str(s) for s in dict.fromkeys(sums))}): check n_total and the arms it compares", "warning")]


def validate_placement(meta: dict, study_id: str, file: str, collection: str) -> list[Issue]:
    """A published meta-analysis or trial list belongs in comparators/ (shown beside the estimates, never pooled)."""
    if collection != "studies":
        return []
    kind, design = meta.get("kind"), meta.get("design")
    if kind in COMPARATOR_KINDS:
        column, value, why = "kind", kind, f"its kind is {kind}"
    elif isinstance(design, str) and REVIEW_DESIGN.match(design):
        column, value, why = "design", design, "its design describes a meta-analysis or systematic review"
    else:
        return []
    return [Issue(study_id, file, None, "", column, value, "meta-analysis filed as a study",
                  f"this folder is under studies/ but {why}: a published meta-analysis would be pooled as a trial here; "
                  "move it to comparators/ (shown beside our estimates, never pooled), or correct kind and design")]
