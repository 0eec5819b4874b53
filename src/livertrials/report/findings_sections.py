"""The report's first screen and the answers under it: the overview paragraph, one summary-of-findings table per
comparison (GRADE certainty with its footnotes; every cell opens the audit trail of its pooled estimate), the
evidence gaps, and the risk of bias (traffic light, weighted bars, the judgements with their support quotes).

Everything shown comes from summary_of_findings.parquet, evidence_gaps.parquet, risk_of_bias.parquet and the
risk-of-bias figures' index.json; text from the extractions (study ids, quotes) goes through ``html.esc``.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pandas as pd

from livertrials.report.html import Html, esc, image, para, present, section, table
from livertrials.report.trails import Trails, trail_anchor
from livertrials.synthesis.certainty import DOMAIN_LABELS, DOMAINS, UPGRADE, items
from livertrials.synthesis.sof_tables import GradeSettings, unmatched_overrides
from livertrials.synthesis.summary_of_findings import lower_first
from livertrials.validate.risk_of_bias import LEVEL_LABELS, TOOLS

SOF_HEADERS = ["Outcome, window", "Studies (participants)", "Relative effect (95% CI)", "Risk with control",
               "Difference with {side} (95% CI)", "Certainty", "What happens"]
CONTROL_RISK_NOTE = ("Risk with control: the assumed control risk, the median control-arm risk of the studies in "
                     "that pool (per 1,000 patients), stated on every row; the risk with the intervention and the "
                     "difference are computed from it and the relative effect (Cochrane Handbook, chapter 14).")


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def _label(settings: dict, comparison: str) -> str:
    return next((c["label"] for c in settings.get("comparisons") or [] if c["id"] == comparison), comparison)


def _participants(chars: pd.DataFrame) -> tuple[int, int]:
    """(participants in the arms of the studies whose every arm states its size, studies with an arm size missing)."""
    arms = chars[chars["arm_role"] != "all"]
    sizes: dict[str, list] = {}    # one pass over the rows (a pandas group per study took 0.4 s at 1,000 studies)
    for study, analysed, randomized in zip(arms["study_id"].tolist(), arms["n_analysed"].tolist(),
                                           arms["n_randomized"].tolist()):
        if pd.notna(study):                                  # as groupby, which leaves out a missing key
            sizes.setdefault(study, []).append(analysed if pd.notna(analysed) else randomized)
    total, unknown = 0, 0
    for group in sizes.values():
        if any(pd.isna(s) for s in group):
            unknown += 1
        else:
            total += int(sum(group))
    return total, unknown


# ------------------------------------------------------------------------------------------------
# overview
# ------------------------------------------------------------------------------------------------

def overview(chars: pd.DataFrame, comparisons: pd.DataFrame, sof: pd.DataFrame, rob: pd.DataFrame,
             settings: dict, excluded: set) -> Html:
    """One paragraph from the data: studies and participants, the comparisons, what the summary of findings holds
    and how certain it is, and how much risk of bias was assessed."""
    studies = chars[chars["collection"] == "studies"]
    first = studies.drop_duplicates("study_id")
    n = len(first)
    randomized = int((first["randomized"] == True).sum())   # noqa: E712 - null means not stated
    not_randomized = int((first["randomized"] == False).sum())   # noqa: E712
    participants, unknown = _participants(studies)
    parts = [f"This review holds {_count(n, 'study', 'studies')} ({randomized} randomized, {not_randomized} not "
             f"randomized, {n - randomized - not_randomized} not stated) with {participants:,} participants"
             + (f" in the {n - unknown} that state every arm's size" if unknown else "") + "."]
    between = comparisons[comparisons["design"] == "between_arms"] if len(comparisons) else comparisons
    declared = settings.get("comparisons") or []
    if declared:
        shown = []
        for c in declared:
            mine = sof[sof["comparison"] == c["id"]] if len(sof) else sof
            k = between.loc[between["comparison"] == c["id"], "study_id"].nunique() if len(between) else 0
            pooled = int((mine["k"] >= 2).sum()) if len(mine) else 0
            critical = int(mine["critical"].sum()) if len(mine) else 0
            shown.append(f"{c['label']} ({_count(k, 'study', 'studies')} with a between-arm result; "
                         f"{_count(len(mine), 'result')}, {critical} for critical outcomes, {pooled} pooled from two or "
                         "more studies)")
        parts.append(f"{_count(len(declared), 'comparison')}: " + "; ".join(shown) + ".")
    else:
        parts.append("No comparison is declared (config comparisons), so nothing is compared or pooled.")
    if len(sof):
        levels = sof["certainty"].value_counts()
        order = [lv for lv in ("high", "moderate", "low", "very low") if lv in levels.index]
        parts.append("Certainty of the evidence (GRADE): " + ", ".join(f"{lv} for {levels[lv]}" for lv in order)
                     + f" of the {len(sof)} results; {int((sof['k'] == 1).sum())} rest on a single study.")
    if len(rob):
        overall = rob[rob["domain"] == "overall"]
        assessed = overall.loc[overall["assessed"], "study_id"].nunique()
        judged = overall.loc[overall["judgement"] != "not_assessed", "study_id"].nunique()
        parts.append(f"Risk of bias is recorded for {assessed} of {overall['study_id'].nunique()} studies "
                     f"({judged} with an overall judgement); the others are not assessed, never guessed.")
    if excluded:
        parts.append(f"{_count(len(excluded), 'study', 'studies')} excluded by validation (listed under Validation).")
    return Html(f'<p class="overview">{esc(" ".join(parts))}</p>')


# ------------------------------------------------------------------------------------------------
# summary of findings
# ------------------------------------------------------------------------------------------------

def _cell(pooled_id: str, content: str) -> Html:
    """A SoF cell whose content opens the audit trail of the pooled estimate."""
    href = esc(quote(trail_anchor(pooled_id), safe=""))
    return Html(f'<a class="sofcell" href="#{href}" title="audit trail of the pooled estimate">{content}</a>')


def _studies_cell(row: dict) -> str:
    people = f" ({row['participants']:,})" if present(row["participants"]) else " (participants not stated)"
    if int(row["k"]) == 1:
        return f"1 study{people}: {items(row['study_ids'])[0]}; a single study, not pooled"
    return f"{row['k']} studies{people}"


def _control_risk(row: dict) -> str:
    if present(row["assumed_control_risk"]):
        return f"{row['assumed_control_risk']:.0f} per 1,000"
    return "—" if row["measure"] in ("MD", "SMD", "MC") else "not known (no control-arm counts)"


def _footnotes(row: dict) -> list[str]:
    """The reason of every domain that moved the rating or was overridden, then the rule's own rating of each override."""
    return [str(f) for f in items(row["certainty_footnotes"])] + \
        [f"Reviewer's override; {r}" for r in items(row["rule_ratings"])]


class _Notes:
    """Footnotes of one table, numbered in order of first use; the same text keeps its number."""

    def __init__(self, prefix: str, start: int = 1):
        self.prefix, self.start, self.texts = prefix, start, {}

    @property
    def next(self) -> int:
        return self.start + len(self.texts)

    def marks(self, texts: list[str]) -> str:
        links = []
        for text in texts:
            number = self.texts.setdefault(text, self.next)
            links.append(f'<a href="#{esc(self.prefix)}-{number}">{number}</a>')
        return f"<sup>{','.join(links)}</sup>" if links else ""

    def render(self) -> str:
        if not self.texts:
            return ""
        return (f'<ol class="footnotes" start="{self.start}">' + "".join(f'<li id="{esc(self.prefix)}-{n}">{esc(t)}</li>'
                                                    for t, n in self.texts.items()) + "</ol>")


def _sof_rows(rows: pd.DataFrame, notes: _Notes) -> tuple[list[list], list[str]]:
    out, ids = [], []
    for r in rows.to_dict("records"):
        pid = str(r["pooled_id"])
        certainty = (_cell(pid, f'<span class="grade">{esc(r["certainty_symbols"])}</span> {esc(r["certainty"])}')
                     + notes.marks(_footnotes(r)))
        out.append([_cell(pid, f"<b>{esc(r['outcome_label'])}</b><br>{esc(r['window'])}"),
                    _cell(pid, esc(_studies_cell(r))),
                    _cell(pid, esc(r["relative_effect"] or "—")),
                    _cell(pid, esc(_control_risk(r))),
                    _cell(pid, esc(r["absolute_effect"] or "—")),
                    Html(certainty), _cell(pid, esc(r["plain_language"]))])
        ids.append(f"sof-{r['sof_id']}")
    return out, ids


def _sof_table(rows: pd.DataFrame, side: str, notes: _Notes) -> Html:
    body, ids = _sof_rows(rows, notes)
    headers = [h.format(side=side) for h in SOF_HEADERS]
    return table(headers, body, "sof", ids)


def _profile(rows: pd.DataFrame) -> Html:
    """The evidence profile: every domain's rating and reason for every result (GRADEpro's table)."""
    body = []
    for r in rows.to_dict("records"):
        cells = []
        for d in (*DOMAINS, UPGRADE):
            change = int(r[f"{d}_change"])
            sign = "" if not change else ("+" if d == UPGRADE else "−")
            head = f"{sign}{change}" if change else "0"
            cells.append(f"{head}: {r[f'{d}_reason']}" + (" [reviewer's override]" if r[f"{d}_overridden"] else ""))
        body.append([Html(f"<b>{esc(r['outcome_label'])}</b><br>{esc(r['window'])}"), r["certainty_start"], *cells,
                     f"{r['certainty_symbols']} {r['certainty']}"])
    return table(["Outcome, window", "Start", *[DOMAIN_LABELS[d] for d in (*DOMAINS, UPGRADE)], "Certainty"], body,
                 "profile small")


def _population(chars: pd.DataFrame, study_ids: set) -> str:
    mine = chars[chars["study_id"].isin(study_ids)].drop_duplicates("study_id")
    conditions = sorted({str(c).replace("_", " ") for c in mine["condition"] if present(c)})
    return ", ".join(conditions) or "not stated"


def sof_section(sof: pd.DataFrame, pooled: pd.DataFrame, chars: pd.DataFrame, settings: dict, config: dict,
                trails: Trails, nothing: str | None = None, grade: GradeSettings | None = None) -> Html:
    """One summary-of-findings table per declared comparison: the critical outcomes, then the others folded away,
    the footnotes, and every domain's reason in the evidence profile."""
    parts = [para("Certainty of the evidence (GRADE): ⊕⊕⊕⊕ high, ⊕⊕⊕◯ moderate, ⊕⊕◯◯ low, ⊕◯◯◯ very low; the "
                  "numbered footnotes give each domain's reason. Every cell opens the audit trail of its pooled "
                  "estimate.", "small")]
    grade = grade or GradeSettings.from_config(config.get("grade"))
    if grade.overrides and len(sof):
        stray = unmatched_overrides(grade, sof)
        if stray:
            parts.append(para("Reviewer's overrides in config grade.overrides that match no result: "
                              + "; ".join(f"{o.get('comparison') or 'every comparison'} / {o['outcome']} / "
                                          f"{o.get('window') or 'every window'} / {o['domain']}" for o in stray), "warn"))
    if nothing:
        parts.append(para(nothing, "warn"))
    by_id = {}
    if "pooled_id" in pooled.columns and len(sof):   # the rows of the summary only, the columns named here
        mine = pooled[pooled["pooled_id"].isin(sof["pooled_id"])]
        by_id = {r["pooled_id"]: r for r in mine[["pooled_id", "comparison", "outcome", "window", "measure",
                                                   "analysis_name", "method", "test", "comparison_ids"]].to_dict("records")}
    for r in sof.to_dict("records"):
        p = by_id.get(r["pooled_id"])
        if p is not None:
            trails.add(r["pooled_id"], "pooled", f"{p['comparison']} / {p['outcome']} / {p['window']} / {p['measure']} / "
                                                 f"{p['analysis_name']} / {p['method']}, {p['test']}",
                       list(p["comparison_ids"]), priority=0)
    if not settings.get("comparisons"):
        parts.append(para("No comparison is declared (config comparisons): there is nothing to summarise.", "warn"))
    for c in settings.get("comparisons") or []:
        mine = sof[sof["comparison"] == c["id"]] if len(sof) else sof
        side = (c.get("experimental") or {}).get("label") or c["label"]
        control = (c.get("control") or {}).get("label") or "control"
        parts.append(f'<h3 id="sof-{esc(c["id"])}">{esc(c["label"])}</h3>')
        if mine.empty:
            parts.append(para("No between-arm result in this comparison: nothing to summarise (see Evidence gaps).",
                              "warn"))
            continue
        studies = {s for ids in mine["study_ids"] for s in items(ids)}
        parts.append(Html(f'<p class="small"><b>Population:</b> {esc(_population(chars, studies))} (as in the '
                          f'studies) · <b>Intervention:</b> {esc(side)} · <b>Comparison:</b> {esc(control)} · '
                          f'<code>{esc(c["id"])}</code></p>'))
        notes = _Notes(f"sof-fn-{c['id']}")
        critical, others = mine[mine["critical"]], mine[~mine["critical"]]
        if critical.empty:
            parts.append(para("None of the critical outcomes (config grade.critical_outcomes) has a between-arm "
                              "result here (see Evidence gaps).", "warn"))
        else:
            parts += [_sof_table(critical, lower_first(side), notes), notes.render()]
        if len(others):
            more = _Notes(f"sof-fn-{c['id']}", notes.next)   # numbers go on: no two footnotes of a comparison share one
            parts += [f"<details><summary>Other outcomes: {_count(len(others), 'result')} "
                      f"({int((others['k'] >= 2).sum())} pooled)</summary>",
                      _sof_table(others, lower_first(side), more), more.render(), "</details>"]
        parts += ["<details><summary>GRADE domains of every result, with the reasons (evidence profile)</summary>",
                  _profile(mine), "</details>"]
    parts.append(para("How the rows are made: each is the main between-arm analysis of one outcome at one analysis window "
                      f"(random effects, {settings.get('default_method', 'REML')} estimator, "
                      f"{settings.get('default_test', 'z')} test); a single study is shown as such, not pooled, and "
                      "its imprecision is rated very serious. " + CONTROL_RISK_NOTE + " The GRADE rules, their "
                      "thresholds and sources are in docs/grade.md; a reviewer may override a domain with a reason "
                      "(config grade.overrides), shown as the domain's footnote.", "small"))
    return section("sof", "Summary of findings", *parts)


# ------------------------------------------------------------------------------------------------
# evidence gaps
# ------------------------------------------------------------------------------------------------

def _windows_text(windows: list[str], studies: list[str] | None = None) -> str:
    if studies is None:
        return ", ".join(windows)
    return ", ".join(f"{w} ({s})" for w, s in zip(windows, studies))


def gaps_section(gaps: pd.DataFrame, settings: dict, config: dict, grade: GradeSettings | None = None) -> Html:
    critical = (grade or GradeSettings.from_config(config.get("grade"))).critical_outcomes
    parts = [para("Critical outcomes (config grade.critical_outcomes) at each analysis window where fewer than two "
                  "controlled studies give a between-arm result, so nothing can be pooled; and which printed numbers "
                  "would close each gap.", "small")]
    for c in settings.get("comparisons") or []:
        mine = gaps[gaps["comparison"] == c["id"]] if len(gaps) else gaps
        parts.append(f"<h3>{esc(c['label'])}</h3>")
        if mine.empty:
            parts.append(para("No gap: every critical outcome has two or more controlled studies in every window.", "ok"))
            continue
        lines = []
        for outcome in critical:
            rows = mine[mine["outcome"] == outcome]
            if rows.empty:
                continue
            none, one = rows[rows["k"] == 0], rows[rows["k"] == 1]
            said = []
            if len(none):
                said.append(f"no controlled study reports it at {_windows_text(list(none['window']))}")
            if len(one):
                said.append("one controlled study only at " + _windows_text(
                    list(one["window"]), [", ".join(items(s)) for s in one["study_ids"]]))
            lines.append(f"<li><b>{esc(rows['outcome_label'].iloc[0])}</b>: {esc('; '.join(said))}.</li>")
        parts.append(f'<ul class="gaps">{"".join(lines)}</ul>')
        parts += [f"<details><summary>Each gap and the printed numbers that would close it ({len(mine)})</summary>",
                  table(["Gap", "Needed"], [[g, n] for g, n in zip(mine["gap"], mine["needed"])], "small"),
                  "</details>"]
    return section("gaps", "Evidence gaps", *parts)


# ------------------------------------------------------------------------------------------------
# risk of bias
# ------------------------------------------------------------------------------------------------

def _figure_path(directory: Path, files: dict | None) -> Path | None:
    if not files:
        return None
    name = files.get("png") or files.get("svg")
    return directory / name if name else None


def rob_section(rob: pd.DataFrame, manifest: dict, directory: Path, settings: dict) -> Html:
    light = manifest.get("traffic_light") or {}
    shown = light.get("studies") or []
    parts = [para("RoB 2 for randomized trials, ROBINS-I for non-randomized studies (docs/risk-of-bias.md). A judgement "
                  "is recorded only where the source prints what supports it; a study or domain without one is "
                  "drawn as not assessed (NA), never guessed, and the GRADE risk-of-bias rule counts it with the "
                  "studies at high risk.", "small")]
    path = _figure_path(directory, light.get("files"))
    if path is not None:
        parts += [f"<h3>Studies behind the summary of findings: {len(shown)}</h3>",
                  para(f"{len(light.get('assessed') or [])} of them with a recorded assessment."
                       + (f" {light['not_drawn']} more studies are not drawn (too many for one figure); their "
                          "judgements are in results/harmonized/risk_of_bias.parquet." if light.get("not_drawn") else ""),
                       "small"),
                  image(path, "risk-of-bias traffic light", "figure rob")]
    else:
        parts.append(para("No study is behind the summary of findings: no traffic light.", "note"))
    bars = manifest.get("bars") or []
    if bars:
        parts.append("<h3>Judgements weighted by each pooled result's study weights</h3>")
        for c in settings.get("comparisons") or []:
            mine = [b for b in bars if b["comparison"] == c["id"]]
            if not mine:
                continue
            parts.append(f"<h4>{esc(c['label'])}</h4><div class=\"robbars\">")
            for b in mine:
                parts.append(f'<figure id="rob-{esc(b["sof_id"])}">'
                             + image(_figure_path(directory, b["files"]), f"risk of bias weighted: {b['title']}")
                             + f"<figcaption>{esc(b['title'])}</figcaption></figure>")
            parts.append("</div>")
    assessed = rob[rob["assessed"] & (rob["judgement"] != "not_assessed")] if len(rob) else rob
    rows = [[Html(f'<a href="#study-{esc(r["study_id"])}">{esc(r["study_id"])}</a>'), TOOLS.get(r["tool"], r["tool"]),
             r["domain_label"], LEVEL_LABELS.get(r["judgement"], r["judgement"]), r["support"], r["source"]]
            for r in assessed.to_dict("records")]
    parts += [f"<details><summary>Every recorded judgement with its support quote ({len(rows)})</summary>",
              table(["Study", "Tool", "Domain", "Judgement", "Support (verbatim)", "Source"], rows, "small"),
              "</details>"]
    return section("rob", "Risk of bias", *parts)

