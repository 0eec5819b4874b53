"""One self-contained HTML report of a run (``results/report/index.html``): the page and its summary.

The first screen answers the question: the title, a one-paragraph overview from the data, then the summary of
findings (one table per comparison, GRADE certainty), the evidence gaps and the risk of bias; the machinery
(studies, figures, forests, pooled rows, validation, run settings, audit trails) follows.

Everything is inline: CSS in a <style> block, figures as base64 data URIs in <img> tags
(an SVG loaded through <img> cannot run scripts), no JavaScript and no external resource,
so the page can be mailed or archived as one file. Data enters the page only through
``html.esc`` (the extractions are untrusted text). The parts: ``html`` (building blocks, style),
``sections`` and ``results_sections`` (one function per section), ``trails`` (audit trails).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from urllib.parse import quote

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from livertrials.figures.forest_specs import synthesis_settings
from livertrials.io.atomic import write_text
from livertrials.io.cache import ContentCache
from livertrials.io.tables import read_table
from livertrials.lineage.run_info import package_source_digest
from livertrials.report.comparisons_section import anything_pooled, comparisons_section, nothing_to_pool
from livertrials.report.diagnostics import diagnostics_section
from livertrials.report.digests import parquet_digest
from livertrials.report.findings_sections import gaps_section, overview, rob_section, sof_section
from livertrials.report.forest_figures import forest_figures
from livertrials.report.html import CSS, Html, esc, section
from livertrials.report.qa_sections import extraction_checks_section
from livertrials.report.results_sections import comparators_section, forest_pages, forests_parts, pooled_section
from livertrials.report.sections import (
    characteristics_section,
    figures_section,
    flags_section,
    meld_section,
    settings_section,
    validation_section,
)
from livertrials.report.trails import Trails
from livertrials.synthesis.sof_tables import EVIDENCE_GAPS, SOF_TABLE, GradeSettings
from livertrials.validate.risk_of_bias import RISK_OF_BIAS_TABLE

SECTIONS = [("sof", "Summary of findings"), ("gaps", "Evidence gaps"), ("rob", "Risk of bias"),
            ("comparisons", "Comparisons"), ("studies", "Study characteristics"),
            ("figures", "Evidence map and arm means"), ("forests", "Forest plots"), ("pooled", "Pooled results"),
            ("diagnostics", "Subgroup and small-study tests"), ("comparators", "Published comparators"),
            ("meld", "MELD reported vs at mean labs"), ("flags", "Flags and exclusions"), ("validation", "Validation"),
            ("extraction-checks", "Extraction checks"), ("settings", "Run settings"),
            ("provenance", "Audit trails")]
PAGE_LIMIT_BYTES = 20_000_000   # a larger page is slow to open and to mail: its forest plots then get pages of their own
FOREST_PAGES = "forests"        # the folder of those pages, beside the report
COMPARISON_COLUMNS = ["comparison_id", "study_id", "outcome", "comparison", "design", "contrast", "measure",
                      "timepoint_text", "window", "used", "not_used_reason", "record_ids"]


# the harmonized records' columns the page reads (MELD section, flags, record titles): 12 of 45
HARMONIZED_COLUMNS = ["record_id", "study_id", "arm_id", "arm_label", "outcome", "timepoint_text", "mean", "sd", "n",
                      "meld_variant", "flags", "collection"]
POOLED_UNUSED = ("weights", "record_ids")   # lists the page never shows (most of pooled.parquet's bytes)
# the columns each cached section reads of a table (its key is their stored bytes: digests.parquet_digest)
OVERVIEW_READS = {"chars": ["collection", "study_id", "randomized", "arm_role", "n_analysed", "n_randomized"],
                  "comparisons": ["design", "comparison", "study_id"], "sof": ["comparison", "k", "critical", "certainty"],
                  "rob": ["domain", "assessed", "study_id", "judgement"]}
COMPARISONS_READS = {"chars": ["collection", "study_id"], "comparisons": ["comparison", "design", "study_id"],
                     "pooled": ["pooled", "analysis", "comparison", "k"], "unmatched": None}
FLAGS_READS = {"harmonized": ["collection", "study_id", "flags"], "windows": None,
               "comparisons": ["used", "study_id", "outcome", "comparison", "contrast", "timepoint_text",
                               "not_used_reason", "measure"]}


def _read(path: Path, columns: list[str] | None = None, leave_out: tuple[str, ...] = (),
          lists_in_arrow: bool = False) -> pd.DataFrame:
    """The table's ``columns`` (those it has; default all but ``leave_out``); with ``lists_in_arrow`` its list columns
    stay Arrow arrays (pd.ArrowDtype: a cell becomes a Python list when it is read, not all of them now)."""
    names = pq.read_schema(path).names
    wanted = [c for c in names if (columns is None or c in columns) and c not in leave_out]
    table = pq.read_table(path, columns=wanted)
    return table.to_pandas(types_mapper=_arrow_lists if lists_in_arrow else None)


def _arrow_lists(kind: pa.DataType):
    return pd.ArrowDtype(kind) if pa.types.is_list(kind) or pa.types.is_large_list(kind) else None


def _optional_table(path: Path, columns: list[str]) -> pd.DataFrame:
    """A table the page shows if its rule ran (an older results folder may lack it): empty otherwise."""
    return read_table(path) if path.exists() else pd.DataFrame(columns=columns)


def _stored(files: dict[str, Path], reads: dict[str, list[str] | None]) -> list:
    """The stored bytes' digests of the columns a section reads (None: every column), for its cache key."""
    return [[name, parquet_digest(files[name], columns) if files[name].exists() else "absent"]
            for name, columns in reads.items()]


def build_report(results: Path, manifest_path: Path, figure_files: list[Path], config: dict, out: Path,
                 title: str, audit_trail_budget: int, risk_of_bias_manifest: Path | None = None,
                 cache_dir: str | Path | None = None) -> str:
    """Write the HTML report; returns the page. A page over PAGE_LIMIT_BYTES has its forest plots on pages of their
    own, one per comparison and outcome, in the folder FOREST_PAGES beside ``out`` (always made, empty otherwise).

    title, audit_trail_budget: config["report"] (defaults in config.schema.yaml); the budget is the lines of
    audit-trail text the page may hold (see Trails). risk_of_bias_manifest: the index.json of rule
    risk_of_bias_figures (default results/risk_of_bias/index.json, if it exists). cache_dir: config cache_dir (the
    costly fragments are reused while their inputs are unchanged; None or "": no cache); the page is the same.
    """
    cache = ContentCache(cache_dir or None, "report", package_source_digest())
    results, out = Path(results), Path(out)
    files = {"sof": results / "synthesis" / "summary_of_findings.parquet",
             "gaps": results / "synthesis" / "evidence_gaps.parquet",
             "rob": results / "harmonized" / "risk_of_bias.parquet",
             "harmonized": results / "harmonized" / "outcomes.parquet",
             "chars": results / "harmonized" / "study_characteristics.parquet",
             "comparisons": results / "synthesis" / "comparisons.parquet",
             "windows": results / "synthesis" / "windows.parquet",
             "pooled": results / "synthesis" / "pooled.parquet",
             "unmatched": results / "synthesis" / "unmatched.parquet"}
    manifest = json.loads(Path(manifest_path).read_text(encoding="utf-8"))
    forest_dir = Path(manifest_path).parent / manifest.get("directory", ".")   # figure files are relative to it
    rob_manifest_path = Path(risk_of_bias_manifest or results / "risk_of_bias" / "index.json")
    rob_manifest = json.loads(rob_manifest_path.read_text(encoding="utf-8")) if rob_manifest_path.exists() else {}
    rob_dir = rob_manifest_path.parent / rob_manifest.get("directory", ".")
    sof = _optional_table(files["sof"], SOF_TABLE.names)
    gaps = _optional_table(files["gaps"], EVIDENCE_GAPS.names)
    rob = _optional_table(files["rob"], RISK_OF_BIAS_TABLE.names)
    harmonized = _read(files["harmonized"], HARMONIZED_COLUMNS)
    chars = read_table(files["chars"])
    # the study effects: the columns the page shows (49 columns x 130,000 rows at 1,000 studies: 160 MB in pandas),
    # as a DataFrame only for a section not in the cache; the forest plots need their rows and the unpooled ones
    effects = pq.read_table(files["comparisons"], columns=COMPARISON_COLUMNS)
    comparisons = functools.cache(effects.to_pandas)
    in_forests = pa.array(sorted({r["comparison_id"] for e in manifest.get("forests", []) for r in e["rows"]}),
                          pa.string())
    forest_effects = effects.filter(pc.or_(pc.is_in(effects.column("comparison_id"), value_set=in_forests),
                                           pc.fill_null(pc.invert(effects.column("used")), True))).to_pandas()
    windows = functools.cache(lambda: read_table(files["windows"]))
    pooled = _read(files["pooled"], leave_out=POOLED_UNUSED, lists_in_arrow=True)
    comparators = read_table(results / "synthesis" / "comparators.parquet")
    unmatched = read_table(files["unmatched"])
    small_study_file = results / "synthesis" / "small_study_tests.parquet"   # absent in results made before it existed
    small_study = read_table(small_study_file) if small_study_file.exists() else None
    issues = read_table(results / "validation" / "issues.parquet")
    summary_file = results / "validation" / "summary.json"
    summary = json.loads(summary_file.read_text(encoding="utf-8")) if summary_file.exists() else {}
    settings = synthesis_settings(files["pooled"])
    excluded = set(issues.loc[issues["severity"] == "error", "study"]) | set(summary.get("rejected_studies", {}))

    trails = Trails(results, audit_trail_budget, cache)
    forest_keys = {s["pooled_key"] for e in manifest.get("forests", []) for s in e["summaries"]}
    nothing = None if anything_pooled(pooled) else nothing_to_pool(settings, chars, comparisons(), pooled, unmatched)
    figures = forest_figures(manifest.get("forests", []), forest_dir, forest_effects, cache)
    # config grade, validated once (the schema check took 0.2 s)
    grade = cache.fetch(cache.key("grade settings", config.get("grade")) if cache.enabled else "",
                        GradeSettings.from_config, config.get("grade"))

    def forests(pages: dict[str, str] | None = None, with_trails: bool = True):
        return forests_parts(manifest, forest_dir, forest_effects, trails if with_trails else None, settings, nothing,
                             figures, pages, out.name)

    def cached(name: str, build, *inputs):
        """A section that reads only ``inputs`` (stored digests of its columns, or small values)."""
        return Html(cache.fetch(cache.key(name, *inputs) if cache.enabled else "", build))

    def stored(reads: dict[str, list[str] | None]) -> list:
        return _stored(files, reads) if cache.enabled else []

    body = [sof_section(sof, pooled, chars, settings, config, trails, nothing, grade),
            cached("gaps", lambda: gaps_section(gaps, settings, config, grade), stored({"gaps": None}), settings,
                   config),
            rob_section(rob, rob_manifest, rob_dir, settings),
            cached("comparisons", lambda: comparisons_section(settings, chars, comparisons(), pooled, unmatched),
                   stored(COMPARISONS_READS), settings),
            cached("studies", lambda: characteristics_section(chars), stored({"chars": None})),
            figures_section(figure_files), forests()[0],   # body[6]: replaced below if the page is too large
            pooled_section(pooled, trails, forest_keys, settings, nothing),
            diagnostics_section(pooled, small_study, settings), comparators_section(comparators, trails),
            meld_section(harmonized, trails),
            cached("flags", lambda: flags_section(harmonized, comparisons(), windows()), stored(FLAGS_READS)),
            validation_section(issues, summary),
            extraction_checks_section(results, issues, config),
            settings_section(config, settings, manifest, _summary_boxes(chars, manifest, issues, excluded, settings,
                                                                        nothing))]
    body.append(section("provenance", "Audit trails",
                        Html("<p><code>livertrials.cli.trail()</code> for every id linked above (the same text as "
                             "<code>livertrials audit ID</code>). Open a block to read the path from the result down "
                             "to the printed numbers and their verbatim quotes.</p>"),
                        trails.render(_record_titles(harmonized))))
    head = cached("overview", lambda: overview(chars, comparisons(), sof, rob, settings, excluded),
                  stored(OVERVIEW_READS), settings, sorted(excluded))
    paged: dict[str, list[str]] = {}
    if _page_bytes(title, head, body) > PAGE_LIMIT_BYTES and figures:
        body[6], paged = forests(forest_pages(manifest["forests"], settings), with_trails=False)
    page = _page(title, head, body)   # one join of the pieces (the forest section is hundreds of figures)
    _write_forest_pages(out.parent / FOREST_PAGES, title, paged, out.name)
    write_text(out, page)
    cache.prune()
    print(cache.summary())
    return page


def _write_forest_pages(folder: Path, title: str, pages: dict[str, list[str]], index: str) -> None:
    """The forest pages (self-contained, as the report), and no page left from an earlier build."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.html"):
        if stale.name not in pages:
            stale.unlink()
    for name, parts in pages.items():
        back = f'<p><a href="../{esc(quote(index))}#forests">Back to the report</a></p>'
        write_text(folder / name, _page(title, Html(back), [Html(f'<section id="forests">{"".join(parts)}</section>')],
                                        contents=False))


def _record_titles(harmonized: pd.DataFrame):
    """record_id -> 'study / arm / outcome / timepoint' (a function, for the records found while rendering)."""
    by_id = harmonized.drop_duplicates("record_id").set_index("record_id")

    def title(rid: str) -> str:
        if rid not in by_id.index:
            return "record"
        r = by_id.loc[rid]
        return f"{r['study_id']} / {r['arm_id']} / {r['outcome']} / {r['timepoint_text']}"

    return title


def _summary_boxes(chars, manifest, issues, excluded, settings: dict, nothing: str | None) -> Html:
    studies = chars[chars["collection"] == "studies"]["study_id"].nunique()
    comparators = chars[chars["collection"] == "comparators"]["study_id"].nunique()
    forests = manifest.get("forests", [])
    pooled_k = sum(e["kind"] == "main" and e["pooled"] for e in forests)
    declared = len(settings.get("comparisons") or [])
    boxes = [f"{studies} studies", f"{declared} comparison{'' if declared == 1 else 's'}",
             f"{comparators} published comparators", f"{len(forests)} forest plots",
             f"{pooled_k} main {'analysis' if pooled_k == 1 else 'analyses'} pooled (k ≥ 2)", f"{len(excluded)} excluded by validation",
             f"{int((issues['severity'] == 'warning').sum())} validation warnings"]
    warning = f'<p class="warn">{esc(nothing)}</p>' if nothing else ""
    return Html('<div class="summary">' + "".join(f"<div>{esc(b)}</div>" for b in boxes) + "</div>" + warning)


def _page(title: str, summary: str, body: list[str | list[str]], contents: bool = True) -> str:
    """The title, the overview paragraph and a one-line contents, then the sections (the summary of findings first).
    A section may be given as its pieces (a list)."""
    return "".join(_page_parts(title, summary, body, contents))


def _page_bytes(title: str, summary: str, body: list[str | list[str]]) -> int:
    """len(_page(...).encode()), without making the page (an ASCII part's length is its size in UTF-8)."""
    return sum(len(part) if part.isascii() else len(part.encode("utf-8")) for part in _page_parts(title, summary, body))


def _page_parts(title: str, summary: str, body: list[str | list[str]], contents: bool = True) -> list[str]:
    nav = "".join(f'<li><a href="#{a}">{esc(t)}</a></li>' for a, t in SECTIONS) if contents else ""
    return [f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body><main>"
            f"<header><h1>{esc(title)}</h1>{summary}{f'<nav><ul>{nav}</ul></nav>' if contents else ''}</header>",
            *(piece for part in body for piece in ([part] if isinstance(part, str) else part)),
            "</main></body></html>\n"]
