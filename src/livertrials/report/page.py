"""One self-contained HTML report of a run (``results/report/index.html``).

Everything is inline: CSS in a <style> block, figures as base64 data URIs in <img> tags
(an SVG loaded through <img> cannot run scripts), no JavaScript and no external resource,
so the page can be mailed or archived as one file. Every string that comes from an
extraction (titles, labels, quotes, citations, notes, flags, study ids) goes through
``esc`` (html.escape): the extractions are untrusted text and must stay inert.

Provenance: every forest-plot row, pooled estimate and published record links to a
<details> block holding ``livertrials.cli.trail()`` for its id. Where an id has no lineage
yet, the block says so and links to the ids it was made from (comparison -> records).
"""

from __future__ import annotations

import base64
import html
import json
import math
import sys
from importlib import metadata
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from livertrials.io.atomic import write_text
from livertrials.lineage.trails import Auditor, NoLineageError
from livertrials.figures.files import palette_png
from livertrials.figures.forest import RATIO, pooled_key, synthesis_settings
from livertrials.io.tables import read_table

PUBLISHED_BADGE = "published, not recomputed"
NO_LINEAGE = ("no such id", "No lineage")


class Html(str):
    """A string that is already HTML (built here from escaped parts): ``cell`` does not escape it again."""


def esc(value) -> str:
    """Text for HTML: escaped, lists joined, nulls empty. The one door for data into the page."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (list, tuple, np.ndarray)):
        return "; ".join(esc(v) for v in value)
    return html.escape(str(value), quote=True)


def cell(value) -> str:
    return value if isinstance(value, Html) else esc(value)


def num(x, digits: int = 2) -> str:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return ""
    return "" if not math.isfinite(x) else f"{x:.{digits}f}"


def table(headers: list[str], rows: list[list], cls: str = "", row_ids: list[str] | None = None) -> Html:
    """A <table>; headers are our own words, cells are escaped unless they are Html."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for i, r in enumerate(rows):
        rid = f' id="{esc(row_ids[i])}"' if row_ids and row_ids[i] else ""
        body.append(f"<tr{rid}>" + "".join(f"<td>{cell(c)}</td>" for c in r) + "</tr>")
    if not rows:
        body.append(f'<tr><td colspan="{len(headers)}" class="none">none</td></tr>')
    return Html(f'<div class="scroll"><table class="{esc(cls)}"><thead><tr>{head}</tr></thead>'
                f'<tbody>{"".join(body)}</tbody></table></div>')


def section(anchor: str, title: str, *parts: str) -> Html:
    """A <section>; ``parts`` are HTML made here (data inside them already went through esc)."""
    return Html(f'<section id="{esc(anchor)}"><h2>{esc(title)}</h2>{"".join(parts)}</section>')


def para(text: str, cls: str = "") -> Html:
    return Html(f'<p class="{esc(cls)}">{esc(text)}</p>')


# --------------------------------------------------------------------------------------
# Provenance links
# --------------------------------------------------------------------------------------

def trail_anchor(ident: str) -> str:
    return "trail-" + str(ident)


def trail_link(ident: str, text: str = "trail") -> Html:
    if not ident:
        return Html("")
    return Html(f'<a class="trail" href="#{esc(quote(trail_anchor(ident), safe=""))}">{esc(text)}</a>')


class Trails:
    """Ids that need an audit-trail block: what they are, which ids they were made from, how much they matter.

    A pooled estimate over hundreds of studies has a trail of thousands of lines, so the page holds
    at most ``budget`` lines of trail text: trails are embedded most important first (priority 0:
    the forest-plot diamonds, 1: forest-plot rows, 2: other pooled rows, 3: published and MELD
    records, 4: records behind a comparison without lineage) until the budget is spent. The others
    get a block saying how to print them.
    """

    def __init__(self, budget: int):
        self.items: dict[str, dict] = {}
        self.budget = budget
        self.used = 0

    def add(self, ident: str, kind: str, title: str, made_from: list[str] = (), call: bool = True,
            priority: int = 3) -> None:
        if not ident:
            return
        if ident in self.items:                       # seen again from somewhere more important
            self.items[ident]["priority"] = min(priority, self.items[ident]["priority"])
            return
        self.items[ident] = {"kind": kind, "title": title, "made_from": list(made_from), "call": call,
                             "priority": priority}

    def _embed(self, results: Path, ids: list[str]) -> dict[str, list[str]]:
        """Trails of ``ids``, most important first, while the budget lasts (a trail that would overrun it is left out)."""
        texts = {}
        for ident in sorted(ids, key=lambda i: self.items[i]["priority"]):     # stable: first added first
            if self.used >= self.budget:
                break
            lines = _run_trails(results, [ident], max_lines=self.budget - self.used)[0]
            if lines is not None and self.used + len(lines) <= self.budget:
                texts[ident] = lines
                self.used += len(lines)
        return texts

    def render(self, results: Path, record_title) -> Html:
        """Call trail() for the ids within the limit; a comparison without lineage gets its records' trails too."""
        order = {"pooled": 0, "comparison": 1, "record": 2}
        texts = self._embed(results, [i for i, item in self.items.items() if item["call"] and item["kind"] != "record"])
        for ident in list(texts):
            if self.items[ident]["kind"] == "comparison" and _missing(texts[ident]):
                for rid in self.items[ident]["made_from"]:
                    self.add(rid, "record", record_title(rid), priority=4)
        texts.update(self._embed(results, [i for i, item in self.items.items() if item["kind"] == "record"]))
        skipped = f"not embedded: this page holds at most {self.budget} lines of audit trails (report.audit_trail_budget), " \
                  f"more important ones first. Print it with: livertrials audit {{}} --results {results}"
        blocks = []
        # grouped by kind, then by what the id is (outcome / window / ...), so a reader can also browse them
        for ident in sorted(self.items, key=lambda i: (order.get(self.items[i]["kind"], 9), self.items[i]["title"], i)):
            item = self.items[ident]
            if ident in texts:
                lines = texts[ident]
            elif item["call"]:
                lines = [skipped.format(ident)]
            else:
                lines = [f"{ident}: pooled.parquet has no pooled_id column yet, so pooled rows have no lineage of "
                         "their own; the comparisons pooled are linked below."]
            made = ""
            if not item["call"] or (ident in texts and _missing(lines)):    # no lineage yet: point to the inputs
                links = " ".join(trail_link(m, m) for m in item["made_from"] if m in self.items)
                made = f'<p class="made">Made from: {links}</p>' if links else ""
            blocks.append(f'<details id="{esc(trail_anchor(ident))}" class="trail {esc(item["kind"])}">'
                          f'<summary>{esc(item["kind"])} <code>{esc(ident)}</code>: {esc(item["title"])}</summary>'
                          f'<pre>{esc(chr(10).join(lines))}</pre>{made}</details>')
        wanted = sum(item["call"] for item in self.items.values())
        summary = para(f"{len(texts)} of {wanted} audit trails embedded; the others name the command that prints them.")
        return Html(summary + "".join(blocks))


def _missing(lines: list[str]) -> bool:
    """True if trail() found no lineage for the id (its first line says so)."""
    return not lines or any(m in lines[0] for m in NO_LINEAGE)


_AUDITORS: dict[Path, Auditor] = {}


def _run_trails(results: Path, ids: list[str], max_lines: int | None = None) -> list[list[str] | None]:
    """The audit trail of every id (None: longer than max_lines), from tables loaded once per results folder."""
    if not ids:
        return []   # loading the tables is the cost: not for nothing
    auditor = _AUDITORS.get(Path(results))
    if auditor is None:
        auditor = _AUDITORS[Path(results)] = Auditor(results)

    def one(ident):
        try:
            return auditor.trail(ident, max_lines)
        except NoLineageError as error:   # the message as the trail's one line: _missing recognises it
            return [str(error)]

    return [one(ident) for ident in ids]


# --------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------

def image(path: Path, alt: str, cls: str = "figure") -> Html:
    """An <img> with the file inlined as a data URI (PNG re-encoded with a small palette to keep the page light)."""
    path = Path(path)
    if not path.exists():
        return para(f"missing figure: {path.name}", "warn")
    if path.suffix == ".svg":
        data, mime = path.read_bytes(), "image/svg+xml"
    else:
        data, mime = palette_png(path.read_bytes()), "image/png"   # figures are written so already
    encoded = base64.b64encode(data).decode("ascii")
    return Html(f'<img class="{esc(cls)}" alt="{esc(alt)}" src="data:{mime};base64,{encoded}">')


def _figure_file(files: dict, directory: Path) -> Path | None:
    for fmt in ("png", "svg"):
        if fmt in files:
            return directory / files[fmt]
    return None


# --------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------

def _flatten(prefix: str, value) -> list[tuple[str, str]]:
    if isinstance(value, dict):
        return [kv for k, v in value.items() for kv in _flatten(f"{prefix}.{k}" if prefix else str(k), v)]
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return [(prefix, "; ".join(json.dumps(v, sort_keys=False) for v in value))]
    if isinstance(value, list):
        return [(prefix, ", ".join(str(v) for v in value) or "(none)")]
    return [(prefix, "null" if value is None else str(value))]


def _window_text(w: dict) -> str:
    end = "" if w["to_days"] is None else f"{w['to_days']:.10g}"
    return f"{w['label']} (days {w['from_days']:.10g}-{end})"


def _key_settings(settings: dict, manifest: dict) -> list[tuple[str, str]]:
    windows = "; ".join(_window_text(w) for w in settings.get("windows", []))
    return [("analysis windows", windows),
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


def settings_section(config: dict, settings: dict, manifest: dict) -> Html:
    versions = []
    for package in ("livertrials", "snakemake", "pandas", "numpy", "scipy", "matplotlib", "pyarrow"):
        try:
            versions.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            pass
    versions.append(f"Python {sys.version.split()[0]}")
    key = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in _key_settings(settings, manifest))
    return section("settings", "Run settings", f"<dl>{key}</dl>",
                   "<details><summary>Full configuration (as run)</summary>",
                   table(["key", "value"], _flatten("", config), "kv small"), "</details>",
                   "<details><summary>Effective synthesis settings (stored in pooled.parquet)</summary>",
                   table(["key", "value"], _flatten("synthesis", settings), "kv small"), "</details>",
                   para("Software: " + "; ".join(versions), "small"))


def _arms_text(arms: pd.DataFrame) -> str:
    out = []
    for a in arms.to_dict("records"):
        n = a["n_analysed"] if pd.notna(a["n_analysed"]) else a["n_randomized"]
        bits = [a["arm_role"], f"n={n:.0f}" if pd.notna(n) else "n not stated"]
        bits += [a[k] for k in ("cell_source", "cell_type", "route") if pd.notna(a[k]) and a[k] not in ("none", "")]
        out.append(f"{a['arm_label']} ({', '.join(str(b) for b in bits)})")
    return "\n".join(out)


def _study_row(study: str, group: pd.DataFrame) -> list:
    first = group.iloc[0]
    randomized = {True: "yes", False: "no"}.get(first["randomized"], "not stated")
    flags = list(dict.fromkeys(f for fl in group["study_flags"] for f in fl))
    # long flag texts would make every row a page tall: they fold away behind their count
    folded = (Html(f'<details><summary>{len(flags)} flag{"s" if len(flags) != 1 else ""}: '
                   f'{esc(", ".join(dict.fromkeys(str(f).split(":")[0] for f in flags)))}</summary>'
                   + "".join(f"<p>{esc(f)}</p>" for f in flags) + "</details>") if flags else "")
    where = ", ".join(str(x) for x in (first["condition"], first["country"]) if _present(x))
    kind = Html(f"{esc(first['kind'])}<br><span class=\"small\">{esc(first['design'])}</span>")
    return [Html(f"<b>{esc(study)}</b>"), kind, randomized, where, Html(f'<span class="pre">{esc(_arms_text(group))}</span>'),
            Html(f'<span class="small">{esc(first["citation"])}<br>{esc(first["doi_or_pmid"])}</span>'), folded]


def characteristics_section(chars: pd.DataFrame) -> Html:
    headers = ["Study", "Kind and design", "Randomized", "Condition, country", "Arms (role, n, cells, route)",
               "Citation", "Study flags"]
    parts = [para("Studies excluded by validation are absent here and listed under Validation.")]
    for collection, title in (("studies", "Studies (pooled)"),
                              ("comparators", "Published meta-analyses and trial lists (never pooled)")):
        mine = chars[chars["collection"] == collection]
        groups = list(mine.groupby("study_id", sort=True))
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


def _forest_settings(entry: dict) -> list[tuple[str, str]]:
    measure = entry["measure"] + (" (ratio; drawn on a log axis)" if entry["measure"] in RATIO else "")
    method = entry["method"] if entry["method"] == entry["method_used"] else \
        f"{entry['method']} (fell back to {entry['method_used']})"
    return [("window", entry["window"]), ("design", entry["design"]), ("basis", entry["basis"]),
            ("measure", f"{measure}; scale: {entry['scale']}" + (f"; unit {entry['unit']}" if entry.get("unit") else "")),
            ("method", f"{method}, test {entry['test']}, level {entry['level']}, prediction interval "
                       f"{entry['prediction_interval']}"),
            ("k", str(entry["k"]) + ("" if entry["pooled"] else " (not pooled)")),
            ("exclusions", "none: main analysis, every used study effect (exclusion-based sensitivity analyses "
                           "are in the pooled-results table)"),
            ("MELD variant", entry.get("meld_variant") or "not applicable"),
            ("pre-post correlation", num(entry.get("pre_post_correlation"), 2) or "not applicable"),
            ("funnel plot", "drawn (below)" if entry["funnel"] else _short_reason(entry))]


def _short_reason(entry: dict) -> str:
    if entry["kind"] != "main":
        return "not for subgroup or across-window plots (see the main analysis)"
    return f"not drawn: k = {entry['k']}, fewer than the {entry.get('funnel_min_k', 10)} studies needed" \
        if entry["funnel_reason"] else "not drawn"


def _not_used(entry: dict, comparisons: pd.DataFrame) -> list[str]:
    """Study effects of this outcome, window and measure that are not in the plot, with the reason."""
    same = comparisons[(comparisons["outcome"] == entry["outcome"]) & (comparisons["measure"] == entry["measure"])
                       & (comparisons["design"] == entry["design"]) & ~comparisons["used"]]
    if entry["kind"] != "across_windows":
        same = same[same["window"] == entry["window"]]
    return [f"{r['study_id']} ({r['timepoint_text']}, {r['comparison']}): {r['not_used_reason']}"
            for r in same.to_dict("records")]


def forest_figure(entry: dict, forest_dir: Path, comparisons: pd.DataFrame) -> Html:
    image_file = _figure_file(entry["files"], forest_dir)
    settings = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in _forest_settings(entry))
    excluded = _not_used(entry, comparisons)
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
    funnel = image(_figure_file(entry["funnel"], forest_dir), f"funnel plot: {entry['title']}") if entry["funnel"] else ""
    # the figure carries its own title, subtitle and method line: the HTML adds settings, exclusions and links
    return Html(f'<figure class="forest" id="{esc("forest-" + entry["id"])}">'
                f'<h4>{esc(entry["title"])} — {esc(entry["measure"])}'
                f'{" — " + esc(entry["kind"].replace("_", " ")) if entry["kind"] != "main" else ""}</h4>'
                + image(image_file, f"forest plot: {entry['title']}, {entry['measure']}")
                + f'<div class="cols"><div><h5>Settings</h5><dl>{settings}</dl>'
                f'<h5>Not in this plot</h5>{exclusions}</div>'
                f'<div><h5>Rows and audit trails</h5>'
                + table(["Block", "Study", "Timepoint", "Effect [95% CI]", "Weight", "Trail"], rows, "small")
                + f'</div></div>{funnel}</figure>')


def forests_section(manifest: dict, forest_dir: Path, comparisons: pd.DataFrame, trails: Trails) -> Html:
    entries = manifest.get("forests", [])
    by_id = comparisons.set_index("comparison_id")
    for e in entries:
        for r in e["rows"]:
            c = by_id.loc[r["comparison_id"]]
            trails.add(r["comparison_id"], "comparison",
                       f"{c['study_id']} / {c['outcome']} / {c['measure']} / {c['window']} ({c['comparison']})",
                       list(c["record_ids"]), priority=1)
    parts = [para(f"{len(entries)} forest plots: {sum(e['kind'] == 'main' for e in entries)} main analyses, "
                  f"{sum(e['kind'] == 'subgroup' for e in entries)} subgroup forests, "
                  f"{sum(e['kind'] == 'across_windows' for e in entries)} mortality/survival forests across windows. "
                  f"k = 1 plots show the study alone (not pooled). "
                  f"{sum(e['funnel'] is not None for e in entries)} funnel plots drawn.")]
    without = [e for e in entries if e["funnel_reason"]]
    if without:
        parts.append(para(f"Funnel plots: {len(without)} of {sum(e['kind'] == 'main' for e in entries)} main analyses "
                          f"have fewer than {without[0]['funnel_min_k']} studies (largest k here: "
                          f"{max(e['k'] for e in entries)}), too few to judge small-study effects or publication bias "
                          "(Cochrane Handbook, chapter 13: funnel plots and asymmetry tests need at least 10 studies); "
                          "no funnel plot is drawn for them.", "note"))
    outcomes: dict[str, list[dict]] = {}
    for e in entries:
        outcomes.setdefault(e["outcome_label"], []).append(e)
    toc = "".join(f'<li><a href="#{esc(quote("forest-" + e["id"], safe=""))}">{esc(label)}: {esc(e["window"])}, '
                  f'{esc(e["measure"])}{" (" + esc(e["kind"].replace("_", " ")) + ")" if e["kind"] != "main" else ""}'
                  f"</a></li>" for label, group in outcomes.items() for e in group)
    parts.append(f'<details class="toc"><summary>List of forest plots</summary><ul class="cols3">{toc}</ul></details>')
    for label, group in outcomes.items():
        parts.append(f"<h3>{esc(label)}</h3>")
        parts += [forest_figure(e, forest_dir, comparisons) for e in group]
    return section("forests", "Forest plots", *parts)


def _on_scale(r: dict, name: str) -> float:
    """A pooled value on the reader's scale: ratio_* (exp) for RR, OR and HR."""
    return r[f"ratio_{name}"] if r["measure"] in RATIO else r[name]


def _estimate_text(r: dict) -> str:
    return f"{num(_on_scale(r, 'estimate'))} [{num(_on_scale(r, 'ci_lb'))}, {num(_on_scale(r, 'ci_ub'))}]"


def _pi_text(r: dict) -> str:
    low, high = num(_on_scale(r, "pi_lb")), num(_on_scale(r, "pi_ub"))
    return f"[{low}, {high}]" if low else ""


def _studies_text(ids, most: int = 12) -> Html:
    shown = "<br>".join(esc(x) for x in list(ids)[:most])
    return Html(shown + (f"<br>… and {len(ids) - most} more" if len(ids) > most else ""))


def _pooled_row(r: dict, key: str, what: str) -> list:
    het = "" if not r["pooled"] else f"{num(r['Q'])} ({r['Q_df']}), p = {num(r['Q_p'], 3)}"
    method = r["method"] if r["method_used"] == r["method"] else f"{r['method']}→{r['method_used']}"
    design = f"{r['design']}; {r['basis']}" + (f"; MELD {r['meld_variant']}" if _present(r["meld_variant"]) else "")
    return [r["outcome_label"], r["window"], Html(f"<b>{esc(r['measure'])}</b><br><span class=\"small\">{esc(design)}</span>"),
            what, f"{method}, {r['test']}", f"{r['k']}" + ("" if r["pooled"] else " (not pooled)"),
            _estimate_text(r), _pi_text(r), num(r["tau2"], 3), num(r["I2"], 1), het, _studies_text(r["study_ids"]),
            "; ".join(w for w in r["warnings"] if not w.startswith("k=1")), trail_link(key)]


def pooled_section(pooled: pd.DataFrame, trails: Trails, forest_keys: set[str]) -> Html:
    has_ids = "pooled_id" in pooled.columns
    tables = {"main": ([], []), "leave_one_out": ([], [])}
    for r in pooled.to_dict("records"):
        key = pooled_key(r)
        what = r["analysis_name"]
        if _present(r.get("subgroup_level")):
            what = f"{what} = {r['subgroup_level']}"
        if _present(r.get("omitted_study_id")):
            what = f"{what}: without {r['omitted_study_id']}"
        trails.add(key, "pooled", f"{r['outcome']} / {r['window']} / {r['measure']} / {what} / {r['method']}, {r['test']}",
                   list(r["comparison_ids"]), call=has_ids, priority=0 if key in forest_keys else 2)
        rows, ids = tables["leave_one_out" if r["analysis"] == "leave_one_out" else "main"]
        rows.append(_pooled_row(r, key, what))
        ids.append(f"pooled-row-{key}")
    note = para("Every pooled row of results/synthesis/pooled.parquet: main analysis with every configured estimator "
                "and test, subgroups and sensitivity analyses (leave-one-out rows below). RR, OR and HR on the ratio "
                "scale; other measures on their own scale.")
    headers = ["Outcome", "Window", "Measure (design; basis)", "Analysis", "Method, test", "k", "Estimate [95% CI]",
               "95% PI", "τ²", "I² %", "Q (df), p", "Studies", "Warnings", "Trail"]
    (main_rows, main_ids), (loo_rows, loo_ids) = tables["main"], tables["leave_one_out"]
    return section("pooled", "Pooled results", note, table(headers, main_rows, "pooled small", main_ids),
                   f"<details><summary>Leave-one-out: {len(loo_rows)} rows</summary>",
                   table(headers, loo_rows, "pooled small", loo_ids), "</details>")


def _present(x) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x)) and str(x) != ""


def comparators_section(comparators: pd.DataFrame, trails: Trails) -> Html:
    rows = []
    for r in comparators.to_dict("records"):
        trails.add(r["record_id"], "record", f"{r['study_id']} / {r['outcome']} / {r['timepoint_text']} (published)")
        published = (f"{r['published_measure'] or ''} {num(r['published_estimate'])} [{num(r['published_ci_lower'])}, "
                     f"{num(r['published_ci_upper'])}]" if _finite(r["published_estimate"]) else "no estimate")
        details = ", ".join(text for text, shown in ((f"unit {r['unit']}", _present(r["unit"])),
                                                     (f"p {r['published_p_value']}", _present(r["published_p_value"])),
                                                     (f"N {num(r['published_n'], 0)}", _finite(r["published_n"])))
                            if shown)
        ours = (f"{num(r['our_estimate'])} [{num(r['our_ci_lb'])}, {num(r['our_ci_ub'])}], I² {num(r['our_I2'], 0)}%"
                if _finite(r["our_estimate"]) else "")
        rows.append([Html(f'<b>{esc(r["study_id"])}</b><br><span class="badge">{esc(r["source"])}</span>'),
                     r["outcome_label"], f"{r['timepoint_text']} → {r['window'] if _present(r['window']) else r['assignment']}",
                     Html(f"{esc(published)}<br><span class=\"small\">{esc(details)}</span>"), r["flags"],
                     f"{r['our_measure'] or '–'}; {r['our_method']}, {r['our_test']}; k = {r['our_k']}", ours,
                     r["our_note"], trail_link(r["record_id"])])
    note = Html(f'<p class="published-note">Published meta-analyses: their pooled values are quoted as printed — '
                f'<b>{esc(PUBLISHED_BADGE)}</b> — and never enter our pooling. Our estimate for the same outcome, '
                "window and measure (main analysis, default estimator and test) is shown beside each; k = 1 means "
                "a single study, not pooled.</p>")
    headers = ["Published meta-analysis", "Outcome", "Timepoint → window", "Published estimate [95% CI]",
               "Flags", "Our measure; method; k", "Our estimate [95% CI]", "Our note", "Trail"]
    return section("comparators", "Published comparators beside our estimates", note,
                   table(headers, rows, "comparators small"))


def _first(items: list[str], most: int) -> str:
    return "; ".join(items[:most]) + (f"; … and {len(items) - most} more" if len(items) > most else "")


def _finite(x) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


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
        sd = f" ({num(m['sd'])})" if _present(m["sd"]) and math.isfinite(m["sd"]) else ""
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
    grouped = (unused.groupby(["study_id", "outcome", "comparison", "timepoint_text", "not_used_reason"], dropna=False)
               ["measure"].apply(lambda m: ", ".join(sorted(set(m)))).reset_index())
    unused_rows = [[r["study_id"], r["outcome"], r["comparison"], r["timepoint_text"], r["measure"], r["not_used_reason"]]
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


# --------------------------------------------------------------------------------------
# Page
# --------------------------------------------------------------------------------------

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#222;margin:0;background:#fafafa;line-height:1.45}
main{max-width:1240px;margin:0 auto;padding:0 24px 48px;background:#fff}
header{padding:24px 0 8px;border-bottom:3px solid #0072B2}
h1{font-size:1.6em;margin:0 0 6px}h2{border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:40px}
h3{margin-top:28px;color:#0b4f7c}h4{margin:0 0 2px}h5{margin:8px 0 4px}
nav ul{columns:3;padding-left:18px;margin:8px 0}
.summary{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0}
.summary div{background:#eef5fb;border:1px solid #cfe3f3;border-radius:6px;padding:6px 12px}
.scroll{overflow-x:auto;margin:8px 0}
table{border-collapse:collapse;font-size:13px;width:100%}
th,td{border:1px solid #ddd;padding:3px 6px;vertical-align:top;text-align:left}
th{background:#f0f0f0;position:sticky;top:0}
tr:nth-child(even) td{background:#fbfbfb}
table.small{font-size:12px}
table.kv td:first-child{font-family:ui-monospace,monospace;white-space:nowrap}
table.studies{table-layout:fixed}
table.studies th:nth-child(1){width:11%}table.studies th:nth-child(2){width:12%}
table.studies th:nth-child(3){width:7%}table.studies th:nth-child(4){width:10%}
table.studies th:nth-child(5){width:23%}table.studies th:nth-child(6){width:23%}
td{overflow-wrap:break-word}
table.pooled{table-layout:fixed}
table.pooled th:nth-child(1){width:9%}table.pooled th:nth-child(2){width:6%}table.pooled th:nth-child(3){width:9%}table.pooled th:nth-child(4){width:11%}table.pooled th:nth-child(5){width:6%}
table.pooled th:nth-child(6){width:5%}table.pooled th:nth-child(7){width:11%}table.pooled th:nth-child(8){width:9%}table.pooled th:nth-child(9){width:4%}table.pooled th:nth-child(10){width:4%}
table.pooled th:nth-child(11){width:7%}table.pooled th:nth-child(12){width:9%}table.pooled th:nth-child(13){width:7%}table.pooled th:nth-child(14){width:3%}
.pre{white-space:pre-line}
td.none{color:#777;font-style:italic}
figure{margin:24px 0;padding:12px;border:1px solid #e3e3e3;border-radius:6px}
figure.forest{background:#fff}
img.figure{max-width:100%;height:auto;display:block;margin:8px 0}
.cols{display:grid;grid-template-columns:minmax(260px,1fr) 2fr;gap:16px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 10px;margin:0;font-size:13px}
dt{font-weight:600;color:#555}dd{margin:0}
.subtitle,.small,.caption{color:#555;font-size:13px}
.note{background:#fff8e5;border-left:4px solid #E69F00;padding:6px 10px}
.ok{background:#e9f6ef;border-left:4px solid #009E73;padding:6px 10px}
.warn{background:#fdecea;border-left:4px solid #D55E00;padding:6px 10px}
.published-note{background:#f3e9f1;border-left:4px solid #CC79A7;padding:6px 10px}
.badge{display:inline-block;background:#CC79A7;color:#fff;border-radius:3px;padding:0 5px;font-size:11px;white-space:nowrap}
table.comparators td:nth-child(-n+5){background:#fbf4f9}
a.trail{font-size:12px;white-space:nowrap}
details.trail{border:1px solid #ddd;border-radius:4px;margin:4px 0;padding:2px 8px;background:#fff}
details.trail summary{cursor:pointer;font-size:13px}
details.trail pre{white-space:pre-wrap;font-size:12px;background:#f6f6f6;padding:6px;overflow-x:auto}
details:target,tr:target td{outline:2px solid #0072B2;background:#eef5fb}
.made{font-size:12px}
ul.cols3{columns:3;font-size:13px}
code{font-size:12px}
"""

SECTIONS = [("settings", "Run settings"), ("studies", "Study characteristics"), ("figures", "Evidence map and arm means"),
            ("forests", "Forest plots"), ("pooled", "Pooled results"), ("comparators", "Published comparators"),
            ("meld", "MELD reported vs at mean labs"), ("flags", "Flags and exclusions"), ("validation", "Validation"),
            ("provenance", "Audit trails")]


def build_report(results: Path, manifest_path: Path, figure_files: list[Path], config: dict, out: Path,
                 title: str = "Cell therapy in liver cirrhosis and ACLF: evidence synthesis",
                 audit_trail_budget: int = 20_000) -> str:
    """Write the HTML report; returns the page.

    audit_trail_budget: lines of audit-trail text the page may hold (see Trails).
    """
    results = Path(results)
    manifest = json.loads(Path(manifest_path).read_text(encoding="utf-8"))
    forest_dir = Path(manifest_path).parent / manifest.get("directory", ".")   # figure files are relative to it
    harmonized = read_table(results / "harmonized" / "outcomes.parquet")
    chars = read_table(results / "harmonized" / "study_characteristics.parquet")
    comparisons = read_table(results / "synthesis" / "comparisons.parquet")
    windows = read_table(results / "synthesis" / "windows.parquet")
    pooled = read_table(results / "synthesis" / "pooled.parquet")
    comparators = read_table(results / "synthesis" / "comparators.parquet")
    issues = read_table(results / "validation" / "issues.parquet")
    summary_file = results / "validation" / "summary.json"
    summary = json.loads(summary_file.read_text(encoding="utf-8")) if summary_file.exists() else {}
    settings = synthesis_settings(results / "synthesis" / "pooled.parquet")
    excluded = set(issues.loc[issues["severity"] == "error", "study"]) | set(summary.get("rejected_studies", {}))

    trails = Trails(audit_trail_budget)
    forest_keys = {s["pooled_key"] for e in manifest.get("forests", []) for s in e["summaries"]}
    body = [settings_section(config, settings, manifest), characteristics_section(chars),
            figures_section(figure_files), forests_section(manifest, forest_dir, comparisons, trails),
            pooled_section(pooled, trails, forest_keys), comparators_section(comparators, trails),
            meld_section(harmonized, trails),
            flags_section(harmonized, comparisons, windows), validation_section(issues, summary)]
    body.append(section("provenance", "Audit trails",
                        Html("<p><code>livertrials.cli.trail()</code> for every id linked above (the same text as "
                             "<code>livertrials audit ID</code>). Open a block to read the path from the result down "
                             "to the printed numbers and their verbatim quotes.</p>"),
                        trails.render(results, _record_titles(harmonized))))
    page = _page(title, _summary_boxes(chars, manifest, issues, excluded), body)
    write_text(out, page)
    return page


def _record_titles(harmonized: pd.DataFrame):
    """record_id -> 'study / arm / outcome / timepoint' (a function, for the records found while rendering)."""
    by_id = harmonized.drop_duplicates("record_id").set_index("record_id")

    def title(rid: str) -> str:
        if rid not in by_id.index:
            return "record"
        r = by_id.loc[rid]
        return f"{r['study_id']} / {r['arm_id']} / {r['outcome']} / {r['timepoint_text']}"

    return title


def _summary_boxes(chars, manifest, issues, excluded) -> Html:
    studies = chars[chars["collection"] == "studies"]["study_id"].nunique()
    comparators = chars[chars["collection"] == "comparators"]["study_id"].nunique()
    forests = manifest.get("forests", [])
    pooled_k = sum(e["kind"] == "main" and e["pooled"] for e in forests)
    boxes = [f"{studies} studies", f"{comparators} published comparators", f"{len(forests)} forest plots",
             f"{pooled_k} main {'analysis' if pooled_k == 1 else 'analyses'} pooled (k ≥ 2)", f"{len(excluded)} excluded by validation",
             f"{int((issues['severity'] == 'warning').sum())} validation warnings"]
    return Html('<div class="summary">' + "".join(f"<div>{esc(b)}</div>" for b in boxes) + "</div>")


def _page(title: str, summary: str, body: list[str]) -> str:
    nav = "".join(f'<li><a href="#{a}">{esc(t)}</a></li>' for a, t in SECTIONS)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body><main>"
            f"<header><h1>{esc(title)}</h1>{summary}<nav><ul>{nav}</ul></nav></header>"
            + "".join(body) + "</main></body></html>\n")
