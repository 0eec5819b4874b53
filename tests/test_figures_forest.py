"""Forest and funnel plots: geometry and content on small synthetic pools (no workflow run)."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from livertrials.figures.files import is_palette_png, save_figure
from livertrials.figures.forest import draw_all
from livertrials.figures.forest_draw import draw_forest
from livertrials.figures.forest_plans import forest_specs
from livertrials.figures.forest_specs import (
    comparison_sides,
    favours,
    funnel_reason,
    pooled_key,
    synthesis_settings,
)
from livertrials.io.tables import to_table, write_table
from livertrials.settings import defaults
from livertrials.synthesis import meta
from livertrials.synthesis.pooling import pool_comparisons
from livertrials.synthesis.schemas import COMPARISONS, POOLED
from livertrials.synthesis.settings import SETTINGS_KEY, Settings

# the settings synthesis stores beside pooled.parquet: the side labels of each comparison come from there
SETTINGS = {"default_method": "REML", "default_test": "z", "windows": [{"label": "month 6"}],
            "comparisons": [{"id": "cell_vs_control", "label": "Cell therapy vs control",
                             "experimental": {"label": "Cell therapy"}, "control": {"label": "Control"}}]}
FOREST = defaults()["forest"]


def specs(pooled, comparisons, **change):
    """forest_specs with the forest config defaults, some of them changed."""
    forest = {**FOREST, **change}
    return forest_specs(pooled, comparisons, SETTINGS, measures=forest["measures"], max_rows=forest["max_rows"],
                        across_windows_outcomes=forest["across_windows_outcomes"],
                        across_windows_measure=forest["across_windows_measure"])


def comparison(study, yi, vi, *, measure="MD", outcome="albumin", benefit="higher", cell_source="bone_marrow",
               events=None, **extra):
    """One used between-arm comparison row, as synthesis writes it."""
    half = 1.959964 * math.sqrt(vi)
    row = dict(comparison_id=f"c-{study}-{measure}", collection="studies", study_id=study, outcome=outcome,
               outcome_label=outcome.capitalize(), benefit=benefit, design="between_arms", comparison_type="main",
               comparison="cell_vs_control", contrast="cells vs control", source="arm_data", basis="events" if events else "final values",
               arms_1=["cells"], arms_2=["control"], measure=measure, scale="log risk ratio" if measure == "RR" else "difference",
               unit=None if events else "g/L", yi=yi, vi=vi, se=math.sqrt(vi), ci_lb=yi - half, ci_ub=yi + half,
               timepoint_text="week 24", timepoint_kind="point", timepoint_days=168.0, window="month 6",
               assignment="month 6", used=True, not_used_reason=None, meld_variant=None, pre_post_correlation=np.nan,
               study_kind="trial", randomized="randomized", condition="cirrhosis", cell_source=cell_source,
               route="portal_vein", flags=[], record_ids=[f"r-{study}"], note="")
    if events:
        row.update(events_1=events[0], total_1=events[1], events_2=events[2], total_2=events[3], n_1=events[1], n_2=events[3])
    else:
        row.update(n_1=20.0, mean_1=30.0 + yi, sd_1=4.0, n_2=20.0, mean_2=30.0, sd_2=4.0)
    row.update(extra)
    return row


def frames(rows):
    comparisons = pd.DataFrame(rows).reindex(columns=COMPARISONS.names)
    return comparisons, pool_comparisons(comparisons, Settings.default())


def md_rows(k, cell_sources=None):
    rng = np.random.default_rng(7)
    return [comparison(f"Study{i:02d}", float(rng.normal(3, 1.5)), float(rng.uniform(0.5, 3)),
                       cell_source=(cell_sources or ["bone_marrow"])[i % len(cell_sources or ["bone_marrow"])])
            for i in range(k)]


def rr_rows():
    out = []
    for study, (a, n1, c, n2) in {"Alpha2020": (5, 40, 12, 40), "Beta2021": (3, 25, 6, 24), "Gamma2022": (8, 60, 15, 58)}.items():
        yi, vi = meta.rr(a, n1, c, n2)
        out.append(comparison(study, float(yi[0]), float(vi[0]), measure="RR", outcome="death", benefit="lower",
                              events=(a, n1, c, n2)))
    return out


def main_spec(rows):
    comparisons, pooled = frames(rows)
    return next(s for s in specs(pooled, comparisons) if s.kind == "main")


def test_svg_shows_every_study_the_diamond_and_the_prediction_interval(tmp_path):
    spec = main_spec(md_rows(3))
    save_figure(draw_forest(spec), tmp_path, "f", ["svg"])
    svg = (tmp_path / "f.svg").read_text()
    for study in ("Study00", "Study01", "Study02"):
        assert study in svg
        assert f'id="square-c-{study}-MD"' in svg
    assert 'id="pooled-diamond-' in svg and 'id="prediction-interval-' in svg
    assert "Random-effects model (REML, z)" in svg and "Heterogeneity" in svg
    assert "Favours Cell therapy" in svg and "Favours Control" in svg
    assert "k = 1: not pooled" not in svg


def test_square_area_is_proportional_to_weight():
    spec = main_spec(md_rows(3))
    fig = draw_forest(spec)
    areas = {c.get_gid(): c.get_sizes()[0] for c in fig.axes[0].collections if (c.get_gid() or "").startswith("square-")}
    weights = {f"square-{s.comparison_id}": s.weight for s in spec.blocks[0].studies}
    assert sum(weights.values()) == pytest.approx(100)
    ratios = [areas[g] / weights[g] for g in weights]
    assert max(ratios) == pytest.approx(min(ratios))


def test_ratio_measure_on_a_log_axis_labelled_on_the_ratio_scale(tmp_path):
    spec = main_spec(rr_rows())
    assert spec.ratio and spec.events
    fig = draw_forest(spec)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert "1" in labels and all(float(x) > 0 for x in labels)
    texts = " ".join(t.get_text() for t in fig.texts)
    alpha = spec.blocks[0].studies[0]
    assert f"{math.exp(alpha.yi):.2f} [{math.exp(alpha.ci_lb):.2f}, {math.exp(alpha.ci_ub):.2f}]" in texts
    assert "Events" in texts and "Risk ratio (log scale)" in ax.get_xlabel()
    # death: lower is better, so the left of RR = 1 favours the experimental side
    assert [t.get_text().strip() for t in ax.texts][:2] == ["← Favours Cell therapy", "Favours Control →"]
    assert "Cell therapy vs control" in spec.subtitle and spec.sides == ("Cell therapy", "Control")


def test_k1_is_drawn_alone_with_a_note(tmp_path):
    spec = main_spec(md_rows(1))
    save_figure(draw_forest(spec), tmp_path, "k1", ["svg"])
    svg = (tmp_path / "k1.svg").read_text()
    assert "Study00" in svg and "k = 1: not pooled" in svg
    assert "diamond" not in svg and "prediction-interval" not in svg


def test_subgroup_rows_become_blocks_with_the_overall_diamond(tmp_path):
    comparisons, pooled = frames(md_rows(4, cell_sources=["bone_marrow", "umbilical_cord"]))
    subgroup = [s for s in specs(pooled, comparisons) if s.kind == "subgroup"]
    assert [s.id.split("_by_")[1].split("_")[0] for s in subgroup] == ["cell-source"]
    spec = subgroup[0]
    assert [b.title for b in spec.blocks] == ["cell_source: bone_marrow", "cell_source: umbilical_cord"]
    assert spec.overall is not None and spec.overall["analysis"] == "main"
    weights = [s.weight for b in spec.blocks for s in b.studies]
    assert sum(weights) == pytest.approx(100)     # weights of the overall model
    save_figure(draw_forest(spec), tmp_path, "sub", ["svg"])
    svg = (tmp_path / "sub.svg").read_text()
    assert svg.count('id="subgroup-diamond-') == 2 and svg.count('id="pooled-diamond-') == 1
    assert "Overall: Random-effects model" in svg


def test_favours_labels_follow_the_benefit_direction_and_name_the_comparisons_sides():
    sides = comparison_sides({"comparisons": [{"id": "bb", "label": "Beta-blockers vs sclerotherapy",
                                                "experimental": {"label": "Beta-blockers"},
                                                "control": {"label": "Sclerotherapy"}}]}, "bb")
    assert favours("between_arms", "higher", sides) == ("Favours Sclerotherapy", "Favours Beta-blockers")
    assert favours("between_arms", "lower", sides) == ("Favours Beta-blockers", "Favours Sclerotherapy")
    assert favours("within_arm", "higher", sides) == ("Worsened after Beta-blockers", "Improved after Beta-blockers")
    assert favours("between_arms", "none", sides) == ("Lower with Beta-blockers", "Higher with Beta-blockers")
    # a comparison the settings do not describe: generic words, never a treatment the data do not name
    assert favours("between_arms", "lower", comparison_sides({}, "x")) == ("Favours Experimental", "Favours Control")


def test_svg_is_deterministic(tmp_path):
    spec = main_spec(md_rows(3))
    save_figure(draw_forest(spec), tmp_path / "a", "f", ["svg", "png"])
    save_figure(draw_forest(spec), tmp_path / "b", "f", ["svg", "png"])
    for name in ("f.svg", "f.png"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def write_inputs(tmp_path, rows):
    comparisons, pooled = frames(rows)
    write_table(to_table(comparisons, COMPARISONS), tmp_path / "comparisons.parquet")
    # with the settings in its metadata, as synthesis writes it
    write_table(to_table(pooled, POOLED), tmp_path / "pooled.parquet",
                metadata={SETTINGS_KEY: Settings.default().as_json()})
    return tmp_path / "pooled.parquet", tmp_path / "comparisons.parquet"


def test_funnel_plot_where_k_is_at_least_10_and_a_reason_elsewhere(tmp_path):
    rows = md_rows(12) + [dict(r, outcome="bilirubin", comparison_id=r["comparison_id"] + "-b") for r in md_rows(3)]
    pooled_path, comparisons_path = write_inputs(tmp_path, rows)
    entries = draw_all(pooled_path, comparisons_path, tmp_path / "figures", tmp_path / "index.json", FOREST)
    main = {e["outcome"]: e for e in entries if e["kind"] == "main"}
    assert main["albumin"]["k"] == 12 and main["albumin"]["funnel"] and main["albumin"]["funnel_reason"] is None
    funnel_svg = (tmp_path / "figures" / main["albumin"]["funnel"]["svg"]).read_text()
    assert 'id="funnel-points"' in funnel_svg
    assert main["bilirubin"]["funnel"] is None and "k = 3 < 10" in main["bilirubin"]["funnel_reason"]
    manifest = json.loads((tmp_path / "index.json").read_text())
    assert manifest["directory"] == "figures"
    for entry in manifest["forests"]:
        for name in entry["files"].values():
            assert (tmp_path / "figures" / name).is_file()
        assert all(r["comparison_id"] for r in entry["rows"])
        assert all(s["pooled_key"] for s in entry["summaries"])


def test_funnel_reason_threshold():
    assert funnel_reason(10, 10) is None
    assert "k = 9 < 10" in funnel_reason(9, 10)


def test_pooled_key_is_the_pooled_id():
    assert pooled_key({"pooled_id": "abc", "method": "REML"}) == "abc"
    with pytest.raises(KeyError):
        pooled_key({"analysis": "main", "method": "REML"})   # a pooled row without its id is a bug upstream


def test_a_forest_with_too_many_studies_draws_only_the_pooled_rows(tmp_path):
    comparisons, pooled = frames(md_rows(12))
    spec = next(s for s in specs(pooled, comparisons, max_rows=5) if s.kind == "main")
    assert spec.collapsed and spec.k_total == 12
    save_figure(draw_forest(spec), tmp_path, "big", ["svg"])
    svg = (tmp_path / "big.svg").read_text()
    assert "12 studies: rows not drawn (more than 5)" in svg
    assert 'id="square-' not in svg and 'id="pooled-diamond-' in svg
    pooled_path, comparisons_path = write_inputs(tmp_path, md_rows(12))
    entries = draw_all(pooled_path, comparisons_path, tmp_path / "figures", tmp_path / "index.json",
                       dict(FOREST, formats=["png"], max_rows=5))
    assert entries[0]["collapsed"] and entries[0]["rows"] == [] and entries[0]["funnel"]   # the funnel keeps them all


def test_drawing_in_two_processes_gives_the_same_files_and_manifest(tmp_path):
    rows = md_rows(12, cell_sources=["bone_marrow", "umbilical_cord"]) + rr_rows()
    pooled_path, comparisons_path = write_inputs(tmp_path, rows)
    serial = draw_all(pooled_path, comparisons_path, tmp_path / "one" / "figures", tmp_path / "one" / "index.json",
                      FOREST, processes=1)
    parallel = draw_all(pooled_path, comparisons_path, tmp_path / "two" / "figures", tmp_path / "two" / "index.json",
                        FOREST, processes=2)
    assert len(serial) >= 3   # main albumin, albumin by cell source, main death
    assert (tmp_path / "one" / "index.json").read_text() == (tmp_path / "two" / "index.json").read_text()
    names = sorted(p.name for p in (tmp_path / "one" / "figures").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "two" / "figures").iterdir())
    for name in names:
        assert (tmp_path / "one" / "figures" / name).read_bytes() == (tmp_path / "two" / "figures" / name).read_bytes()
    assert parallel == serial


def test_only_the_configured_measures_get_forest_plots(tmp_path):
    smd = [dict(r, measure="SMD", comparison_id=r["comparison_id"] + "-smd") for r in md_rows(4)]
    comparisons, pooled = frames(md_rows(4) + smd + rr_rows())
    assert {"MD", "SMD", "RR"} <= set(pooled["measure"])
    kinds = {(s.kind, s.measure) for s in specs(pooled, comparisons, measures=["MD", "RR"])}
    assert kinds == {("main", "MD"), ("main", "RR")}
    pooled_path, comparisons_path = write_inputs(tmp_path, md_rows(4) + smd + rr_rows())
    draw_all(pooled_path, comparisons_path, tmp_path / "figures", tmp_path / "index.json",
             dict(FOREST, formats=["svg"], measures=["MD", "RR"]))
    assert json.loads((tmp_path / "index.json").read_text())["measures"] == ["MD", "RR"]   # the report says so
    everything = {s.measure for s in specs(pooled, comparisons, measures=["MD", "SMD", "RR"])}
    assert everything == {"MD", "SMD", "RR"}


def test_png_figures_are_written_with_a_palette(tmp_path):
    comparisons, pooled = frames(md_rows(4))
    spec = next(s for s in specs(pooled, comparisons) if s.kind == "main")
    save_figure(draw_forest(spec), tmp_path, "f", ["png"])
    raw = (tmp_path / "f.png").read_bytes()
    assert is_palette_png(raw)
    from PIL import Image
    assert Image.open(tmp_path / "f.png").mode == "P" and len(Image.open(tmp_path / "f.png").getcolors()) <= 64


def test_a_pooled_table_without_its_synthesis_settings_is_refused(tmp_path):
    pooled_path, comparisons_path = write_inputs(tmp_path, md_rows(3))
    assert synthesis_settings(pooled_path)["default_method"] == "REML"
    _, pooled = frames(md_rows(3))
    write_table(to_table(pooled, POOLED), pooled_path)     # no settings in the metadata
    assert synthesis_settings(pooled_path) == {}
    with pytest.raises(ValueError, match="stores no synthesis settings"):
        draw_all(pooled_path, comparisons_path, tmp_path / "figures", tmp_path / "index.json", FOREST)
