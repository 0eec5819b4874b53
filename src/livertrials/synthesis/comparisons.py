"""Study-level comparisons: at each study x outcome x timepoint and for each declared comparison (config
``comparisons``), the arms on its experimental side against the arms on its control side, the study's own
reported effects whose arms fall on its sides, and the change from baseline within the experimental side's arms;
one row per effect measure. Comparator records (published meta-analyses) never become comparisons."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from livertrials.io.cache import ContentCache, columns_signature, row_digests
from livertrials.synthesis import rows
from livertrials.synthesis.effects import (
    Side,
    continuous_side,
    effect_sizes,
    merge_note,
    reported_effect,
    side_summary,
    within_arm_change,
)
from livertrials.synthesis.matching import arm_side, arm_text, contrast_side
from livertrials.synthesis.measures import MEASURE_SCALE
from livertrials.synthesis.schemas import COMPARISONS
from livertrials.synthesis.settings import Comparison, Settings
from livertrials.synthesis.windows import is_baseline, mark_used

COMPARED_KINDS = ("continuous", "events", "effect")


@dataclass(frozen=True)
class _ArmComparison:
    """A between-arm comparison of arm data, waiting for its effect sizes: ``_with_effects`` computes those of
    all comparisons at once (escalc called per comparison dominated large corpora) and makes the rows."""

    first: dict
    info: dict
    labels: dict
    kind: str
    s1: Side
    s2: Side


def _with_effects(parts: list, settings: Settings) -> list[dict]:
    """Comparisons rows, in order, from rows and _ArmComparisons."""
    waiting = [part for part in parts if isinstance(part, _ArmComparison)]
    effects = {}
    for continuous in (True, False):
        batch = [part for part in waiting if (part.kind == "continuous") == continuous]
        if batch:
            kind = "continuous" if continuous else "events"
            effects.update(zip(map(id, batch), effect_sizes(kind, [(part.s1, part.s2) for part in batch], settings)))
    out = []
    for part in parts:
        if isinstance(part, _ArmComparison):
            out += _effect_rows(part.first, part.info, part.labels, effects[id(part)], part.s1, part.s2,
                                part.s1.records + part.s2.records, settings)
        else:
            out.append(part)
    return out


def _why_none(records: list[dict]) -> str:
    """Why no declared comparison has arms on both of its sides at this timepoint."""
    arms = ", ".join(arm_text(r) for r in records)
    if len(records) == 1:
        return f"single group at this timepoint ({arms})"
    return f"no declared comparison has one of these arms on each side: {arms}"


def _between_arms(records: list[dict], kind: str, settings: Settings) -> tuple[list[tuple], str]:
    """[(comparison, label, side1, side2, note)] at one timepoint: per declared comparison, its experimental
    side's arms (combined) vs its control side's arms (combined), and why there is none where there is none. Each
    arm is used once per comparison, so a control shared by two comparisons is never counted twice in one."""
    made, reasons = [], []
    for comparison in settings.comparisons:
        first = [r for r in records if arm_side(comparison, r) == 1]
        second = [r for r in records if arm_side(comparison, r) == 2]
        if not first or not second:
            continue
        s1, s2 = side_summary(kind, first), side_summary(kind, second)
        reasons += [s for s in (s1, s2) if isinstance(s, str)]
        if isinstance(s1, str) or isinstance(s2, str):
            continue
        label = f"{' + '.join(s1.arms)} vs {' + '.join(s2.arms)}"
        note = "; ".join(n for n in (merge_note(s1, first), merge_note(s2, second)) if n)
        made.append((comparison, label, s1, s2, note))
    if not made and not reasons:
        reasons.append(_why_none(records))
    return made, "; ".join(dict.fromkeys(reasons))


def _basis(record: dict, source: str, measure: str = "") -> str:
    if source == "reported_effect":
        return {"MD": "reported mean difference", "HR": "time to event"}.get(measure, "events")
    if record["kind"] == "events":
        return "events"
    # a change outcome (e.g. meld_change, "Change in MELD score from baseline") is a change even as a "level"
    change = record["quantity"] == "change" or "from baseline" in str(record["outcome_label"]).casefold()
    return "change from baseline" if change else "final values"


def _mixed(values) -> str | None:
    found = sorted({str(v) for v in values if v is not None and not pd.isna(v)})
    return None if not found else found[0] if len(found) == 1 else "mixed"


def _study_info(characteristics: pd.DataFrame) -> dict[str, dict]:
    """Per study: kind, condition and randomization (from its first row) and each arm's cell source, route,
    role and intervention (id and class: where a reported contrast's arms fall)."""
    info = {}
    columns = ["study_id", "kind", "condition", "randomized", "arm_id", "arm_role", "cell_source", "route",
               "intervention", "intervention_class"]
    for row in rows.records(characteristics[columns]):   # one pass: a groupby per study dominated large corpora
        if row["study_id"] not in info:
            randomized = row["randomized"]
            info[row["study_id"]] = {
                "study_kind": row["kind"], "condition": row["condition"],
                "randomized": "not stated" if randomized is None or pd.isna(randomized)
                else "randomized" if bool(randomized) else "not randomized",
                "arms": {},
            }
        arms = info[row["study_id"]]["arms"]
        if row["arm_id"] in arms:   # refused, as the per-study to_dict("index") this replaces did
            raise ValueError(f"study {row['study_id']}: arm {row['arm_id']!r} appears twice in the characteristics")
        arms[row["arm_id"]] = {k: row[k] for k in ("arm_id", "arm_role", "cell_source", "route", "intervention",
                                                   "intervention_class")}
    return info


def _effect_rows(first: dict, info: dict, labels: dict, effects: list, s1: Side | None, s2: Side | None,
                 records: list[dict], settings: Settings, corr: float | None = None) -> list[dict]:
    """One comparisons row per effect measure."""
    arms = info.get("arms", {})
    z = settings.z
    base = {
        "collection": "studies", "study_id": first["study_id"], "outcome": first["outcome"],
        "outcome_label": first["outcome_label"], "timepoint_text": first["timepoint_text"],
        "timepoint_kind": first["timepoint_kind"], "timepoint_days": first["timepoint_days"],
        "meld_variant": first["meld_variant"],
        "study_kind": info.get("study_kind"), "randomized": info.get("randomized", "not stated"),
        "condition": info.get("condition"),
        "flags": sorted({f for r in records for f in r["flags"]}),
        "record_ids": list(dict.fromkeys(r["record_id"] for r in records)),
        "pre_post_correlation": corr, **labels,
    }
    arms_1 = labels["arms_1"]
    base["cell_source"] = _mixed(arms.get(a, {}).get("cell_source") for a in arms_1)
    base["route"] = _mixed(arms.get(a, {}).get("route") for a in arms_1)
    for number, side in ((1, s1), (2, s2)):
        if side is not None:
            base.update({f"n_{number}": side.n, f"mean_{number}": side.mean, f"sd_{number}": side.sd,
                         f"events_{number}": side.events, f"total_{number}": side.total})
    out = []
    for measure, yi, vi, note in effects:
        se = math.sqrt(vi)
        unit = first["unit"] if measure in ("MD", "MC") else None
        notes = "; ".join(n for n in (labels.get("note", ""), note) if n)
        out.append({**base, "measure": measure, "scale": MEASURE_SCALE[measure], "unit": unit, "yi": yi,
                    "vi": vi, "se": se, "ci_lb": yi - z * se, "ci_ub": yi + z * se, "note": notes,
                    "comparison_id": rows.stable_id(first["study_id"], first["outcome"], first["timepoint_text"],
                                                    labels["comparison"], labels["contrast"], measure, corr)})
    return out


def _reported_rows(record: dict, info: dict, settings: Settings) -> tuple[list[dict], str]:
    """Rows of one reported contrast (arm A vs arm B as printed), one per comparison whose sides its arms fall
    on (reversed when printed the other way round: the sign of the log ratio or the difference turns), or why
    there is none."""
    effect = reported_effect(record)
    if isinstance(effect, str):
        p_value = f" (p {record['p_value']})" if rows.text(record["p_value"]) else ""
        return [], (effect if rows.text(record["effect_measure"]) else
                    f"contrast {record['arm_id']}: no effect estimate with a 95% CI{p_value}")
    measure, yi, vi = effect
    named_1, named_2 = list(record["contrast_arms_1"]), list(record["contrast_arms_2"])
    known = info.get("arms", {})
    arms_1, arms_2 = [known.get(a, {"arm_id": a}) for a in named_1], [known.get(a, {"arm_id": a}) for a in named_2]
    printed = f"{' + '.join(named_1) or '?'} vs {' + '.join(named_2) or '?'}"
    out = []
    for comparison in settings.comparisons:
        how = contrast_side(comparison, arms_1, arms_2)
        if how is None:
            continue
        flip = how == "reversed"
        note = f"{record['effect_measure']} and 95% CI as reported"
        if flip:
            note += f"; printed as {printed}, reversed to the comparison's experimental vs control side"
        labels = {"comparison": comparison.id, "design": "between_arms", "comparison_type": "main",
                  "contrast": record["arm_id"], "source": "reported_effect",
                  "basis": _basis(record, "reported_effect", measure),
                  "arms_1": named_2 if flip else named_1, "arms_2": named_1 if flip else named_2, "note": note}
        out += _effect_rows(record, info, labels, [(measure, -yi if flip else yi, vi, "")], None, None, [record],
                            settings)
    if out:
        return out, ""
    if not named_2:
        return [], f"contrast {record['arm_id']} ({printed}) names no comparator arm: it fits no comparison"
    arms = ", ".join(arm_text(a) for a in arms_1 + arms_2)
    return [], f"contrast {record['arm_id']} ({printed}): no declared comparison has its arms on opposite sides ({arms})"


def _timepoint_comparisons(records: list[dict], info: dict, settings: Settings) -> tuple[list, str]:
    """Between-arm comparisons (arm data, as _ArmComparison, and rows of reported effects) at one
    study x outcome x timepoint."""
    first = records[0]
    arms = [r for r in records if not r["is_contrast"]]
    out, reasons = [], []
    for quantity in sorted({r["quantity"] for r in arms}):
        group = [r for r in arms if r["quantity"] == quantity]
        if quantity not in ("level", "change"):
            reasons.append(f"{quantity} values cannot give a study effect with a variance")
            continue
        made, why = _between_arms(group, first["kind"], settings)
        reasons.append(why)
        for comparison, label, s1, s2, note in made:
            labels = {"comparison": comparison.id, "design": "between_arms", "comparison_type": "main",
                      "contrast": label, "source": "arm_data", "basis": _basis(group[0], "arm_data"),
                      "arms_1": s1.arms, "arms_2": s2.arms, "note": note}
            out.append(_ArmComparison(first, info, labels, first["kind"], s1, s2))
    for record in (r for r in records if r["is_contrast"]):
        made, why = _reported_rows(record, info, settings)
        out += made
        reasons.append(why)
    return out, "; ".join(r for r in dict.fromkeys(reasons) if r)


def _within_arm(records: list[dict], info: dict, settings: Settings) -> list[dict]:
    """Change from baseline in the arms of each comparison's experimental side (combined), SD of change imputed
    with each correlation; a study's arms give the same change in every comparison whose experimental side they
    are on, and it is a row of each."""
    out = []
    for comparison in settings.comparisons:
        out += _within_arm_of(comparison, records, info, settings)
    return out


def _within_arm_of(comparison: Comparison, records: list[dict], info: dict, settings: Settings) -> list[dict]:
    arms = [r for r in records if arm_side(comparison, r) == 1 and not r["is_contrast"]
            and r["kind"] == "continuous" and r["quantity"] == "level"]
    baseline = {r["arm_id"]: r for r in arms if is_baseline(r["timepoint_text"], r["timepoint_kind"], r["timepoint_days"])
                if isinstance(continuous_side([r]), Side)}
    out = []
    for text in dict.fromkeys(r["timepoint_text"] for r in arms):
        follow = [r for r in arms if r["timepoint_text"] == text and r["arm_id"] in baseline
                  and not is_baseline(text, r["timepoint_kind"], r["timepoint_days"])
                  and isinstance(continuous_side([r]), Side)]
        if not follow:
            continue
        after = continuous_side(follow)
        before = continuous_side([baseline[r["arm_id"]] for r in follow])
        label = f"{' + '.join(after.arms)}: {text} vs baseline"
        combined = (f"{merge_note(after, follow)} at baseline and at follow-up; " if len(follow) > 1 else "")
        labels = {"comparison": comparison.id, "design": "within_arm", "comparison_type": "within_arm",
                  "contrast": label, "source": "arm_data", "basis": "within-arm change", "arms_1": after.arms,
                  "arms_2": before.arms,
                  "note": combined + "SD of change imputed with the pre-post correlation (Cochrane Handbook 6.5.2.8)"}
        for corr in settings.correlations:
            yi, vi = within_arm_change(before, after, corr)
            out += _effect_rows(follow[0], info, labels, [("MC", yi, vi, "")], after, before,
                                after.records + before.records, settings, corr=corr)
    return out


def build_comparisons(harmonized: pd.DataFrame, characteristics: pd.DataFrame, settings: Settings,
                      benefit: dict[str, str] | None = None, cache: ContentCache | None = None) -> tuple[pd.DataFrame, dict]:
    """(comparisons, reasons): every study-level effect, and why a timepoint gave none.

    With a ``cache``, a study whose harmonized rows, study information and settings are as in an earlier run gets
    its comparison rows from it: after a one-study edit only that study's effects are computed again."""
    harmonized_rows = harmonized[(harmonized["collection"] == "studies") & harmonized["kind"].isin(COMPARED_KINDS)]
    info = _study_info(characteristics[characteristics["collection"] == "studies"])
    by_study = harmonized_rows.groupby("study_id", sort=True).indices
    cache = cache or ContentCache(None, "comparisons", "")
    keys, found = {}, {}
    if cache.enabled:
        digests = row_digests(harmonized_rows)
        shared = (settings.as_json(), columns_signature(harmonized_rows))
        for study_id, positions in by_study.items():
            keys[study_id] = cache.key(*shared, study_id, info.get(study_id, {}), digests[positions])
            hit, value = cache.get(keys[study_id])
            if hit:
                found[study_id] = value
    todo = [study_id for study_id in by_study if study_id not in found]
    positions = np.concatenate([by_study[s] for s in todo]) if todo else np.empty(0, dtype=int)
    computed = _study_rows(harmonized_rows.iloc[np.sort(positions)], info, settings)
    for study_id in todo:
        cache.put(keys.get(study_id, ""), computed.get(study_id, ([], {})))
    out, reasons = [], {}
    for study_id in by_study:   # sorted: the order of a build without cache
        made, why = found[study_id] if study_id in found else computed.get(study_id, ([], {}))
        out += made
        reasons.update(why)
    frame = pd.DataFrame(out, columns=COMPARISONS.names)
    frame["benefit"] = [(benefit or {}).get(o, "none") for o in frame["outcome"].tolist()]
    return mark_used(frame, settings), reasons


def _study_rows(harmonized_rows: pd.DataFrame, info: dict, settings: Settings) -> dict[str, tuple[list, dict]]:
    """Per study: (comparison rows, reasons), every study's effect sizes computed together (a call per comparison
    dominated large corpora)."""
    parts, reasons = [], {}
    by_study_outcome: dict[tuple, list[dict]] = {}
    for record in rows.records(harmonized_rows):  # one conversion: per-group to_dict dominated large corpora
        by_study_outcome.setdefault((record["study_id"], record["outcome"]), []).append(record)
    for (study_id, outcome), records in sorted(by_study_outcome.items()):
        for text in dict.fromkeys(r["timepoint_text"] for r in records):
            at_time = [r for r in records if r["timepoint_text"] == text]
            if is_baseline(text, at_time[0]["timepoint_kind"], at_time[0]["timepoint_days"]):
                continue
            made, why = _timepoint_comparisons(at_time, info.get(study_id, {}), settings)
            parts += made
            if why:
                reasons.setdefault(study_id, {})[(study_id, outcome, text)] = why
        parts += _within_arm(records, info.get(study_id, {}), settings)
    out: dict[str, tuple[list, dict]] = {}
    for row in _with_effects(parts, settings):
        out.setdefault(row["study_id"], ([], reasons.get(row["study_id"], {})))[0].append(row)
    for study_id, why in reasons.items():   # a study with reasons and no rows
        out.setdefault(study_id, ([], why))
    return out
