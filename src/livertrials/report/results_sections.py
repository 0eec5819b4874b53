"""The report's sections on the results: forest plots with their settings and rows, pooled results (both under
one heading per declared comparison), published comparators beside our estimates. Each row links to its audit
trail (trails.Trails)."""

from __future__ import annotations

import math
import re
from pathlib import Path
from urllib.parse import quote

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from livertrials.figures.forest_specs import RATIO, pooled_key
from livertrials.report.html import Html, esc, image, num, para, present, section, section_parts, table
from livertrials.report.trails import Trails, trail_link
from livertrials.synthesis.comparators import PUBLISHED


def figure_file(files: dict, directory: Path) -> Path | None:
    for fmt in ("png", "svg"):
        if fmt in files:
            return directory / files[fmt]
    return None


def _forest_settings(entry: dict) -> list[tuple[str, str]]:
    measure = entry["measure"] + (" (ratio; drawn on a log axis)" if entry["measure"] in RATIO else "")
    method = entry["method"] if entry["method"] == entry["method_used"] else \
        f"{entry['method']} (fell back to {entry['method_used']})"
    return [("comparison", entry.get("comparison_label") or entry.get("comparison") or ""),
            ("window", entry["window"]), ("design", entry["design"]), ("basis", entry["basis"]),
            ("measure", f"{measure}; scale: {entry['scale']}" + (f"; unit {entry['unit']}" if entry.get("unit") else "")),
            ("method", f"{method}, test {entry['test']}, level {entry['level']}, prediction interval "
                       f"{entry['prediction_interval']}"),
            ("k", str(entry["k"]) + ("" if entry["pooled"] else " (not pooled)")),
            ("exclusions", "none: main analysis, every used study effect (exclusion-based sensitivity analyses "
                           "are in the pooled-results table)"),
            ("MELD variant", entry.get("meld_variant") or "not applicable"),
            ("pre-post correlation", num(entry.get("pre_post_correlation"), 2) or "not applicable"),
            ("funnel plot", "drawn (below); regression test and trim-and-fill (k ≥ synthesis.small_study_min_k): "
                            "section 'Subgroup differences and small-study effects'" if entry["funnel"]
             else _short_reason(entry))]


def _short_reason(entry: dict) -> str:
    if entry["kind"] != "main":
        return "not for subgroup or across-window plots (see the main analysis)"
    return f"not drawn: k = {entry['k']}, fewer than the {entry.get('funnel_min_k', 10)} studies needed" \
        if entry["funnel_reason"] else "not drawn"


UNUSED_KEY = ("comparison", "outcome", "measure", "design")


def unused_effects(comparisons: pd.DataFrame) -> dict[tuple, list[dict]]:
    """The study effects not pooled, grouped by comparison, outcome, measure and design (in table order): a forest
    plot looks its own up instead of filtering the whole table (400 plots x 130,000 rows at 1,000 studies)."""
    unused = comparisons[~comparisons["used"]]
    columns = [*UNUSED_KEY, "window", "study_id", "timepoint_text", "contrast", "not_used_reason"]
    grouped: dict[tuple, list[dict]] = {}
    for r in unused[columns].to_dict("records"):
        grouped.setdefault(tuple(r[c] for c in UNUSED_KEY), []).append(r)
    return grouped


def not_used(entry: dict, unused: dict[tuple, list[dict]]) -> list[str]:
    """Study effects of this outcome, window and measure that are not in the plot, with the reason."""
    same = unused.get((entry.get("comparison"), entry["outcome"], entry["measure"], entry["design"]), [])
    if entry["kind"] != "across_windows":
        same = [r for r in same if r["window"] == entry["window"]]
    return [f"{r['study_id']} ({r['timepoint_text']}, {r['contrast']}): {r['not_used_reason']}" for r in same]


def forest_figure(entry: dict, forest_dir: Path, unused: dict[tuple, list[dict]]) -> Html:
    image_file = figure_file(entry["files"], forest_dir)
    settings = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in _forest_settings(entry))
    excluded = not_used(entry, unused)
    exclusions = ('<ul class="small">' + "".join(f"<li>{esc(x)}</li>" for x in excluded) + "</ul>" if excluded
                  else '<p class="small">none: every study effect in this outcome, window and measure is shown.</p>')
    rows = []
    if entry.get("collapsed"):
        rows.append(["", Html(f"<i>{esc(entry['k_total'])} study rows not drawn or listed (more than the forest "
                              "plot's maximum); each is in the pooled row's trail</i>"), "", "", "", ""])
    for r in entry["rows"]:
        rows.append([r["block"] or "", Html(f"<b>{esc(r['study_id'])}</b>"), r["timepoint"], r["effect"],
                     "–" if r["weight"] is None else f"{r['weight']:.1f}%", trail_link(r["comparison_id"])])
    for s in entry["summaries"]:
        text = f"{s['label']}: k = {s['k']}" + ("" if s["pooled"] else " (not pooled)")
        rows.append([Html("<i>pooled</i>"), text, "", "", "", trail_link(s["pooled_key"])])
    funnel = image(figure_file(entry["funnel"], forest_dir), f"funnel plot: {entry['title']}") if entry["funnel"] else ""
    # the figure carries its own title, subtitle and method line: the HTML adds settings, exclusions and links
    return Html(f'<figure class="forest" id="{esc("forest-" + entry["id"])}">'
                f'<h5>{esc(entry["title"])} — {esc(entry["measure"])}'
                f'{" — " + esc(entry["kind"].replace("_", " ")) if entry["kind"] != "main" else ""}</h5>'
                + image(image_file, f"forest plot: {entry['title']}, {entry['measure']}")
                + f'<div class="cols"><div><h5>Settings</h5><dl>{settings}</dl>'
                f'<h5>Not in this plot</h5>{exclusions}</div>'
                f'<div><h5>Rows and audit trails</h5>'
                + table(["Block", "Study", "Timepoint", "Effect [95% CI]", "Weight", "Trail"], rows, "small")
                + f'</div></div>{funnel}</figure>')


def by_comparison(items: list[dict], settings: dict) -> list[tuple[str, list[dict]]]:
    """(heading, items) per comparison, in the declared order; items of an undeclared comparison after them."""
    labels = {c["id"]: c["label"] for c in settings.get("comparisons") or []}
    grouped: dict[str, list[dict]] = {c: [] for c in labels}
    for item in items:
        grouped.setdefault(item.get("comparison") or "", []).append(item)
    return [(labels.get(c) or c or "no comparison", group) for c, group in grouped.items() if group]


def forest_pages(entries: list[dict], settings: dict) -> dict[str, str]:
    """Forest-plot id -> the file (under report/forests/) of its own page: one page per comparison and outcome, for a
    report too large for one file (page.PAGE_LIMIT_BYTES)."""
    names: dict[tuple, str] = {}
    pages = {}
    for _, group in by_comparison(entries, settings):
        for e in group:
            key = (e.get("comparison") or "", e["outcome_label"])
            if key not in names:
                stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{key[0] or 'none'}--{e['outcome']}").strip("-.")
                taken = set(names.values())
                name, n = f"{stem}.html", 2
                while name in taken:
                    name, n = f"{stem}-{n}.html", n + 1
                names[key] = name
            pages[e["id"]] = names[key]
    return pages


def _forest_trails(entries: list[dict], comparisons: pd.DataFrame, trails: Trails) -> None:
    """Every forest-plot row's trail."""
    wanted = {r["comparison_id"] for e in entries for r in e["rows"]}
    mine = comparisons[comparisons["comparison_id"].isin(wanted)].drop_duplicates("comparison_id")
    by_id = {c["comparison_id"]: c for c in mine[["comparison_id", "study_id", "outcome", "measure", "window",
                                                  "comparison", "contrast", "record_ids"]].to_dict("records")}
    for e in entries:
        for r in e["rows"]:
            c = by_id[r["comparison_id"]]
            trails.add(r["comparison_id"], "comparison",
                       f"{c['study_id']} / {c['outcome']} / {c['measure']} / {c['window']} ({c['comparison']}: "
                       f"{c['contrast']})", list(c["record_ids"]), priority=1)


def forests_section(manifest: dict, forest_dir: Path, comparisons: pd.DataFrame, trails: Trails | None, settings: dict,
                    nothing: str | None = None, figures: dict[str, str] | None = None,
                    pages: dict[str, str] | None = None, index: str = "index.html") -> tuple[Html, dict[str, list[str]]]:
    """The section, and (with ``pages``: forest id -> file) the parts of each forest page: the figures go there and
    the section keeps the list of plots, linked. figures: forest id -> forest_figure() (built here if not given).
    trails: None when the rows' trails were added by an earlier call."""
    parts, paged = forests_parts(manifest, forest_dir, comparisons, trails, settings, nothing, figures, pages, index)
    return Html("".join(parts)), paged


def forests_parts(manifest: dict, forest_dir: Path, comparisons: pd.DataFrame, trails: Trails | None, settings: dict,
                  nothing: str | None = None, figures: dict[str, str] | None = None,
                  pages: dict[str, str] | None = None, index: str = "index.html") -> tuple[list[str], dict[str, list[str]]]:
    """forests_section with the section as its pieces (html.section_parts)."""
    entries = manifest.get("forests", [])
    if trails is not None:
        _forest_trails(entries, comparisons, trails)
    if not entries:
        return section_parts("forests", "Forest plots", para(f"No forest plots. {nothing or 'Nothing was pooled.'}",
                                                             "warn")), {}
    parts = [para(f"{len(entries)} forest plots: {sum(e['kind'] == 'main' for e in entries)} main analyses, "
                  f"{sum(e['kind'] == 'subgroup' for e in entries)} subgroup forests, "
                  f"{sum(e['kind'] == 'across_windows' for e in entries)} mortality/survival forests across windows, "
                  f"under one heading per comparison. k = 1 plots show the study alone (not pooled). "
                  f"{sum(e['funnel'] is not None for e in entries)} funnel plots drawn.")]
    without = [e for e in entries if e["funnel_reason"]]
    if without:
        parts.append(para(f"Funnel plots: {len(without)} of {sum(e['kind'] == 'main' for e in entries)} main analyses "
                          f"have fewer than {without[0]['funnel_min_k']} studies (largest k here: "
                          f"{max(e['k'] for e in entries)}), too few to judge small-study effects or publication bias "
                          "(Cochrane Handbook, chapter 13: funnel plots and asymmetry tests need at least 10 studies); "
                          "no funnel plot is drawn for them.", "note"))
    groups = by_comparison(entries, settings)
    if figures is None:
        unused = unused_effects(comparisons)
        figures = {e["id"]: forest_figure(e, forest_dir, unused) for e in entries}

    def where(e: dict) -> str:
        return f"forests/{quote(pages[e['id']])}" if pages else ""

    toc = "".join(f'<li><a href="{where(e)}#{esc(quote("forest-" + e["id"], safe=""))}">{esc(heading)} — {esc(e["outcome_label"])}: '
                  f'{esc(e["window"])}, {esc(e["measure"])}'
                  f'{" (" + esc(e["kind"].replace("_", " ")) + ")" if e["kind"] != "main" else ""}</a></li>'
                  for heading, group in groups for e in group)
    parts.append(f'<details class="toc"><summary>List of forest plots</summary><ul class="cols3">{toc}</ul></details>')
    if pages:
        parts.append(para("This report is too large for one file with every forest plot in it, so each comparison's "
                          "plots of one outcome are on a page of their own in the folder forests/ beside this page "
                          "(self-contained as this one; their audit-trail links lead back here).", "note"))
    paged: dict[str, list[str]] = {}
    for heading, group in groups:
        parts.append(f"<h3>{esc(heading)}</h3>")
        outcomes: dict[str, list[dict]] = {}
        for e in group:
            outcomes.setdefault(e["outcome_label"], []).append(e)
        for label, mine in outcomes.items():
            parts.append(f"<h4>{esc(label)}</h4>")
            if not pages:
                parts += [figures[e["id"]] for e in mine]
                continue
            name = pages[mine[0]["id"]]
            parts.append(Html(f'<p><a href="forests/{esc(quote(name))}">{len(mine)} forest plot'
                              f'{"" if len(mine) == 1 else "s"}: forests/{esc(name)}</a></p>'))
            paged[name] = [f"<h2>{esc(heading)}</h2>", f"<h3>{esc(label)}</h3>",
                           *(off_page(figures[e["id"]], index) for e in mine)]
    return section_parts("forests", "Forest plots", *parts), paged


def off_page(fragment: str, index: str) -> str:
    """A forest figure for a page in forests/: its audit-trail links lead to the blocks of the main page (data in
    the fragment went through esc, so no text of it holds a quote character)."""
    return fragment.replace(' href="#', f' href="../{quote(index)}#')


def _on_scale(r: dict, name: str) -> float:
    """A pooled value on the reader's scale: ratio_* (exp) for RR, OR and HR."""
    return r[f"ratio_{name}"] if r["measure"] in RATIO else r[name]


def _estimate_text(r: dict) -> str:
    return f"{num(_on_scale(r, 'estimate'))} [{num(_on_scale(r, 'ci_lb'))}, {num(_on_scale(r, 'ci_ub'))}]"


def _pi_text(r: dict) -> str:
    low, high = num(_on_scale(r, "pi_lb")), num(_on_scale(r, "pi_ub"))
    return f"[{low}, {high}]" if low else ""


STUDIES_SHOWN = 12


def _first_ids(column: pd.Series, most: int) -> list[tuple[list, int]]:
    """(the first ``most`` ids, how many) of each row's list, without making the whole lists."""
    if not len(column):
        return []
    lists = pa.array(column)
    return list(zip(pc.list_slice(lists, 0, most).to_pylist(), pc.list_value_length(lists).to_pylist()))


def _studies_text(ids: tuple[list, int], most: int = STUDIES_SHOWN) -> Html:
    """ids: the first ``most`` study ids and how many there are."""
    first, count = ids
    shown = "<br>".join(esc(x) for x in first[:most])
    return Html(shown + (f"<br>… and {count - most} more" if count > most else ""))


def _pooled_row(r: dict, key: str, what: str) -> list:
    het = "" if not r["pooled"] else f"{num(r['Q'])} ({r['Q_df']}), p = {num(r['Q_p'], 3)}"
    method = r["method"] if r["method_used"] == r["method"] else f"{r['method']}→{r['method_used']}"
    design = f"{r['design']}; {r['basis']}" + (f"; MELD {r['meld_variant']}" if present(r["meld_variant"]) else "")
    return [r["outcome_label"], r["window"], Html(f"<b>{esc(r['measure'])}</b><br><span class=\"small\">{esc(design)}</span>"),
            what, f"{method}, {r['test']}", f"{r['k']}" + ("" if r["pooled"] else " (not pooled)"),
            _estimate_text(r), _pi_text(r), num(r["tau2"], 3), num(r["I2"], 1), het, _studies_text(r["study_ids"]),
            "; ".join(w for w in r["warnings"] if not w.startswith("k=1")), trail_link(key)]


POOLED_SHOWN = ["pooled_id", "comparison", "analysis", "analysis_name", "subgroup_level", "omitted_study_id", "outcome",
                "outcome_label", "window", "measure", "design", "basis", "meld_variant", "method", "method_used", "test",
                "k", "pooled", "estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub", "ratio_estimate", "ratio_ci_lb",
                "ratio_ci_ub", "ratio_pi_lb", "ratio_pi_ub", "tau2", "I2", "Q", "Q_df", "Q_p", "warnings"]


def pooled_section(pooled: pd.DataFrame, trails: Trails, forest_keys: set[str], settings: dict,
                   nothing: str | None = None) -> Html:
    has_ids = "pooled_id" in pooled.columns
    headers = ["Outcome", "Window", "Measure (design; basis)", "Analysis", "Method, test", "k", "Estimate [95% CI]",
               "95% PI", "τ²", "I² %", "Q (df), p", "Studies", "Warnings", "Trail"]
    parts = [para("Every pooled row of results/synthesis/pooled.parquet, under one heading per comparison: main analysis "
                  "with every configured estimator and test, subgroups and sensitivity analyses (leave-one-out rows "
                  "below each). RR, OR and HR on the ratio scale; other measures on their own scale.")]
    if nothing:
        parts.append(para(nothing, "warn"))
    # 30-odd of 60-odd columns as records (all took 0.1 s); of the id lists (800,000 ids at 1,000 studies) the
    # studies shown and their count, and the comparisons only if a trail needs them
    records = pooled[[c for c in POOLED_SHOWN if c in pooled.columns]].to_dict("records")
    comparison_ids = pooled["comparison_ids"].array
    for r, (first, count) in zip(records, _first_ids(pooled["study_ids"], STUDIES_SHOWN)):
        r["study_ids"] = (first, count)
    for position, r in enumerate(records):
        r["comparison_ids"] = lambda i=position: comparison_ids[i]
    for heading, rows_of in by_comparison(records, settings):
        tables = {"main": ([], []), "leave_one_out": ([], [])}
        for r in rows_of:
            key = pooled_key(r)
            what = r["analysis_name"]
            if present(r.get("subgroup_level")):
                what = f"{what} = {r['subgroup_level']}"
            if present(r.get("omitted_study_id")):
                what = f"{what}: without {r['omitted_study_id']}"
            trails.add(key, "pooled", f"{r['comparison']} / {r['outcome']} / {r['window']} / {r['measure']} / {what} / "
                                      f"{r['method']}, {r['test']}",
                       r["comparison_ids"], call=has_ids, priority=0 if key in forest_keys else 2)
            rows, ids = tables["leave_one_out" if r["analysis"] == "leave_one_out" else "main"]
            rows.append(_pooled_row(r, key, what))
            ids.append(f"pooled-row-{key}")
        (main_rows, main_ids), (loo_rows, loo_ids) = tables["main"], tables["leave_one_out"]
        parts += [f"<h3>{esc(heading)}</h3>", table(headers, main_rows, "pooled small", main_ids),
                  f"<details><summary>Leave-one-out: {len(loo_rows)} rows</summary>",
                  table(headers, loo_rows, "pooled small", loo_ids), "</details>"]
    return section("pooled", "Pooled results", *parts)


def comparators_section(comparators: pd.DataFrame, trails: Trails) -> Html:
    rows = []
    for r in comparators.to_dict("records"):
        trails.add(r["record_id"], "record", f"{r['study_id']} / {r['outcome']} / {r['timepoint_text']} (published)")
        published = (f"{r['published_measure'] or ''} {num(r['published_estimate'])} [{num(r['published_ci_lower'])}, "
                     f"{num(r['published_ci_upper'])}]" if _finite(r["published_estimate"]) else "no estimate")
        details = ", ".join(text for text, shown in ((f"unit {r['unit']}", present(r["unit"])),
                                                     (f"p {r['published_p_value']}", present(r["published_p_value"])),
                                                     (f"N {num(r['published_n'], 0)}", _finite(r["published_n"])))
                            if shown)
        ours = (f"{num(r['our_estimate'])} [{num(r['our_ci_lb'])}, {num(r['our_ci_ub'])}], I² {num(r['our_I2'], 0)}%"
                if _finite(r["our_estimate"]) else "")
        rows.append([Html(f'<b>{esc(r["study_id"])}</b><br><span class="badge">{esc(r["source"])}</span>'),
                     r["comparison"] if present(r["comparison"]) else "none",
                     r["outcome_label"], f"{r['timepoint_text']} → {r['window'] if present(r['window']) else r['assignment']}",
                     Html(f"{esc(published)}<br><span class=\"small\">{esc(details)}</span>"), r["flags"],
                     f"{r['our_measure'] or '–'}; {r['our_method']}, {r['our_test']}; k = {r['our_k']}", ours,
                     r["our_note"], trail_link(r["record_id"])])
    note = Html(f'<p class="published-note">Published meta-analyses: their pooled values are quoted as printed — '
                f'<b>{esc(PUBLISHED)}</b> — and never enter our pooling. Our estimate for the same comparison (the '
                "one whose sides the published contrast's arms are on), outcome, window and measure (main analysis, default estimator and test) is shown beside each; k = 1 means "
                "a single study, not pooled.</p>")
    headers = ["Published meta-analysis", "Comparison", "Outcome", "Timepoint → window", "Published estimate [95% CI]",
               "Flags", "Our measure; method; k", "Our estimate [95% CI]", "Our note", "Trail"]
    return section("comparators", "Published comparators beside our estimates", note,
                   table(headers, rows, "comparators small"))


def _finite(x) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False
