"""The report's sections on the studies and the data: run settings, study characteristics, figures,
MELD reported vs approximated, flags and exclusions, validation (the results are in results_sections)."""

from __future__ import annotations

import json
import math
import sys
from importlib import metadata
from pathlib import Path

import pandas as pd

from livertrials.report.html import Html, esc, image, num, para, present, section, table
from livertrials.report.trails import Trails, trail_link


def _flatten(prefix: str, value) -> list[tuple[str, str]]:
    if isinstance(value, dict):
        return [kv for k, v in value.items() for kv in _flatten(f"{prefix}.{k}" if prefix else str(k), v)]
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return [(prefix, "; ".join(json.dumps(v, sort_keys=False) for v in value))]
    if isinstance(value, list):
        return [(prefix, ", ".join(str(v) for v in value) or "(none)")]
    return [(prefix, "null" if value is None else str(value))]


def _window_text(w: dict) -> str:
    end = "on" if w["to_days"] is None else f"to <{w['to_days']:.10g}"
    return f"{w['label']} (days {w['from_days']:.10g} {end})"


def _key_settings(settings: dict, manifest: dict) -> list[tuple[str, str]]:
    windows = "; ".join(_window_text(w) for w in settings.get("windows", []))
    comparisons = "; ".join(f"{c['id']} ({c['label']})" for c in settings.get("comparisons") or []) or "none declared"
    return [("comparisons", comparisons), ("analysis windows", windows),
            ("longest follow-up", "each study's latest timepoint, per comparison, outcome and measure"
             if settings.get("longest_follow_up", True) else "not analysed"),
            ("forest plots", f"{settings.get('default_method')} estimator of tau², {settings.get('default_test')} test "
                             f"(defaults); level {settings.get('level')}; prediction interval "
                             f"{settings.get('prediction_interval')}"),
            ("pooled table", f"estimators {', '.join(settings.get('methods', []))} x tests "
                             f"{', '.join(settings.get('tests', []))}; fallback {settings.get('fallback')}"),
            ("measures", f"continuous {', '.join(settings.get('continuous_measures', []))}; events "
                         f"{', '.join(settings.get('event_measures', []))}; zero cells +{settings.get('continuity_add')} "
                         f"({settings.get('continuity_to')})"),
            ("within-arm changes", f"pre-post correlation {settings.get('pre_post_correlation')} (sensitivity "
                                   f"{', '.join(str(r) for r in settings.get('pre_post_correlation_sensitivity', []))})"),
            ("subgroups", ", ".join(settings.get("subgroups", {}))),
            ("sensitivity analyses", "; ".join(name for name, _ in settings.get("sensitivity_exclusions", []))),
            ("forest plots drawn for", "every measure" if not manifest.get("measures") else
             f"{', '.join(manifest['measures'])} (forest.measures; the other measures are in the pooled table)"),
            ("funnel plots", f"only for k >= {manifest.get('funnel_min_k', 10)}")]


def settings_section(config: dict, settings: dict, manifest: dict, glance: str = "") -> Html:
    """The run at a glance (counts of the machinery), the key settings, the full configuration and the software."""
    versions = []
    for package in ("livertrials", "snakemake", "pandas", "numpy", "scipy", "matplotlib", "pyarrow"):
        try:
            versions.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            pass
    versions.append(f"Python {sys.version.split()[0]}")
    key = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in _key_settings(settings, manifest))
    return section("settings", "Run settings", glance, f"<dl>{key}</dl>",
                   "<details><summary>Full configuration (as run)</summary>",
                   table(["key", "value"], _flatten("", config), "kv small"), "</details>",
                   "<details><summary>Effective synthesis settings (stored in pooled.parquet)</summary>",
                   table(["key", "value"], _flatten("synthesis", settings), "kv small"), "</details>",
                   para("Software: " + "; ".join(versions), "small"))


def _arms_text(arms: list[dict]) -> str:
    out = []
    for a in arms:
        n = a["n_analysed"] if pd.notna(a["n_analysed"]) else a["n_randomized"]
        received = next((a[k] for k in ("intervention_label", "intervention") if present(a.get(k))),
                        "intervention not stated")
        bits = [a["arm_role"], received, f"n={n:.0f}" if pd.notna(n) else "n not stated"]
        bits += [a[k] for k in ("cell_source", "cell_type", "route") if pd.notna(a[k]) and a[k] not in ("none", "")]
        out.append(f"{a['arm_label']} ({', '.join(str(b) for b in bits)})")
    return "\n".join(out)


def _study_row(study: str, group: list[dict]) -> list:
    """group: the study's rows (one per arm) of study_characteristics, as records."""
    first = group[0]
    randomized = {True: "yes", False: "no"}.get(first["randomized"], "not stated")
    flags = list(dict.fromkeys(f for a in group for f in a["study_flags"]))
    # long flag texts would make every row a page tall: they fold away behind their count
    folded = (Html(f'<details><summary>{len(flags)} flag{"s" if len(flags) != 1 else ""}: '
                   f'{esc(", ".join(dict.fromkeys(str(f).split(":")[0] for f in flags)))}</summary>'
                   + "".join(f"<p>{esc(f)}</p>" for f in flags) + "</details>") if flags else "")
    where = ", ".join(str(x) for x in (first["condition"], first["country"]) if present(x))
    kind = Html(f"{esc(first['kind'])}<br><span class=\"small\">{esc(first['design'])}</span>")
    return [Html(f"<b>{esc(study)}</b>"), kind, randomized, where, Html(f'<span class="pre">{esc(_arms_text(group))}</span>'),
            Html(f'<span class="small">{esc(first["citation"])}<br>{esc(first["doi_or_pmid"])}</span>'), folded]


def _by_study(chars: pd.DataFrame) -> list[tuple[str, list[dict]]]:
    """(study, its rows in table order) sorted by study id: one pass over records (a pandas group per study took
    7 s at 1,000 studies)."""
    groups: dict[str, list[dict]] = {}
    for r in chars.to_dict("records"):
        groups.setdefault(r["study_id"], []).append(r)
    return sorted(groups.items(), key=lambda kv: kv[0])


def characteristics_section(chars: pd.DataFrame) -> Html:
    headers = ["Study", "Kind and design", "Randomized", "Condition, country", "Arms (role, intervention, n, cells, route)",
               "Citation", "Study flags"]
    parts = [para("Studies excluded by validation are absent here and listed under Validation.")]
    for collection, title in (("studies", "Studies (pooled)"),
                              ("comparators", "Published meta-analyses and trial lists (never pooled)")):
        groups = _by_study(chars[chars["collection"] == collection])
        parts += [f"<h3>{esc(title)}: {len(groups)}</h3>",
                  table(headers, [_study_row(study, g) for study, g in groups], "studies small",
                        [f"study-{study}" for study, _ in groups])]
    return section("studies", "Study characteristics", *parts)


def figures_section(figure_files: list[Path]) -> Html:
    pngs = {p.stem: p for p in map(Path, figure_files) if p.suffix == ".png"}
    svgs = {p.stem: p for p in map(Path, figure_files) if p.suffix == ".svg"}
    chosen = {**svgs, **pngs}          # PNG where both exist
    parts = []
    if "evidence_map" in chosen:
        parts += ["<h3>Evidence map</h3>", image(chosen.pop("evidence_map"), "evidence map"),
                  para("Which study reports which outcome at which timepoint (weeks since first treatment).", "caption")]
    parts.append("<h3>Arm means over time</h3>")
    for stem in sorted(chosen):
        outcome = stem.removeprefix("arm_means_")
        parts += [f'<figure id="{esc(stem)}">', image(chosen[stem], f"arm means: {outcome}"),
                  f"<figcaption>Arm means with 95% CI over time: {esc(outcome)}</figcaption></figure>"]
    return section("figures", "Evidence map and arm means", *parts)


def meld_section(harmonized: pd.DataFrame, trails: Trails) -> Html:
    """MELD as reported beside 'MELD at the mean labs' (an approximation) for the same arm and timepoint."""
    approx = harmonized[harmonized["outcome"] == "meld_at_mean_labs"]
    reported = harmonized[harmonized["outcome"] == "meld"]
    rows, only = [], []
    for a in approx.to_dict("records"):
        same = reported[(reported["study_id"] == a["study_id"]) & (reported["arm_id"] == a["arm_id"])
                        & (reported["timepoint_text"] == a["timepoint_text"])]
        if same.empty:
            only.append(f"{a['study_id']} / {a['arm_id']} / {a['timepoint_text']}")
            continue
        m = same.iloc[0]
        for rec, what in ((m, "reported"), (a, "approximation")):
            trails.add(rec["record_id"], "record", f"{rec['study_id']} / {rec['arm_id']} / {rec['outcome']} / "
                                                   f"{rec['timepoint_text']} ({what})")
        sd = f" ({num(m['sd'])})" if present(m["sd"]) and math.isfinite(m["sd"]) else ""
        rows.append([a["study_id"], a["arm_label"], a["timepoint_text"],
                     Html(f"{esc(num(m['mean']))}{esc(sd)}, n={esc(num(m['n'], 0))} " + trail_link(m["record_id"])),
                     m["meld_variant"], Html(f"{esc(num(a['mean'], 1))} " + trail_link(a["record_id"])),
                     a["meld_variant"], num(m["mean"] - a["mean"], 2), a["flags"]])
    note = para("'MELD at the mean labs' (outcome meld_at_mean_labs) is the MELD formula applied to the arm's mean "
                "bilirubin, INR and creatinine: an approximation, not the mean of patients' MELD scores (the formula is "
                "non-linear). It is shown only beside the reported MELD and is never pooled with it.", "note")
    extra = para("MELD at the mean labs without a reported MELD at the same arm and timepoint: " + "; ".join(only)) if only else ""
    headers = ["Study", "Arm", "Timepoint", "MELD reported: mean (SD), n", "Reported variant",
               "MELD at mean labs (approximation)", "Variant used", "Reported − approximation", "Flags"]
    return section("meld", "MELD reported vs MELD at the mean labs", note, table(headers, rows, "small"), extra)


def _first(items: list[str], most: int) -> str:
    return "; ".join(items[:most]) + (f"; … and {len(items) - most} more" if len(items) > most else "")


def flags_section(harmonized: pd.DataFrame, comparisons: pd.DataFrame, windows: pd.DataFrame) -> Html:
    studies = harmonized[harmonized["collection"] == "studies"]
    counts: dict[str, set] = {}
    records: dict[str, int] = {}
    for r in studies[["study_id", "flags"]].itertuples(index=False):
        for flag in r.flags:
            code = str(flag).split(":")[0].strip()
            counts.setdefault(code, set()).add(r.study_id)
            records[code] = records.get(code, 0) + 1
    flag_rows = [[code, records[code], _first(sorted(counts[code]), 30)]
                 for code in sorted(counts, key=lambda c: (-records[c], c))]
    unused = comparisons[~comparisons["used"]]
    grouped = (unused.groupby(["study_id", "outcome", "comparison", "contrast", "timepoint_text", "not_used_reason"],
                              dropna=False)["measure"].apply(lambda m: ", ".join(sorted(set(m)))).reset_index())
    unused_rows = [[r["study_id"], r["outcome"], f"{r['comparison']}: {r['contrast']}", r["timepoint_text"], r["measure"],
                    r["not_used_reason"]]
                   for r in grouped.to_dict("records")]
    outside = windows[windows["status"].isin(["unassigned", "no comparison", "not used"])]
    window_rows = [[r["study_id"], r["outcome"], r["timepoint_text"], r["status"], r["assignment"], r["note"]]
                   for r in outside.to_dict("records")]
    return section("flags", "Flags and exclusions",
                   "<h3>Flags on harmonized records (pooled studies)</h3>",
                   table(["Flag", "Records", "Studies"], flag_rows, "small"),
                   "<h3>Study effects computed but not pooled</h3>",
                   table(["Study", "Outcome", "Comparison", "Timepoint", "Measures", "Reason"], unused_rows, "small"),
                   "<h3>Timepoints outside the analysis windows, or without a comparison</h3>",
                   para(f"From results/synthesis/windows.parquet ({len(windows)} study x outcome x timepoint rows; "
                        f"{int((windows['status'] == 'baseline').sum())} baseline rows are not listed)."),
                   table(["Study", "Outcome", "Timepoint", "Status", "Assignment", "Note"], window_rows, "small"))


def validation_section(issues: pd.DataFrame, summary: dict) -> Html:
    errors = issues[issues["severity"] == "error"]
    warnings = issues[issues["severity"] == "warning"]
    excluded = sorted(set(errors["study"]) | set(summary.get("rejected_studies", {})))
    columns = ["file", "row", "row_id", "column", "value", "rule", "message"]
    headers = ["File", "Line", "Row id", "Column", "Value", "Rule", "Message"]
    parts = [Html(f'<p class="{"warn" if excluded else "ok"}">{len(excluded)} stud{"y" if len(excluded) == 1 else "ies"}'
                  f' excluded by validation; {len(warnings)} warnings (kept and carried as flags).</p>')]
    for study in excluded:
        mine = errors[errors["study"] == study]
        parts += [f'<h3 id="excluded-{esc(study)}">Excluded: {esc(study)} ({len(mine)} errors)</h3>',
                  table(headers, [[_int_or_blank(v) if c == "row" else v for c, v in zip(columns, r)]
                                  for r in mine[columns].itertuples(index=False)], "small")]
    parts += [f"<details><summary>{len(warnings)} warnings</summary>",
              table(["Study"] + headers, [[r[0]] + [_int_or_blank(v) if c == "row" else v for c, v in zip(columns, r[1:])]
                                         for r in warnings[["study"] + columns].itertuples(index=False)], "small"),
              "</details>"]
    return section("validation", "Validation", *parts)


def _int_or_blank(x) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else str(int(x))
