"""The report at scale: fragments reused from the cache give the same page as a build without it (also after an
input row changed, and with a damaged entry), forest plots move to pages of their own when the page would be too
large, and the audit trails found through the lineage's id columns (report.trail_index) are the Auditor's own."""

from __future__ import annotations

import io
import json
import random
import re
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from PIL import Image
from test_report_units import made, printed, tiny_results, write_lineage  # noqa: F401 - a fixture

from livertrials.io.cache import ContentCache
from livertrials.io.tables import read_table, to_table, write_table
from livertrials.lineage.trails import Auditor
from livertrials.report import page as report_page
from livertrials.report.page import build_report
from livertrials.report.trail_index import LineageIndex
from livertrials.report.trails import Trails
from livertrials.synthesis.schemas import COMPARISONS


def _png(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 20), colour).quantize(colors=4).save(out, format="PNG")
    return out.getvalue()


def _entry(outcome: str, comparison_id: str, pooled_key: str) -> dict:
    name = f"forest_{outcome}"
    return {"id": name, "kind": "main", "comparison": "cell_vs_control", "comparison_label": "Cell therapy vs control",
            "outcome": outcome, "outcome_label": outcome.upper(), "window": "month 3", "design": "between_arms",
            "basis": "final values", "measure": "MD", "scale": "mean difference", "unit": "points", "method": "REML",
            "method_used": "REML", "test": "z", "level": 0.95, "prediction_interval": "default", "k": 1,
            "k_total": 1, "pooled": False, "collapsed": False, "meld_variant": None, "pre_post_correlation": None,
            "funnel": None, "funnel_min_k": 10, "funnel_reason": "k = 1 < 10", "title": f"{outcome}, month 3",
            "files": {"png": f"{name}.png"},
            "rows": [{"block": None, "comparison_id": comparison_id, "effect": "1.00 [0.50, 1.50]", "study_id": "S1",
                      "timepoint": "month 3", "weight": None}],
            "summaries": [{"analysis_name": "main", "k": 1, "label": "pooled", "pooled": False,
                           "pooled_key": pooled_key}]}


@pytest.fixture
def forest_results(tiny_results):   # noqa: F811 - the imported fixture
    """The tiny results with two forest plots (MELD, which lists the unpooled effect c-1 under it, and albumin)."""
    results, manifest = tiny_results
    meld = read_table(results / "synthesis/comparisons.parquet").iloc[0].to_dict() | {"window": "month 3"}
    albumin = meld | {"comparison_id": "c-2", "outcome": "albumin", "used": True, "not_used_reason": None}
    write_table(to_table([meld, albumin], COMPARISONS), results / "synthesis/comparisons.parquet")
    figures = manifest.parent / "figures"
    figures.mkdir()
    (figures / "forest_meld.png").write_bytes(_png((200, 30, 30)))
    (figures / "forest_albumin.png").write_bytes(_png((30, 30, 200)))
    manifest.write_text(json.dumps({"directory": "figures", "measures": ["MD"], "funnel_min_k": 10,
                                    "forests": [_entry("meld", "c-1", "p-1"), _entry("albumin", "c-2", "p-1")]}),
                        encoding="utf-8")
    return results, manifest


def _build(forest_results, out: Path, cache: Path | None) -> str:
    results, manifest = forest_results
    return build_report(results, manifest, [], {"report": {"title": "T"}}, out, title="T", audit_trail_budget=1000,
                        cache_dir=cache)


def test_the_cache_gives_the_page_of_a_build_without_it_after_a_row_changed(forest_results, tmp_path, capsys):
    results, _ = forest_results
    cache = tmp_path / "cache"
    first = _build(forest_results, tmp_path / "a" / "index.html", cache)
    # two figures, the gaps, the studies, the comparisons, the flags, the overview, the grade settings; and the trail
    # plan asked for (the plan and the trails are then stored, not counted)
    assert "cache report: 0 reused, 9 computed" in capsys.readouterr().out
    assert _build(forest_results, tmp_path / "b" / "index.html", cache) == first
    assert "cache report: 10 reused, 0 computed" in capsys.readouterr().out
    # one row changes: the reason c-1 is not pooled, shown under the MELD forest plot only
    comparisons = read_table(results / "synthesis/comparisons.parquet")
    comparisons.loc[comparisons["comparison_id"] == "c-1", "not_used_reason"] = "a new reason"
    write_table(to_table(comparisons, COMPARISONS), results / "synthesis/comparisons.parquet")
    cached = _build(forest_results, tmp_path / "c" / "index.html", cache)
    assert "cache report: 8 reused, 2 computed" in capsys.readouterr().out   # the MELD figure and the flags
    cold = _build(forest_results, tmp_path / "d" / "index.html", None)
    assert "cache report: off" in capsys.readouterr().out
    assert cached == cold != first
    meld = cold[cold.index('id="forest-forest_meld"'):]
    assert "a new reason" in meld[:meld.index("</figure>")]
    assert (tmp_path / "c" / "index.html").read_bytes() == (tmp_path / "d" / "index.html").read_bytes()
    # a redrawn figure is a changed input too
    (results.parent / "forest" / "figures" / "forest_albumin.png").write_bytes(_png((30, 200, 30)))
    assert _build(forest_results, tmp_path / "e" / "index.html", cache) == \
        _build(forest_results, tmp_path / "f" / "index.html", None)
    assert "cache report: 9 reused, 1 computed" in capsys.readouterr().out
    # entries no build uses any more are pruned: one per figure, the six others, the trail plan and texts are left
    assert len(list((cache / "report").glob("*/*"))) == 10


def test_a_damaged_entry_is_rebuilt_not_served(forest_results, tmp_path, capsys):
    cache = tmp_path / "cache"
    first = _build(forest_results, tmp_path / "a" / "index.html", cache)
    entry = sorted((cache / "report").glob("*/*"))[0]
    entry.write_bytes(entry.read_bytes()[:-10] + b"0123456789")
    capsys.readouterr()
    assert _build(forest_results, tmp_path / "b" / "index.html", cache) == first
    log = capsys.readouterr().out
    assert "damaged entry" in log and "1 damaged entries rebuilt" in log


def test_a_page_too_large_has_its_forest_plots_on_pages_of_their_own(forest_results, tmp_path, monkeypatch):
    out = tmp_path / "report" / "index.html"
    whole = _build(forest_results, out, None)
    assert 'id="forest-forest_meld"' in whole and list((tmp_path / "report" / "forests").iterdir()) == []
    monkeypatch.setattr(report_page, "PAGE_LIMIT_BYTES", len(whole.encode()) - 1)
    index = _build(forest_results, out, None)
    pages = {p.name: p.read_text(encoding="utf-8") for p in (tmp_path / "report" / "forests").iterdir()}
    assert sorted(pages) == ["cell_vs_control--albumin.html", "cell_vs_control--meld.html"]
    assert "base64" not in index[index.index('<section id="forests">'):index.index('<section id="pooled">')]
    assert index.index('<p class="overview">') < index.index('<section id="sof">')     # the first screen is unchanged
    assert 'href="forests/cell_vs_control--meld.html#forest-forest_meld"' in index
    ids = set(re.findall(r'id="([^"]+)"', index))
    for name, text in pages.items():
        assert text.startswith("<!DOCTYPE html>") and "<style>" in text and "<script" not in text
        assert "data:image/png;base64," in text and not re.search(r'(src|href)="(https?:)?//', text)
        links = re.findall(r'href="\.\./index\.html#([^"]+)"', text)
        assert links and set(links) <= ids, name                # trails and the way back are on the main page
    assert 'id="forest-forest_meld"' in pages["cell_vs_control--meld.html"]
    monkeypatch.undo()
    assert _build(forest_results, out, None) == whole            # small again: one page, no stale forest pages
    assert list((tmp_path / "report" / "forests").iterdir()) == []


def _random_lineage(seed: int) -> list[dict]:
    """Pools of comparisons of records of printed rows, with shared records, repeated quotes and several steps."""
    rng = random.Random(seed)
    edges = []
    records = [f"r{i}" for i in range(12)]
    for r in records:
        for j in range(rng.randint(1, 3)):
            edges.append(printed(r, f"{r}-row{j}", f"quote {rng.randint(0, 3)}", step=rng.choice(["harmonize", "score"])))
    comparisons = [f"c{i}" for i in range(6)]
    for c in comparisons:
        for r in rng.sample(records, rng.randint(1, 3)):
            edges.append(made(c, r, "harmonized_record", rng.choice(["compare", "window"])))
    for p in range(4):
        for c in rng.sample(comparisons, rng.randint(1, 4)):
            edges.append(made(f"p{p}", c, "comparison", rng.choice(["pool", "exclude"])))
        edges.append(made(f"p{p}", "gone", "comparison", "pool"))       # an input that has no inputs itself
    edges.append(made("sof", "p0", "pooled_estimate", "grade"))
    return edges


@pytest.mark.parametrize("seed", range(5))
def test_trails_through_the_lineage_index_are_the_auditors(tmp_path, seed):
    results = tmp_path / "results"
    write_lineage(results, _random_lineage(seed))
    whole = Auditor(results)
    index = LineageIndex(results)
    outputs = sorted(set(pq.read_table(results / "provenance/lineage.parquet").column("output_id").to_pylist()))
    bounds = index.at_least(outputs)
    for ident in outputs:
        assert 0 < bounds[ident] <= whole.size(ident) == len(whole.trail(ident)), ident
    assert index.at_least(["r0-row0", "nowhere"]) == {"r0-row0": 0, "nowhere": 0}
    for ident in [*outputs, "r0-row0"]:
        assert index.auditor([ident]).trail(ident) == whole.trail(ident), ident
    assert index.auditor(["p1", "c2"]).trail("c2") == whole.trail("c2")


@pytest.mark.parametrize("budget", [5, 20, 60, 400])
def test_the_page_embeds_the_trails_it_embedded_before(tmp_path, budget):
    """The same trails, in the same order, as counting each one with the whole folder's Auditor."""
    results = tmp_path / "results"
    write_lineage(results, _random_lineage(budget))
    whole = Auditor(results)
    trails = Trails(results, budget)
    for i, ident in enumerate(["sof", "p0", "p1", "c0", "p2", "c3", "p3", "r4", "missing"]):
        trails.add(ident, "comparison" if ident.startswith("c") else "pooled", ident, priority=i % 3)
    page = trails.render(lambda rid: rid)
    used, expected = 0, []
    for ident in sorted(trails.items, key=lambda i: trails.items[i]["priority"]):
        try:
            lines = whole.trail(ident, budget - used)
        except LookupError as error:
            lines = [str(error)]
        if used < budget and lines is not None and used + len(lines) <= budget:
            expected.append(ident)
            used += len(lines)
    assert trails.used == used
    assert f"{len(expected)} of 9 audit trails embedded" in page


def _trails_page(results: Path, budget: int, cache: Path | None) -> tuple[str, Trails]:
    trails = Trails(results, budget, ContentCache(cache, "report", "code"))
    for i, ident in enumerate(["sof", "p0", "p1", "c0", "p2", "c3", "p3", "r4", "missing"]):
        trails.add(ident, "comparison" if ident.startswith("c") else "pooled", ident, priority=i % 3)
    return trails.render(lambda rid: rid), trails


@pytest.mark.parametrize("budget", [20, 400])
def test_trails_from_the_cache_are_those_counted_again(tmp_path, budget):
    """Reused while the lineage is unchanged; recounted after a printed value, a step or an edge changed."""
    results = tmp_path / "results"
    edges = _random_lineage(7)
    write_lineage(results, edges)
    cache = tmp_path / "cache"
    first, counted = _trails_page(results, budget, cache)
    assert first == _trails_page(results, budget, None)[0]
    again, trails = _trails_page(results, budget, cache)
    assert again == first and trails.cache.hits == 2             # the plan and the texts
    assert trails.used == counted.used and trails.missing == counted.missing == {"missing"}
    changes = [lambda e: e["input_id"] == "r0-row0" and e.update(value="7.25"),              # a printed number
               lambda e: e["output_id"] == "p0" and e.update(transformation="pool again"),   # a step's words
               lambda e: e["output_id"] == "c0" and e.update(input_id="r11")]                # an edge
    cached = first
    for change in changes:
        for edge in edges:
            change(edge)
        write_lineage(results, edges)
        before, (cached, trails) = cached, _trails_page(results, budget, cache)
        assert cached == _trails_page(results, budget, None)[0]
        assert trails.cache.hits < 2 or cached == before          # a change the trails do not visit is no change
    if budget == 400:
        assert "mean = 7.25" in cached and "pool again" in cached


CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium not installed")
def test_browser_opens_a_forest_page_and_the_paged_report(forest_results, tmp_path, monkeypatch):
    monkeypatch.setattr(report_page, "PAGE_LIMIT_BYTES", 1)
    out = tmp_path / "report" / "index.html"
    _build(forest_results, out, None)
    for page in (out, tmp_path / "report" / "forests" / "cell_vs_control--meld.html"):
        run = subprocess.run([str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                              "--disable-background-networking", "--disable-component-update", "--disable-sync",
                              f"--user-data-dir={tmp_path / 'chromium-profile'}", "--dump-dom", page.as_uri()],
                             capture_output=True, text=True, timeout=180)
        assert run.returncode == 0, run.stderr[-2000:]
        assert "<script" not in run.stdout.lower()
        if page == out:      # the first screen: the overview, then the summary of findings
            assert run.stdout.index('class="overview"') < run.stdout.index('id="sof"') < run.stdout.index('id="forests"')
        else:
            assert 'src="data:image/png;base64,' in run.stdout and 'href="../index.html#trail-' in run.stdout
