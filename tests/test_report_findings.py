"""The report's first screen and answers (report.findings_sections), on the tiny results folder of
test_report_units with a summary of findings, evidence gaps and risk of bias written by the package itself:
the order of the page (answers before machinery), the overview from the data, SoF cells opening the pooled
estimate's trail, footnotes with each domain's reason, a reviewer's override and its reason, the gaps in words,
and hostile text from study.yaml (support quotes) kept inert."""

from __future__ import annotations

import re

import pytest
from conftest import ROOT
from test_report_units import IMG, IMG_ESCAPED, SCRIPT, SCRIPT_ESCAPED, tiny_results  # noqa: F401 - a fixture

from livertrials.io.registry import load_registry
from livertrials.io.tables import read_table, to_table, write_table
from livertrials.report.html import esc
from livertrials.report.page import SECTIONS, build_report
from livertrials.settings import defaults
from livertrials.synthesis.matching import resolve_comparisons
from livertrials.synthesis.schemas import POOLED
from livertrials.synthesis.settings import SETTINGS_KEY, Settings
from livertrials.synthesis.sof_tables import EVIDENCE_GAPS, SOF_TABLE, GradeSettings, gaps_table, sof_table
from livertrials.validate.risk_of_bias import RISK_OF_BIAS_TABLE, risk_of_bias_table

REASON = f"one trial only; {IMG} reviewed by AB"
GRADE = {"overrides": [{"comparison": "cell_vs_control", "outcome": "meld", "domain": "indirectness",
                        "rating": "serious", "reason": REASON},
                       {"outcome": "death", "window": "month 6", "domain": "imprecision", "rating": 1, "reason": "x"}]}


@pytest.fixture
def findings(tiny_results):   # noqa: F811 - the imported fixture
    """The tiny results with summary_of_findings, evidence_gaps and risk_of_bias, as rule synthesize makes them."""
    results, manifest = tiny_results
    chars = read_table(results / "harmonized/study_characteristics.parquet")
    pooled = read_table(results / "synthesis/pooled.parquet")
    comparisons = read_table(results / "synthesis/comparisons.parquet")
    rob = risk_of_bias_table([{"id": "S1", "randomized": True, "risk_of_bias": {"tool": "rob2", "domains": [
        {"domain": "randomization", "judgement": "high", "support": f"Allocation by {SCRIPT} birthday",
         "source": "Methods"}], "overall": {"judgement": "high", "support": "by birthday", "source": "Methods"}}},
        {"id": "S2", "randomized": None}])
    write_table(to_table(rob, RISK_OF_BIAS_TABLE), results / "harmonized/risk_of_bias.parquet")
    registry = load_registry(ROOT / "resources/registry/outcomes.yaml")
    settings, outcomes = resolve_comparisons(Settings.default(), registry), registry.outcomes
    grade = GradeSettings.from_config(GRADE)
    pooled = pooled.assign(window="month 3", unit="points")   # a declared window; the MELD unit
    # as rule synthesize writes it: the settings (comparisons with their sides' labels) in the file's metadata
    write_table(to_table(pooled, POOLED), results / "synthesis/pooled.parquet", {SETTINGS_KEY: settings.as_json()})
    sof = sof_table(pooled, comparisons, chars, rob, settings, grade, outcomes)
    write_table(to_table(sof, SOF_TABLE), results / "synthesis/summary_of_findings.parquet")
    write_table(to_table(gaps_table(pooled, settings, grade, outcomes), EVIDENCE_GAPS),
                results / "synthesis/evidence_gaps.parquet")
    return results, manifest, sof


def page_of(findings, tmp_path) -> str:
    results, manifest, _ = findings
    return build_report(results, manifest, [], {"report": {"title": "T"}, "grade": GRADE}, tmp_path / "index.html",
                        title="T", audit_trail_budget=defaults()["report"]["audit_trail_budget"])


def test_answers_come_first_and_the_machinery_after(findings, tmp_path):
    page = page_of(findings, tmp_path)
    order = [page.index(f'<section id="{anchor}">') for anchor, _ in SECTIONS]
    assert order == sorted(order)                                     # the page follows SECTIONS
    assert [a for a, _ in SECTIONS][:3] == ["sof", "gaps", "rob"]
    assert page.index('<p class="overview">') < page.index('<section id="sof">') < page.index('<section id="studies">')
    assert page.index('<section id="validation">') < page.index('<section id="settings">')
    assert "<div>1 studies</div>" in page[page.index('<section id="settings">'):]   # the run at a glance, lower


def test_the_overview_counts_from_the_data(findings, tmp_path):
    overview = re.search(r'<p class="overview">(.*?)</p>', page_of(findings, tmp_path)).group(1)
    # S1: two arms of 10 and 9 randomized; one randomized trial
    assert overview.startswith("This review holds 1 study (1 randomized, 0 not randomized, 0 not stated) with 19 "
                               "participants.")
    assert "3 comparisons: Cell therapy vs control" in overview and "1 result, 1 for critical outcomes" in overview
    assert "Risk of bias is recorded for 1 of 2 studies (1 with an overall judgement)" in overview


def test_every_sof_cell_opens_the_pooled_estimates_trail_and_the_footnotes_give_the_reasons(findings, tmp_path):
    page = page_of(findings, tmp_path)
    _, _, sof = findings
    row = sof.iloc[0]
    section = page[page.index('<section id="sof">'):page.index('<section id="gaps">')]
    tr = re.search(rf'<tr id="sof-{row["sof_id"]}">(.*?)</tr>', section, re.S).group(1)
    cells = re.findall(r"<td>(.*?)</td>", tr, re.S)
    assert len(cells) == 7
    for cell in cells:
        assert f'href="#trail-{row["pooled_id"]}"' in cell
    assert f'<details id="trail-{row["pooled_id"]}" class="trail pooled">' in page      # the block it opens
    assert esc(row["certainty_symbols"]) in cells[5] and row["certainty"] in cells[5]
    assert esc(row["absolute_effect"]) in cells[4] and "points" in cells[4]
    for note in row["certainty_footnotes"]:
        assert esc(note) in section
    assert "Difference with cell therapy (95% CI)" in section


def test_a_reviewers_override_shows_its_reason_and_the_rules_rating(findings, tmp_path):
    page = page_of(findings, tmp_path)
    section = page[page.index('<section id="sof">'):page.index('<section id="gaps">')]
    assert esc(REASON) in section and IMG_ESCAPED in section and "[reviewer&#x27;s override]" in section
    assert "the rule rated 0" in section
    # the override of death at month 6 matches nothing in this run: said at the top of the section
    assert "match no result: every comparison / death / month 6 / imprecision" in section


def test_evidence_gaps_in_words(findings, tmp_path):
    gaps = page_of(findings, tmp_path)
    gaps = gaps[gaps.index('<section id="gaps">'):gaps.index('<section id="rob">')]
    # MELD at month 3 pools two studies: no gap there
    assert "<b>MELD score</b>: no controlled study reports it at week 4, month 6, month 12, month 24+, " \
           "longest follow-up.</li>" in gaps
    assert "MELD score at month 6: no controlled study reports it (reported at month 3)" in gaps
    assert "Death</b>: no controlled study reports it at week 4, month 3" in gaps


def test_risk_of_bias_quotes_are_shown_as_text(findings, tmp_path):
    page = page_of(findings, tmp_path)
    rob = page[page.index('<section id="rob">'):page.index('<section id="comparisons">')]
    assert f"Allocation by {SCRIPT_ESCAPED} birthday" in rob and "<script" not in page.lower()
    assert "No study is behind the summary of findings: no traffic light." in rob     # no figures rule ran here


def test_a_results_folder_without_the_new_tables_still_builds(tiny_results, tmp_path):   # noqa: F811
    results, manifest = tiny_results
    page = build_report(results, manifest, [], {"report": {"title": "T"}}, tmp_path / "index.html", title="T",
                        audit_trail_budget=1000)
    section = page[page.index('<section id="sof">'):page.index('<section id="gaps">')]
    assert "No comparison is declared" in section      # the tiny pooled table stores no settings
