"""The HTML report: built by the workflow on a copy of the project, then a small page with hostile text.

The workflow copy builds the real page from the shipped corpus (rules forest_plots and report).
A second page is built from a subset of those results into which extraction strings carrying
<script> and <img onerror> were injected: they must come out escaped, as visible text, and a
headless Chromium must find no script element in the DOM (skipped if Chromium is absent).
The first screen is measured in Chromium at 1400 px: the summary-of-findings table starts within
the first 900 px, nothing is wider than the window and no cell's text runs out of its cell.
"""

import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from conftest import ROOT, copy_project

from livertrials.figures.forest import draw_all
from livertrials.io.tables import CHARACTERISTICS, ISSUES, read_table, to_table, write_table
from livertrials.report.page import SECTIONS, build_report
from livertrials.settings import defaults
from livertrials.synthesis.schemas import COMPARATORS, COMPARISONS, POOLED
from livertrials.synthesis.sof_tables import SOF_TABLE
from livertrials.validate.risk_of_bias import RISK_OF_BIAS_TABLE

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "tests" / "artifacts"
SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(2)>"
ESCAPED_SCRIPT = "&lt;script&gt;alert(1)&lt;/script&gt;"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A copy of the project with results/report/index.html built by the workflow."""
    work = tmp_path_factory.mktemp("report_project")
    copy_project(work)
    run = subprocess.run([sys.executable, "-m", "snakemake", "-c2", "results/report/index.html"], cwd=work,
                         capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stderr[-3000:]
    return work


@pytest.fixture(scope="module")
def page(built):
    return (built / "results/report/index.html").read_text(encoding="utf-8")


def test_page_has_every_section_and_is_self_contained(page):
    for anchor, _ in SECTIONS:
        assert f'<section id="{anchor}">' in page, anchor
    assert "<script" not in page.lower()                       # no JavaScript at all
    assert not re.search(r'(src|href)="(https?:)?//', page)     # no external resource
    assert 'src="data:image/png;base64,' in page


def test_every_shipped_study_is_in_the_characteristics_table(page):
    studies = page[page.index('<section id="studies">'):page.index('<section id="figures">')]
    shipped = {p.name for c in ("studies", "comparators") for p in (ROOT / "resources" / c).iterdir()
               if p.is_dir() and not p.name.startswith((".", "_"))}
    for study in shipped:
        assert f'id="study-{study}"' in studies, study


def test_every_forest_plot_is_shown_with_its_settings(built, page):
    manifest = json.loads((built / "results/forest/index.json").read_text())
    assert manifest["forests"]
    for entry in manifest["forests"]:
        assert f'id="forest-{entry["id"]}"' in page
        figure = page[page.index(f'id="forest-{entry["id"]}"'):]
        figure = figure[:figure.index("</figure>")]
        assert "data:image/png;base64," in figure and "<dt>method</dt>" in figure and "<dt>funnel plot</dt>" in figure
        for row in entry["rows"]:
            assert f'href="#trail-{row["comparison_id"]}"' in figure
    assert "too few to judge small-study effects" in page       # k < 10 everywhere in the shipped corpus


def test_every_link_has_its_audit_trail_block(page):
    targets = set(re.findall(r'href="#([^"]+)"', page))
    ids = set(re.findall(r'id="([^"]+)"', page))
    assert targets and targets <= ids
    blocks = set(re.findall(r'<details id="trail-([^"]+)" class="trail pooled">', page))
    links = set(re.findall(r'href="#trail-([^"]+)"', page[page.index('<section id="pooled">'):
                                                           page.index('<section id="comparators">')]))
    assert blocks and links == blocks          # every pooled estimate links to its own trail block


def test_trails_reach_the_printed_quotes(built, page):
    pooled = read_table(built / "results/synthesis/pooled.parquet")
    if "pooled_id" in pooled.columns:          # lineage of pooled rows exists: their trails reach the quotes
        block = page[page.index(f'id="trail-{pooled["pooled_id"].iloc[0]}"'):]
        assert "quote:" in block[:block.index("</details>")]
    assert page.count("quote: &quot;") > 10


def test_comparators_are_marked_published_not_recomputed(built, page):
    section = page[page.index('<section id="comparators">'):page.index('<section id="meld">')]
    comparators = read_table(built / "results/synthesis/comparators.parquet")
    assert section.count('<span class="badge">published, not recomputed</span>') == len(comparators)


def test_meld_reported_beside_meld_at_mean_labs(page):
    section = page[page.index('<section id="meld">'):page.index('<section id="flags">')]
    assert "Kharaziha2009" in section and "approximation" in section
    assert "17.90 (5.60), n=8" in section and "20.0" in section


# --------------------------------------------------------------------------------------
# Hostile text
# --------------------------------------------------------------------------------------

def _rewrite(path: Path, schema, change) -> None:
    frame = change(read_table(path))
    write_table(to_table(frame, schema), path)


@pytest.fixture(scope="module")
def hostile(built, tmp_path_factory):
    """A small results tree (two studies' pools) with <script> and <img onerror> in extraction strings."""
    work = tmp_path_factory.mktemp("hostile")
    results = work / "results"
    shutil.copytree(built / "results", results, ignore=shutil.ignore_patterns("shards", "forest", "report", "ro-crate"))
    keep = {"ZGXDYX-BMSC-HA", "EgyptPilot_transdiffMSC"}
    pooled = read_table(results / "synthesis/pooled.parquet")
    pooled = pooled[pooled["study_ids"].map(lambda ids: set(ids) <= keep) & (pooled["analysis"] == "main")]
    ids = {c for cs in pooled["comparison_ids"] for c in cs}
    settings = pq.read_schema(results / "synthesis/pooled.parquet").metadata[b"livertrials.synthesis.settings"]
    write_table(to_table(pooled, POOLED), results / "synthesis/pooled.parquet",
                metadata={"livertrials.synthesis.settings": settings.decode()})
    _rewrite(results / "synthesis/comparisons.parquet", COMPARISONS,
             lambda f: f[f["comparison_id"].isin(ids) | ~f["used"]])
    _rewrite(results / "synthesis/comparators.parquet", COMPARATORS, lambda f: f.head(2))
    _rewrite(results / "harmonized/study_characteristics.parquet", CHARACTERISTICS, lambda f: f.assign(
        citation=f["citation"].where(f["study_id"] != "Amer2011", f"Amer ME. {SCRIPT} A trial."),
        study_flags=f["study_flags"].map(lambda fl: list(fl) + [f"other: {IMG}"])))
    lineage = results / "provenance" / ("lineage.parquet" if (results / "provenance/lineage.parquet").exists()
                                        else "lineage_harmonize.parquet")
    frame = pd.read_parquet(lineage)
    frame["quote"] = frame["quote"].where(frame["study_id"] != "ZGXDYX-BMSC-HA", f'He wrote "{SCRIPT}" here')
    frame.to_parquet(lineage)
    bad = {"study": "Evil<script>Trial", "file": "resources/studies/Evil/measurements.csv", "row": 3, "row_id": "E1",
           "column": "value", "value": SCRIPT, "rule": "plausible range", "message": f"value {IMG} is implausible",
           "severity": "error"}
    _rewrite(results / "validation/issues.parquet", ISSUES, lambda f: pd.concat([f, pd.DataFrame([bad])]))
    # study.yaml text reaches the summary of findings (study ids in footnotes) and the risk-of-bias quotes
    _rewrite(results / "harmonized/risk_of_bias.parquet", RISK_OF_BIAS_TABLE, lambda f: f.assign(
        assessed=True, judgement=f["tool"].map({"rob2": "high", "robins_i": "serious"}),
        support=f"Sealed {SCRIPT} envelopes", source="Methods"))
    _rewrite(results / "synthesis/summary_of_findings.parquet", SOF_TABLE, lambda f: f.assign(
        certainty_footnotes=f["certainty_footnotes"].map(lambda notes: list(notes) + [f"Imprecision: {IMG}"])))
    manifest = work / "forest" / "index.json"
    draw_all(results / "synthesis/pooled.parquet", results / "synthesis/comparisons.parquet", work / "forest" / "figures",
             manifest, dict(defaults()["forest"], formats=["png"]))
    out = work / "report" / "index.html"
    figures = sorted((results / "figures").glob("*.png"))
    build_report(results, manifest, figures, {"report": {"title": f"Report {SCRIPT}"}}, out, title=f"Report {SCRIPT}",
                 audit_trail_budget=defaults()["report"]["audit_trail_budget"])
    return out


def test_hostile_strings_are_escaped(hostile):
    page = hostile.read_text(encoding="utf-8")
    assert "<script" not in page.lower() and "<img src=x" not in page
    assert f"Amer ME. {ESCAPED_SCRIPT} A trial." in page                   # citation (characteristics)
    assert f"He wrote &quot;{ESCAPED_SCRIPT}&quot; here" in page           # quote (audit trail)
    assert "&lt;img src=x onerror=alert(2)&gt;" in page                     # study flag and validation message
    assert f"Sealed {ESCAPED_SCRIPT} envelopes" in page                     # risk-of-bias support quote
    sof = page[page.index('<section id="sof">'):page.index('<section id="gaps">')]
    assert "Imprecision: &lt;img src=x onerror=alert(2)&gt;" in sof          # a SoF footnote


def test_excluded_study_is_listed_with_its_errors(hostile):
    page = hostile.read_text(encoding="utf-8")
    section = page[page.index('<section id="validation">'):page.index('<section id="provenance">')]
    assert "1 study excluded by validation" in section
    assert "Excluded: Evil&lt;script&gt;Trial (1 errors)" in section
    for text in ("resources/studies/Evil/measurements.csv", "<td>3</td>", "<td>value</td>", ESCAPED_SCRIPT,
                 "plausible range", "is implausible"):
        assert text in section, text


def _chromium(page: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                           "--no-first-run", "--disable-background-networking", "--disable-component-update",
                           "--disable-sync", f"--user-data-dir={tmp / 'chromium-profile'}", *args, page.as_uri()],
                          capture_output=True, text=True, timeout=180)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium not installed: the browser check needs it "
                    "(apt-get install -y --no-install-recommends chromium)")
def test_browser_renders_the_hostile_page_without_running_script(hostile, tmp_path):
    dom = _chromium(hostile, tmp_path, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert "<table" in html and "<script" not in html.lower()          # the injected text made no script element
    assert not re.search(r"<img[^>]*\sonerror=", html)                   # nor an <img onerror> element
    row = html[html.index('id="study-Amer2011"'):]
    cell = next(c for c in re.findall(r"<td>(.*?)</td>", row[:row.index("</tr>")], re.S) if "Amer ME." in c)
    assert f"Amer ME. {ESCAPED_SCRIPT} A trial." in cell and "<details" not in cell   # shown as text, not folded
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "report.png"
    run = _chromium(hostile, tmp_path, f"--screenshot={shot}", "--window-size=1280,2000")
    assert run.returncode == 0 and shot.stat().st_size > 10_000


@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium not installed")
def test_browser_screenshot_of_the_shipped_report(built, tmp_path):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "report_shipped.png"
    run = _chromium(built / "results/report/index.html", tmp_path, f"--screenshot={shot}", "--window-size=1280,2000")
    assert run.returncode == 0 and shot.stat().st_size > 10_000


# --------------------------------------------------------------------------------------
# The first screen answers the question
# --------------------------------------------------------------------------------------

# The test's own script (the report has none): it measures the page as laid out at the window's width and writes
# the numbers into the DOM, which --dump-dom prints.
MEASURE = """<script>
(function () {
  const box = e => { const r = e.getBoundingClientRect();
    return {top: r.top + window.scrollY, bottom: r.bottom + window.scrollY, left: r.left, right: r.right}; };
  const shown = e => e.offsetParent !== null;
  const first = document.querySelector('#sof table.sof');
  const out = {viewport: document.documentElement.clientWidth, scrollWidth: document.documentElement.scrollWidth,
    sofTop: first ? box(first).top : null,
    tables: [...document.querySelectorAll('#sof table.sof')].filter(shown).map(t => ({right: box(t).right,
      hidden: t.parentElement.scrollWidth - t.parentElement.clientWidth})),
    overflowing: [...document.querySelectorAll('#sof table.sof td, #sof table.sof th')].filter(shown)
      .filter(c => c.scrollWidth > c.clientWidth + 1).map(c => c.textContent.slice(0, 60)),
    header: ['h1', 'p.overview', 'nav', '#sof h2', '#sof h3', '#sof table.sof'].map(s => box(document.querySelector(s)))};
  const pre = document.createElement('pre'); pre.id = 'measured'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"""
FIRST_SCREEN = 900          # px
WIDTH = 1400                # px


def test_the_summary_of_findings_comes_first_for_every_comparison(built, page):
    sof = read_table(built / "results/synthesis/summary_of_findings.parquet")
    start = page.index('<section id="sof">')
    assert start < min(page.index(f'<section id="{anchor}">') for anchor, _ in SECTIONS if anchor != "sof")
    assert page.index('<p class="overview">') < start
    for comparison in sof["comparison"].unique():
        assert f'<h3 id="sof-{comparison}">' in page
    for row in sof.to_dict("records"):
        assert f'<tr id="sof-{row["sof_id"]}">' in page and f'href="#trail-{row["pooled_id"]}"' in page


@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium not installed")
def test_first_screen_at_1400_px_shows_the_summary_of_findings_and_nothing_overlaps(built, tmp_path):
    report = built / "results/report/index.html"
    measured = tmp_path / "measured.html"
    measured.write_text(report.read_text(encoding="utf-8").replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    dom = _chromium(measured, tmp_path, f"--window-size={WIDTH},{FIRST_SCREEN}", "--virtual-time-budget=10000",
                    "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    data = json.loads(html.unescape(re.search(r'<pre id="measured">(.*?)</pre>', dom.stdout, re.S).group(1)))
    assert data["sofTop"] is not None and 0 < data["sofTop"] < FIRST_SCREEN, data["sofTop"]
    assert data["scrollWidth"] <= data["viewport"]                       # no horizontal scrolling of the page
    assert data["tables"] and all(t["right"] <= data["viewport"] and t["hidden"] <= 0 for t in data["tables"])
    assert data["overflowing"] == []                                      # no text runs out of its cell
    boxes = data["header"]
    for upper, lower in zip(boxes, boxes[1:]):                            # title, overview, contents, SoF: stacked
        assert upper["bottom"] <= lower["top"] + 0.5, (upper, lower)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "report_first_screen.png"
    run = _chromium(report, tmp_path, f"--screenshot={shot}", f"--window-size={WIDTH},{FIRST_SCREEN}")
    assert run.returncode == 0 and shot.stat().st_size > 10_000
