"""The HTML report piece by piece, without a workflow run: small tables built here, a few seconds in all.

Escaping, tables, numbers and empty sections (report.html, report.sections); the audit-trail budget and
ids without lineage (report.trails, on a small lineage table read by the real Auditor); and build_report
on a tiny results folder written with the package's own Arrow schemas. Expected text is derived from
the inputs (or from the Auditor, for trail text), not copied from the report's output.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from livertrials.io.tables import CHARACTERISTICS, HARMONIZED, ISSUES, to_table, write_table
from livertrials.lineage.trails import Auditor, NoLineageError
from livertrials.report.html import Html, esc, num, table
from livertrials.report.page import SECTIONS, build_report
from livertrials.report.sections import characteristics_section, flags_section, validation_section
from livertrials.report.trails import Trails
from livertrials.settings import defaults
from livertrials.synthesis.schemas import COMPARATORS, COMPARISONS, POOLED, UNMATCHED, WINDOWS

SCRIPT = "<script>alert(1)</script>"
SCRIPT_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"   # what html.escape makes of it, written out by hand
IMG = "<img src=x onerror=alert(2)>"
IMG_ESCAPED = "&lt;img src=x onerror=alert(2)&gt;"


def frame(records: list[dict], schema: pa.Schema) -> pd.DataFrame:
    """Rows as the report reads them: through the schema (missing columns null), back from Arrow."""
    return to_table(records, schema).to_pandas()


def block(page: str, ident: str) -> str:
    """The audit-trail <details> block of one id."""
    found = re.search(rf'<details id="trail-{re.escape(ident)}" class="trail [a-z]+">.*?</details>', page, re.S)
    assert found, f"no trail block for {ident}"
    return found.group(0)


# --------------------------------------------------------------------------------------
# HTML building blocks
# --------------------------------------------------------------------------------------

def test_esc_makes_hostile_text_inert_and_blanks_nulls():
    assert esc(SCRIPT) == SCRIPT_ESCAPED
    assert esc('say "hi" & \'bye\'') == "say &quot;hi&quot; &amp; &#x27;bye&#x27;"
    assert esc(["a<b", "c"]) == "a&lt;b; c"                 # lists are joined, each item escaped
    assert esc(None) == "" and esc(float("nan")) == ""
    assert esc(3) == "3"


def test_table_escapes_text_keeps_html_and_sets_row_ids():
    out = table(["Study <x>", "Value"], [[SCRIPT, Html("<b>bold</b>")], [None, 2.5]], "small", ["row-1", ""])
    assert isinstance(out, Html)
    assert "<th>Study &lt;x&gt;</th>" in out                 # headers are escaped too
    rows = re.findall(r"<tr( id=\"[^\"]*\")?>(.*?)</tr>", out.split("<tbody>")[1])
    assert rows == [(' id="row-1"', f"<td>{SCRIPT_ESCAPED}</td><td><b>bold</b></td>"),
                    ("", "<td></td><td>2.5</td>")]          # an empty row id gives no id attribute
    assert "<script" not in out


def test_table_row_ids_are_escaped():
    out = table(["a"], [["x"]], row_ids=['study-"><script>'])
    assert 'id="study-&quot;&gt;&lt;script&gt;"' in out and "<script" not in out


def test_num_formats_finite_numbers_and_blanks_the_rest():
    assert num(1.23456) == "1.23"
    assert num(2, 0) == "2"
    assert num("3.14159", 3) == "3.142"
    assert num(-0.005, 1) == "-0.0"
    for bad in (None, "n/a", float("nan"), float("inf"), [1]):
        assert num(bad) == ""


def test_hostile_study_label_and_citation_come_out_escaped():
    chars = frame([{"study_id": SCRIPT, "collection": "studies", "kind": "trial", "design": "open label",
                    "randomized": True, "condition": "ACLF", "country": "Nowhere", "citation": f"Doe J. {IMG}",
                    "arm_id": "cells", "arm_label": "cells <b>arm</b>", "arm_role": "intervention", "n_randomized": 12,
                    "study_flags": [f"other: {IMG}"]}], CHARACTERISTICS)
    out = characteristics_section(chars)
    assert "<script" not in out.lower() and "<img" not in out
    assert f'<tr id="study-{SCRIPT_ESCAPED}">' in out
    assert f"<b>{SCRIPT_ESCAPED}</b>" in out
    assert f"Doe J. {IMG_ESCAPED}" in out
    assert "cells &lt;b&gt;arm&lt;/b&gt; (intervention, intervention not stated, n=12)" in out


def test_sections_with_empty_tables_say_so():
    issues = frame([], ISSUES)
    out = validation_section(issues, {})
    assert '<td colspan="8" class="none">none</td>' in out        # the warnings table: study + 7 columns
    assert "0 studies excluded" in out and "0 warnings" in out
    flags = flags_section(frame([], HARMONIZED), frame([], COMPARISONS), frame([], WINDOWS))
    # three empty tables: flags (3 columns), unpooled effects (6), timepoints outside the windows (6)
    assert re.findall(r'<td colspan="(\d+)" class="none">none</td>', flags) == ["3", "6", "6"]


# --------------------------------------------------------------------------------------
# Audit trails
# --------------------------------------------------------------------------------------

LINEAGE_COLUMNS = ["output_id", "output_table", "input_id", "input_kind", "step", "transformation", "study_id", "file",
                   "line", "statistic", "value", "unit", "quote", "source", "location"]


def write_lineage(results: Path, edges: list[dict]) -> None:
    """results/provenance/lineage.parquet from edge dicts (columns of the package's lineage table)."""
    (results / "provenance").mkdir(parents=True, exist_ok=True)
    rows = [{c: e.get(c) for c in LINEAGE_COLUMNS} for e in edges]
    pq.write_table(pa.Table.from_pylist(rows), results / "provenance" / "lineage.parquet")


def printed(output: str, row: str, quote: str, step: str = "harmonize") -> dict:
    """An edge from ``output`` to a printed number."""
    return {"output_id": output, "input_id": row, "input_kind": "extraction_row", "step": step,
            "transformation": "as printed", "file": "measurements.csv", "line": 2, "statistic": "mean",
            "value": "1", "unit": "mg/dL", "quote": quote, "source": "test://paper"}


def made(output: str, source: str, kind: str, step: str) -> dict:
    return {"output_id": output, "input_id": source, "input_kind": kind, "step": step, "transformation": step}


@pytest.fixture
def trail_results(tmp_path) -> Path:
    """Lineage with trails of different lengths: p-diamond's (two records) > c-row's (one record) > p-other's."""
    results = tmp_path / "results"
    write_lineage(results, [
        made("p-diamond", "r-b", "harmonized_record", "pool"), made("p-diamond", "r-c", "harmonized_record", "pool"),
        printed("r-b", "row-b", "quote b"), printed("r-c", "row-c", "quote c"),
        made("c-row", "r-a", "harmonized_record", "compare"), printed("r-a", "row-a", "quote a"),
        printed("p-other", "row-o", "quote o", step="pool"),
        printed("r-pub", "row-p", "quote p"),
        made("c-no such id here", "r-a", "harmonized_record", "compare"),
    ])
    return results


def test_trails_over_the_budget_name_the_command_instead(trail_results):
    auditor = Auditor(trail_results)
    length = {i: len(auditor.trail(i)) for i in ("p-diamond", "c-row", "p-other", "r-pub")}
    budget = length["p-diamond"] + length["p-other"]
    # c-row, met before p-other, does not fit in what p-diamond leaves; taken in the order added (p-other,
    # c-row, p-diamond) instead of by priority, p-other and c-row would fit and p-diamond would not
    assert length["p-other"] < length["c-row"] <= length["p-diamond"]
    trails = Trails(trail_results, budget)
    trails.add("p-other", "pooled", "other pooled row", priority=2)
    trails.add("c-row", "comparison", "forest row", ["r-a"], priority=1)
    trails.add("p-diamond", "pooled", "forest diamond", priority=0)
    trails.add("r-pub", "record", "published record")
    page = trails.render(lambda rid: rid)
    for ident in ("p-diamond", "p-other"):           # most important first, while the budget lasts
        assert f"<pre>{esc(chr(10).join(auditor.trail(ident)))}</pre>" in block(page, ident)
    assert "quote b" in page and "quote c" in page and "quote o" in page
    for ident, quote in (("c-row", "quote a"), ("r-pub", "quote p")):   # over the budget: the command is named
        assert quote not in page
        assert f"livertrials audit {ident} --results {trail_results}" in block(page, ident)
        assert f"{budget} lines" in block(page, ident)
    assert trails.used == budget
    assert "2 of 4 audit trails embedded" in page
    assert "r-a" not in trails.items                 # c-row has lineage: its records are not added


def test_an_id_without_lineage_says_so_and_links_its_records(trail_results):
    auditor = Auditor(trail_results)
    with pytest.raises(NoLineageError) as missing:
        auditor.trail("c-missing")
    trails = Trails(trail_results, 1000)
    trails.add("c-missing", "comparison", "a comparison made before lineage", ["r-pub", "r-unknown"], priority=1)
    trails.add("p-diamond", "pooled", "forest diamond", ["c-row"], priority=0)
    page = trails.render(lambda rid: f"record {rid}")
    comparison = block(page, "c-missing")
    assert f"<pre>{esc(str(missing.value))}</pre>" in comparison
    assert "Made from" in comparison and 'href="#trail-r-pub"' in comparison and 'href="#trail-r-unknown"' in comparison
    # the records it was made from get blocks of their own, with their trails (or why there is none)
    assert esc(chr(10).join(auditor.trail("r-pub"))) in block(page, "r-pub")
    assert "record r-pub" in block(page, "r-pub")
    with pytest.raises(NoLineageError) as unknown:
        auditor.trail("r-unknown")
    assert esc(str(unknown.value)) in block(page, "r-unknown")
    assert "Made from" not in block(page, "p-diamond")   # has lineage: no pointer to its inputs


def test_an_id_is_missing_only_when_trail_raises_not_by_its_text(trail_results):
    """An id whose trail happens to read like the no-lineage message still has lineage."""
    trails = Trails(trail_results, 1000)
    trails.add("c-no such id here", "comparison", "odd id", ["r-a"], priority=1)
    page = trails.render(lambda rid: rid)
    assert "Made from" not in block(page, "c-no such id here")
    assert "r-a" not in trails.items and not trails.missing


def test_without_any_lineage_every_block_says_so(tmp_path):
    with pytest.raises(NoLineageError) as missing:
        Auditor(tmp_path).trail("p-1")
    trails = Trails(tmp_path, 1000)
    trails.add("p-1", "pooled", "pooled row", ["c-1"], priority=0)
    trails.add("c-1", "comparison", "study effect", ["r-1"], priority=1)
    page = trails.render(lambda rid: rid)
    assert trails.missing == {"p-1", "c-1", "r-1"}
    for ident in ("p-1", "c-1", "r-1"):
        assert esc(str(missing.value)) in block(page, ident)
    assert 'href="#trail-c-1"' in block(page, "p-1") and 'href="#trail-r-1"' in block(page, "c-1")


# --------------------------------------------------------------------------------------
# The whole page from a tiny results folder
# --------------------------------------------------------------------------------------

MELD = {"mean": 15.25, "sd": 4.5, "n": 10}
MELD_APPROX = 13.5


@pytest.fixture
def tiny_results(tmp_path) -> tuple[Path, Path]:
    results = tmp_path / "results"
    for folder in ("harmonized", "synthesis", "validation"):
        (results / folder).mkdir(parents=True)
    record = {"study_id": "S1", "collection": "studies", "arm_id": "cells", "arm_label": "BM-MSC", "arm_role": "intervention",
              "timepoint_text": "month 3", "unit": "points", "flags": ["unit_presumed: points"]}
    write_table(to_table([{**record, "record_id": "r-1", "outcome": "meld", "meld_variant": "MELD", **MELD},
                          {**record, "record_id": "r-2", "outcome": "meld_at_mean_labs", "meld_variant": "MELD",
                           "mean": MELD_APPROX, "n": MELD["n"]}], HARMONIZED), results / "harmonized/outcomes.parquet")
    arm = {"study_id": "S1", "collection": "studies", "kind": "trial", "design": "open label", "randomized": True,
           "citation": f"Roe R. {SCRIPT}", "study_flags": []}
    write_table(to_table([{**arm, "arm_id": "cells", "arm_label": "BM-MSC", "arm_role": "intervention", "n_randomized": 10},
                          {**arm, "arm_id": "control", "arm_label": "care", "arm_role": "control", "n_randomized": 9},
                          {**arm, "study_id": "MA1", "collection": "comparators", "kind": "meta_analysis",
                           "arm_id": "all", "arm_label": "pooled", "arm_role": "all"}], CHARACTERISTICS),
                results / "harmonized/study_characteristics.parquet")
    write_table(to_table([{"comparison_id": "c-1", "study_id": "S1", "outcome": "meld", "comparison": "cell_vs_control",
                           "contrast": "cells vs control", "design": "between_arms",
                           "measure": "MD", "timepoint_text": "month 3", "used": False, "not_used_reason": "only one study",
                           "record_ids": ["r-1"]}], COMPARISONS), results / "synthesis/comparisons.parquet")
    write_table(to_table([{"study_id": "S1", "outcome": "meld", "timepoint_text": "baseline", "status": "baseline"}],
                         WINDOWS), results / "synthesis/windows.parquet")
    write_table(to_table([{"pooled_id": "p-1", "comparison": "cell_vs_control", "analysis": "main", "analysis_name": "main", "design": "between_arms",
                           "basis": "final values", "outcome": "meld", "outcome_label": "MELD", "window": "3 months",
                           "measure": "MD", "method": "REML", "method_used": "REML", "test": "z", "k": 2, "pooled": True,
                           "estimate": -1.234, "ci_lb": -2.5, "ci_ub": 0.031, "tau2": 0.5, "I2": 12.34, "Q": 1.5,
                           "Q_df": 1, "Q_p": 0.2207, "warnings": [], "study_ids": ["S1", "S2"],
                           "comparison_ids": ["c-1", "c-2"]}], POOLED), results / "synthesis/pooled.parquet")
    write_table(to_table([], COMPARATORS), results / "synthesis/comparators.parquet")
    write_table(to_table([{"study_id": "S2", "status": "study in no comparison", "arms": ["pe = plasma_exchange (other)"],
                           "reason": f"no side {SCRIPT}"}], UNMATCHED), results / "synthesis/unmatched.parquet")
    write_table(to_table([{"study": "Evil<b>", "file": "resources/studies/Evil/measurements.csv", "row": 3,
                           "column": "value", "value": SCRIPT, "rule": "plausible range", "message": "implausible",
                           "severity": "error"}], ISSUES), results / "validation/issues.parquet")
    write_lineage(results, [made("p-1", "c-1", "comparison", "pool"), made("c-1", "r-1", "harmonized_record", "compare"),
                            printed("r-1", "S1-row-1", f'MELD was "{SCRIPT}" high')])
    manifest = tmp_path / "forest" / "index.json"
    manifest.parent.mkdir()
    manifest.write_text(json.dumps({"forests": [], "measures": ["MD"], "funnel_min_k": 10}), encoding="utf-8")
    return results, manifest


def test_build_report_on_a_tiny_results_folder(tiny_results, tmp_path):
    results, manifest = tiny_results
    out = tmp_path / "report" / "index.html"
    page = build_report(results, manifest, [], {"report": {"title": f"T {SCRIPT}"}}, out, title=f"Report {SCRIPT}",
                        audit_trail_budget=defaults()["report"]["audit_trail_budget"])
    assert out.read_text(encoding="utf-8") == page
    assert "<script" not in page.lower()
    assert f"<title>Report {SCRIPT_ESCAPED}</title>" in page
    for anchor, _ in SECTIONS:
        assert f'<section id="{anchor}">' in page, anchor
    assert f"Roe R. {SCRIPT_ESCAPED}" in page                          # citation
    assert "<div>1 studies</div><div>0 comparisons</div><div>1 published comparators</div>" in page
    # the studies in no comparison, with the reason (escaped)
    listed = page[page.index('<section id="comparisons">'):page.index('<section id="studies">')]
    assert "pe = plasma_exchange (other)" in listed and f"no side {SCRIPT_ESCAPED}" in listed
    assert 'id="study-S1"' in page and 'id="study-MA1"' in page
    # MELD reported beside MELD at the mean labs, from the two records
    meld = page[page.index('<section id="meld">'):page.index('<section id="flags">')]
    assert f"{MELD['mean']:.2f} ({MELD['sd']:.2f}), n={MELD['n']}" in meld
    assert f"{MELD_APPROX:.1f}" in meld and f"<td>{MELD['mean'] - MELD_APPROX:.2f}</td>" in meld
    # the pooled row, its link and its trail down to the escaped quote
    pooled = page[page.index('<section id="pooled">'):page.index('<section id="comparators">')]
    assert '<tr id="pooled-row-p-1">' in pooled and 'href="#trail-p-1"' in pooled
    assert f"{-1.234:.2f} [{-2.5:.2f}, {0.031:.2f}]" in pooled
    trail = block(page, "p-1")
    assert f"<pre>{esc(chr(10).join(Auditor(results).trail('p-1')))}</pre>" in trail
    assert f"MELD was &quot;{SCRIPT_ESCAPED}&quot; high" in trail
    # the meld record r-2 has no lineage: its block carries the Auditor's reason
    with pytest.raises(NoLineageError) as missing:
        Auditor(results).trail("r-2")
    assert esc(str(missing.value)) in block(page, "r-2")
    # no comparators: the table says so; the excluded study is listed with its error
    comparators = page[page.index('<section id="comparators">'):page.index('<section id="meld">')]
    assert 'class="none">none</td>' in comparators
    validation = page[page.index('<section id="validation">'):page.index('<section id="provenance">')]
    assert "Excluded: Evil&lt;b&gt; (1 errors)" in validation and SCRIPT_ESCAPED in validation
