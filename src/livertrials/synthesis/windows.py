"""Analysis windows: where a timepoint goes, which timepoint of a study each window uses, which is the study's
longest follow-up, and the report of where every study x outcome x timepoint went and why."""

from __future__ import annotations

import math

import pandas as pd

from livertrials.synthesis.pooling import POOLED_TYPES, pool_basis
from livertrials.synthesis.rows import finite, records, stable_id
from livertrials.synthesis.schemas import WINDOWS
from livertrials.synthesis.settings import LONGEST_FOLLOW_UP, Settings

NOT_STATED = "unassigned: timepoint not stated"
# The rule of the longest follow-up analysis, stated in the report and the docs as written here.
LONGEST_RULE = ("Longest follow-up: within each comparison, outcome and effect measure, every study enters once, with "
                "its latest timepoint that gives an effect (the largest day count; at equal days arm-level data before a "
                "reported effect). A timepoint the source did not state (e.g. 'end of follow-up' without a time) enters "
                "only when the study has no stated timepoint with an effect for that outcome, and is flagged "
                "timepoint_not_stated. Baseline and treatment schedules never enter.")


def is_baseline(text: str, kind: str, days: float) -> bool:
    return str(text).strip().casefold().startswith("baseline") or (kind == "point" and days == 0)


def assign_window(study_id: str, text: str, kind: str, days: float, settings: Settings) -> tuple[str | None, str]:
    """(window label or None, the assignment as reported). Baseline is never a window."""
    for item in settings.not_stated_assignments:   # a recorded decision from config
        if item["study_id"] == study_id and item["timepoint_text"] == text:
            return item["window"], f"{item['window']} (config: {item['reason']})"
    if is_baseline(text, kind, days):
        return None, "baseline: never a window (reference for change from baseline only)"
    if kind == "schedule":
        return None, "unassigned: treatment schedule, not an outcome time"
    if kind == "not_stated" or days is None or not math.isfinite(days):
        return None, NOT_STATED
    for window in settings.windows:
        if window.contains(days):
            return window.label, window.label
    return None, f"unassigned: day {days:g} is outside every analysis window"


def mark_used(comparisons: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """Assign windows; keep one timepoint per comparison x study x window x measure (closest to nominal); append
    a copy (window "longest follow-up") of each study's latest effect (longest_follow_up)."""
    frame = comparisons.copy()
    frame["pool_basis"] = pool_basis(frame)
    # plain lists: iterating Arrow-backed columns row by row is slow on large corpora
    timepoints = zip(*(frame[c].tolist() for c in ("study_id", "timepoint_text", "timepoint_kind", "timepoint_days")))
    assigned = [assign_window(*timepoint, settings) for timepoint in timepoints]
    frame["window"] = [w for w, _ in assigned]
    frame["assignment"] = [a for _, a in assigned]
    frame["used"] = False
    frame["not_used_reason"] = [None if w else a for w, a in assigned]
    pooled_types = frame["comparison_type"].isin(list(POOLED_TYPES))
    if not settings.include_meld_approximations:
        # MELD at the mean labs is not the mean MELD: shown beside the reported MELD, pooled only on request
        approximate = frame["outcome"] == "meld_at_mean_labs"
        frame.loc[approximate, "not_used_reason"] = ("approximation (MELD at the mean labs): not pooled unless "
                                                     "synthesis.include_meld_approximations is true")
        pooled_types &= ~approximate
    candidates = frame[frame["window"].notna() & pooled_types]
    nominal = {w.label: w.nominal_days for w in settings.windows}
    keys = ["comparison", "study_id", "outcome", "window", "design", "pool_basis", "measure", "pre_post_correlation"]
    # closest to the nominal time first; at equal distance arm data beat a reported effect, then
    # the earlier timepoint wins; a not-stated timepoint placed by config ranks after every stated one.
    # One sort instead of a loop over groups: the loop dominated large corpora.
    windows, days = candidates["window"].tolist(), candidates["timepoint_days"].tolist()
    ranked = candidates.assign(
        _target=[nominal[w] for w in windows],
        _distance=[_distance(d, nominal[w]) for d, w in zip(days, windows)],
        _reported=candidates["source"] != "arm_data",
        _from_start=[_distance(d, 0.0) for d in days],
    ).sort_values(keys + ["_distance", "_reported", "_from_start"], kind="stable", na_position="last")
    best = ~ranked.duplicated(keys, keep="first")
    frame.loc[ranked.index[best], "used"] = True
    winner = ranked[best].set_index(keys)[["timepoint_text", "_target"]]
    others = ranked[~best]
    if len(others):
        chosen = winner.reindex(pd.MultiIndex.from_frame(others[keys]))
        for index, text, best_text, target in zip(others.index, others["timepoint_text"].tolist(),
                                                  chosen["timepoint_text"].tolist(), chosen["_target"].tolist()):
            frame.at[index, "not_used_reason"] = (
                "arm-level data used instead of the reported effect" if text == best_text else
                f"not used: {best_text!r} is closer to the window's nominal day {target:g}")
    if settings.longest_follow_up:
        frame = pd.concat([frame, longest_follow_up(frame[pooled_types])], ignore_index=True)
    return frame


def longest_follow_up(candidates: pd.DataFrame) -> pd.DataFrame:
    """Copies, with window "longest follow-up", of each study's latest effect per comparison x outcome x design x
    basis x measure (x pre-post correlation), chosen by LONGEST_RULE."""
    if candidates.empty:
        return candidates.iloc[0:0]
    keys = ["comparison", "study_id", "outcome", "design", "pool_basis", "measure", "pre_post_correlation"]
    days = candidates["timepoint_days"].tolist()
    stated = [finite(d) for d in days]
    eligible = candidates.assign(_stated=stated, _later=[-d if ok else 0.0 for d, ok in zip(days, stated)],
                                 _reported=candidates["source"] != "arm_data")
    eligible = eligible[eligible["timepoint_kind"] != "schedule"]
    ranked = eligible.sort_values(keys + ["_stated", "_later", "_reported", "timepoint_text"],
                                  ascending=[True] * len(keys) + [False, True, True, True], kind="stable",
                                  na_position="last")
    chosen = ranked[~ranked.duplicated(keys, keep="first")]
    copies = chosen.drop(columns=["_stated", "_later", "_reported"]).copy()
    copies["comparison_id"] = [stable_id(cid, LONGEST_FOLLOW_UP) for cid in copies["comparison_id"].tolist()]
    copies["window"] = LONGEST_FOLLOW_UP
    copies["used"] = True
    copies["not_used_reason"] = None
    copies["assignment"] = [
        f"{LONGEST_FOLLOW_UP}: the study's latest timepoint with an effect (day {d:g})" if ok else
        f"{LONGEST_FOLLOW_UP} only: timepoint not stated and the study has no stated one for this outcome"
        for d, ok in zip(copies["timepoint_days"].tolist(), chosen["_stated"].tolist())]
    copies["flags"] = [sorted(set(f) | ({"timepoint_not_stated"} if not ok else set()))
                       for f, ok in zip(copies["flags"].tolist(), chosen["_stated"].tolist())]
    return copies


def _distance(days: float, target: float) -> float:
    return abs(days - target) if finite(days) else math.inf


def window_report(harmonized: pd.DataFrame, comparisons: pd.DataFrame, reasons: dict, settings: Settings) -> pd.DataFrame:
    """Where every study x outcome x timepoint went, and why."""
    rows = harmonized[(harmonized["collection"] == "studies") & (harmonized["kind"] != "descriptive")]
    used_records = {r for ids in comparisons.loc[comparisons["used"], "record_ids"] for r in ids}
    out = []
    reasons_here: dict[tuple, list] = {}   # not_used_reason per study x outcome x timepoint (a groupby was slow)
    used_in: dict[tuple, set] = {}         # windows whose pools use the timepoint
    columns = ("study_id", "outcome", "timepoint_text", "not_used_reason", "used", "window")
    for *key, reason, used, window in zip(*(comparisons[c].tolist() for c in columns)):
        if not any(pd.isna(part) for part in key):   # as groupby, which drops missing keys
            if window != LONGEST_FOLLOW_UP:
                reasons_here.setdefault(tuple(key), []).append(reason)
            if used:
                used_in.setdefault(tuple(key), set()).add(window)
    grouped: dict[tuple, list[dict]] = {}
    for record in records(rows[["study_id", "outcome", "timepoint_text", "timepoint_kind", "timepoint_days", "kind", "record_id"]]):
        grouped.setdefault((record["study_id"], record["outcome"], record["timepoint_text"]), []).append(record)
    for (study_id, outcome, text), group in sorted(grouped.items()):
        first = group[0]
        window, assignment = assign_window(study_id, text, first["timepoint_kind"], first["timepoint_days"], settings)
        here = [r for r in reasons_here.get((study_id, outcome, text), []) if isinstance(r, str)]
        present = (study_id, outcome, text) in reasons_here
        record_ids = [r["record_id"] for r in group]
        pools = used_in.get((study_id, outcome, text), set())
        if used_records.intersection(record_ids):
            status = "used"
            if assignment.startswith("baseline"):
                note = "baseline of a within-arm change"
            elif pools == {LONGEST_FOLLOW_UP}:
                why = "; ".join(dict.fromkeys(here)) if window is not None else ""
                note = "longest follow-up analysis only" + (f" (in {window}: {why})" if why else "")
            else:
                note = "also the study's longest follow-up" if LONGEST_FOLLOW_UP in pools else ""
        elif assignment.startswith("baseline"):
            status, note = "baseline", "not used: no arm of an experimental side has baseline and follow-up means with SDs"
        elif window is None:
            status, note = "unassigned", ""
        elif present:
            status, note = "not used", "; ".join(dict.fromkeys(here))
        else:
            status = "no comparison"
            note = reasons.get((study_id, outcome, text)) or (
                "time-to-event summary (duration): not pooled" if first["kind"] == "duration" else "no usable numbers")
        out.append({"window_row_id": stable_id("window", study_id, outcome, text),
                    "study_id": study_id, "outcome": outcome, "timepoint_text": text,
                    "timepoint_kind": first["timepoint_kind"], "timepoint_days": first["timepoint_days"],
                    "window": window, "assignment": assignment, "status": status, "note": note, "record_ids": record_ids})
    return pd.DataFrame(out, columns=WINDOWS.names)
