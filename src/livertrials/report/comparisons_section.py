"""The report's Comparisons section: the declared comparisons with their sides and the studies in each, the
analysis windows and the longest follow-up rule in words, the studies (or arms) in no comparison with the reason,
and, when nothing is pooled, why."""

from __future__ import annotations

import pandas as pd

from livertrials.report.html import Html, esc, para, section, table
from livertrials.synthesis.settings import LONGEST_FOLLOW_UP
from livertrials.synthesis.windows import LONGEST_RULE


def _side_text(side: dict) -> str:
    named = [f"interventions {', '.join(side['interventions'])}" if side.get("interventions") else "",
             f"classes {', '.join(side['classes'])}" if side.get("classes") else ""]
    return f"{side.get('label') or ''} ({'; '.join(n for n in named if n)})"


def _window_text(w: dict) -> str:
    end = "on" if w["to_days"] is None else f"to <{w['to_days']:.10g}"
    return f"{w['label']}: days {w['from_days']:.10g} {end} (nominal day {w['nominal_days']:.10g})"


def anything_pooled(pooled: pd.DataFrame) -> bool:
    """Some pooled row has k >= 2 (nothing_to_pool is None)."""
    return bool(len(pooled) and pooled["pooled"].any())


def nothing_to_pool(settings: dict, chars: pd.DataFrame, comparisons: pd.DataFrame, pooled: pd.DataFrame,
                    unmatched: pd.DataFrame) -> str | None:
    """Why nothing is pooled (no pooled row with k >= 2), in words; None when something is."""
    if anything_pooled(pooled):
        return None
    studies = set(chars.loc[chars["collection"] == "studies", "study_id"])
    if not settings.get("comparisons"):
        why = "no comparison is declared (config comparisons is empty)."
    elif not studies:
        why = "the corpus has no study to pool (none was found, or every one was excluded by validation)."
    elif comparisons.empty and set(unmatched.loc[unmatched["status"] == "study in no comparison", "study_id"]) >= studies:
        why = "no study has its arms on the sides of a declared comparison (listed below with the reason)."
    elif comparisons.empty:
        why = ("no study in a comparison gives a study-level effect: no arm has usable numbers after baseline on both "
               "sides (see Flags and exclusions for each timepoint).")
    elif pooled.empty:
        why = "no study effect falls in an analysis window or the longest follow-up analysis."
    else:
        why = ("every analysis has a single study (k = 1): each study's own estimate is shown, nothing was pooled.")
    return f"Nothing to pool: {why}"


def comparisons_section(settings: dict, chars: pd.DataFrame, comparisons: pd.DataFrame, pooled: pd.DataFrame,
                        unmatched: pd.DataFrame) -> Html:
    parts = []
    reason = nothing_to_pool(settings, chars, comparisons, pooled, unmatched)
    if reason:
        parts.append(para(reason, "warn"))
    parts.append(para("Every study-level effect, pool, subgroup and sensitivity analysis, forest and funnel plot lies "
                      "within one comparison. An arm is on the side that names its intervention id, else on the side "
                      "that names its intervention class (resources/registry/interventions.yaml). Arms of one trial on "
                      "the same side are combined into one group (Cochrane Handbook 23.3.4) and the row says so; a "
                      "trial enters a comparison once, so a shared control is never counted twice in one. Changes from "
                      "baseline within arms belong to every comparison whose experimental side the arms are on."))
    main = pooled[pooled["analysis"] == "main"] if len(pooled) else pooled
    rows = []
    for c in settings.get("comparisons") or []:
        mine = comparisons[comparisons["comparison"] == c["id"]]
        between = sorted(set(mine.loc[mine["design"] == "between_arms", "study_id"]))
        within = sorted(set(mine.loc[mine["design"] == "within_arm", "study_id"]) - set(between))
        pools = main[main["comparison"] == c["id"]] if len(main) else main
        largest = int(pools["k"].max()) if len(pools) else 0
        studies = (f"{len(between)} between arms: {', '.join(between) or 'none'}"
                   + (f"; {len(within)} within arms only: {', '.join(within)}" if within else ""))
        rows.append([Html(f"<b>{esc(c['label'])}</b><br><code>{esc(c['id'])}</code>"), _side_text(c["experimental"]),
                     _side_text(c["control"]), studies, f"{largest}"])
    parts.append(table(["Comparison", "Experimental side", "Control side", "Studies with an effect", "Largest k"],
                       rows, "small"))
    windows = "; ".join(_window_text(w) for w in settings.get("windows", []))
    parts += ["<h3>Time</h3>",
              para(f"Analysis windows, days since first treatment, each [from, to): {windows}. Baseline is never in a "
                   "window; back-to-back windows leave no day out."),
              para(LONGEST_RULE if settings.get("longest_follow_up", True) else
                   f"The {LONGEST_FOLLOW_UP} analysis is switched off (synthesis.longest_follow_up: false).")]
    listed = [[Html(f'<a href="#study-{esc(r["study_id"])}">{esc(r["study_id"])}</a>'), r["status"], r["arms"], r["reason"]]
              for r in unmatched.to_dict("records")]
    parts += ["<h3>Studies and arms in no comparison</h3>",
              table(["Study", "Status", "Arms (intervention, class)", "Reason"], listed, "small")]
    return section("comparisons", "Comparisons", *parts)
