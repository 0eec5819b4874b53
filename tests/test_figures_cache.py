"""The figure rules with the content cache (livertrials.io.cache): after an edit, a redraw that reuses the cache
writes exactly the files and manifest of a cold draw of the edited input, draws again only what changed, keeps
only this run's entries, and rebuilds a damaged entry."""

import json
import re
import time

import numpy as np
import pandas as pd
from conftest import ROOT
from test_figures_arm_means import harmonized_frame
from test_figures_forest import FOREST, frames, md_rows, rr_rows, write_inputs
from test_harmonize_risk_of_bias_outputs import rule_inputs  # noqa: F401  (a fixture)

from livertrials.figures import arm_means, forest, risk_of_bias
from livertrials.figures.forest_plans import STUDY_COLUMNS, Forests, forest_specs
from livertrials.io.cache import content_key
from livertrials.io.tables import to_table, write_table
from livertrials.synthesis.schemas import COMPARISONS, POOLED
from livertrials.synthesis.settings import Settings
from livertrials.validate.risk_of_bias import risk_of_bias_table

REGISTRY = ROOT / "resources" / "registry" / "outcomes.yaml"


def tree(folder) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def counts(log: str, namespace: str) -> tuple[int, int]:
    reused, computed = re.search(rf"cache {namespace}: (\d+) reused, (\d+) computed", log).groups()
    return int(reused), int(computed)


def entries(cache, namespace: str) -> list:
    return sorted((cache / namespace).glob("*/*"))


def forest_rows():
    bilirubin = [dict(r, outcome="bilirubin", outcome_label="Bilirubin", comparison_id=r["comparison_id"] + "-b")
                 for r in md_rows(3)]
    return md_rows(12, cell_sources=["bone_marrow", "umbilical_cord"]) + bilirubin + rr_rows()


def draw_forests(inputs, out, cache=None, processes=1):
    forest.draw_all(*inputs, out / "figures", out / "index.json", FOREST, processes=processes, cache_dir=cache)


def test_forests_after_an_edit_are_those_of_a_cold_draw_and_only_the_changed_ones_are_drawn(tmp_path, capsys):
    cache = tmp_path / "cache"
    rows = forest_rows()
    draw_forests(write_inputs(_folder(tmp_path / "in1"), rows), tmp_path / "first", cache)
    first = counts(capsys.readouterr().out, "forests")
    assert first[0] == 0 and first[1] >= 4          # main and subgroup forests of albumin, bilirubin, death

    edited = [dict(r, yi=r["yi"] + 0.5, mean_1=r["mean_1"] + 0.5) if r["comparison_id"] == "c-Study01-MD-b" else r
              for r in rows]                        # one printed mean of one study: its bilirubin forest changes
    inputs = write_inputs(_folder(tmp_path / "in2"), edited)
    draw_forests(inputs, tmp_path / "cached", cache, processes=2)
    reused, computed = counts(capsys.readouterr().out, "forests")
    draw_forests(inputs, tmp_path / "cold")          # no cache at all
    assert "cache forests: off" in capsys.readouterr().out
    assert tree(tmp_path / "cached") == tree(tmp_path / "cold") and len(tree(tmp_path / "cold")) > 8
    assert computed == 1 and reused == first[1] - 1
    assert len(entries(cache, "forests")) == first[1]   # the edited forest's old entry was pruned


def forest_keys(pooled, comparisons) -> dict[str, str]:
    """The cache key of every forest, as draw_all makes them (forest id -> key)."""
    forests = Forests(pooled, comparisons, json.loads(Settings.default().as_json()), measures=FOREST["measures"],
                      across_windows_outcomes=FOREST["across_windows_outcomes"],
                      across_windows_measure=FOREST["across_windows_measure"], max_rows=FOREST["max_rows"])
    return {plan.id: content_key(*forest.key_parts(forests, i, FOREST["formats"], plan.kind == "main", 10))
            for i, plan in enumerate(forests.plans)}


def showing(pooled, comparisons, comparison_id: str) -> set[str]:
    """The forests that show comparison_id's study row."""
    specs = forest_specs(pooled, comparisons, json.loads(Settings.default().as_json()), measures=FOREST["measures"],
                         across_windows_outcomes=FOREST["across_windows_outcomes"],
                         across_windows_measure=FOREST["across_windows_measure"], max_rows=FOREST["max_rows"])
    return {s.id for s in specs for b in s.blocks for line in b.studies if line.comparison_id == comparison_id}


def test_a_change_in_one_study_row_changes_the_key_of_the_one_forest_that_shows_it_and_no_other():
    # pooled rows unchanged (the SD, the timepoint text or a count is shown, not pooled): only the study row differs
    comparisons, pooled = frames(forest_rows())
    edited_id = "c-Study01-MD-b"
    assert len(showing(pooled, comparisons, edited_id)) == 1   # the bilirubin forest
    before = forest_keys(pooled, comparisons)
    assert len(before) >= 4 and len(set(before.values())) == len(before)
    at = comparisons.index[comparisons["comparison_id"] == edited_id][0]
    for column in STUDY_COLUMNS:      # every column a study row shows
        edited = comparisons.copy()
        value = edited.at[at, column]
        edited.at[at, column] = value + "x" if isinstance(value, str) else (1.0 if np.isnan(value) else value + 1.0)
        after = forest_keys(pooled, edited)
        assert {f for f in before if before[f] != after[f]} == showing(pooled, comparisons, edited_id), column
    elsewhere = comparisons.copy()    # a column no forest shows: no key changes
    elsewhere.at[at, "note"] = "edited note"
    assert forest_keys(pooled, elsewhere) == before


def test_a_change_in_one_pooled_row_changes_the_keys_of_the_forests_that_draw_it():
    comparisons, pooled = frames(forest_rows())
    before = forest_keys(pooled, comparisons)
    level = pooled.index[(pooled["analysis"] == "subgroup") & (pooled["subgroup_variable"] == "cell_source")
                         & (pooled["method"] == "REML") & (pooled["test"] == "z")][0]
    edited = pooled.copy()
    edited.at[level, "tau2"] += 0.1
    changed = {f for f, k in forest_keys(edited, comparisons).items() if k != before[f]}
    assert len(changed) == 1 and "_by_cell-source_" in changed.pop()   # the subgroup forest; its main forest not
    record_ids = pooled.copy()        # record ids are not drawn
    record_ids["record_ids"] = [["other"]] * len(pooled)
    assert forest_keys(record_ids, comparisons) == before


def test_a_forest_whose_study_row_changed_is_drawn_again_and_the_result_is_that_of_a_cold_draw(tmp_path, capsys):
    cache, rows = tmp_path / "cache", forest_rows()
    draw_forests(write_inputs(_folder(tmp_path / "in"), rows), tmp_path / "first", cache)
    drawn = counts(capsys.readouterr().out, "forests")[1]
    comparisons, _ = frames(rows)   # the same pooled table, one SD shown differently
    comparisons.loc[comparisons["comparison_id"] == "c-Study01-MD-b", "sd_1"] = 9.5
    inputs = (tmp_path / "in" / "pooled.parquet", tmp_path / "in" / "comparisons.parquet")
    write_table(to_table(comparisons, COMPARISONS), inputs[1])
    draw_forests(inputs, tmp_path / "cached", cache, processes=2)
    assert counts(capsys.readouterr().out, "forests") == (drawn - 1, 1)
    draw_forests(inputs, tmp_path / "cold")
    assert tree(tmp_path / "cached") == tree(tmp_path / "cold") != tree(tmp_path / "first")


def test_a_damaged_forest_entry_is_drawn_again_not_served(tmp_path, capsys):
    cache = tmp_path / "cache"
    inputs = write_inputs(_folder(tmp_path / "in"), forest_rows())
    draw_forests(inputs, tmp_path / "first", cache)
    damaged = entries(cache, "forests")[0]
    damaged.write_bytes(damaged.read_bytes()[:-20] + b"x" * 20)
    capsys.readouterr()
    draw_forests(inputs, tmp_path / "again", cache)
    log = capsys.readouterr().out
    assert "damaged entry" in log and "1 damaged entries rebuilt" in log
    assert tree(tmp_path / "again") == tree(tmp_path / "first")
    draw_forests(inputs, tmp_path / "third", cache)   # the rebuilt entry is served
    assert "damaged" not in capsys.readouterr().out and tree(tmp_path / "third") == tree(tmp_path / "first")


def test_risk_of_bias_figures_after_an_edit_are_those_of_a_cold_draw(rule_inputs, capsys):  # noqa: F811
    cache = rule_inputs / "cache"

    def draw(out, cache=None, processes=1):
        risk_of_bias.draw_all(rule_inputs / "rob.parquet", rule_inputs / "sof.parquet", rule_inputs / "pooled.parquet",
                              out / "figures", out / "index.json", ["png", "svg"], processes=processes, cache_dir=cache)
        return counts(capsys.readouterr().out, "risk_of_bias") if cache else None

    assert draw(rule_inputs / "first", cache) == (0, 2)               # the traffic light and one bar chart
    pooled = pd.DataFrame([{"pooled_id": "p1", "study_ids": ["A", "B"], "weights": [60.0, 40.0]},
                           {"pooled_id": "p2", "study_ids": ["A"], "weights": [100.0]}])
    write_table(to_table(pooled, POOLED), rule_inputs / "pooled.parquet")   # new weights: new bars, same light
    assert draw(rule_inputs / "cached", cache, processes=2) == (1, 1)
    draw(rule_inputs / "cold")
    assert tree(rule_inputs / "cached") == tree(rule_inputs / "cold")
    assert tree(rule_inputs / "cached") != tree(rule_inputs / "first")
    assert len(entries(cache, "risk_of_bias")) == 2


def test_arm_means_and_evidence_map_after_an_edit_are_those_of_a_cold_draw(tmp_path, capsys):
    cache = tmp_path / "cache"

    def draw(frame, out, cache=None):
        frame.to_parquet(tmp_path / "outcomes.parquet")
        arm_means.draw_all(tmp_path / "outcomes.parquet", REGISTRY, ["albumin", "bilirubin"], ["png", "svg"], out,
                           processes=2, cache_dir=cache)
        return counts(capsys.readouterr().out, "figures") if cache else None

    frame = harmonized_frame()
    assert draw(frame, tmp_path / "first", cache) == (0, 3)
    frame.loc[1, "mean"] += 1.0                       # one arm mean of S1 at week 12: only the albumin figure changes
    assert draw(frame, tmp_path / "cached", cache) == (2, 1)
    draw(frame, tmp_path / "cold")
    assert tree(tmp_path / "cached") == tree(tmp_path / "cold") != tree(tmp_path / "first")
    assert len(entries(cache, "figures")) == 3


def test_the_studies_missing_from_a_large_risk_of_bias_table_are_found_in_linear_time():
    # a set of the table's studies per study made this quadratic: minutes at 1,000 studies, hours at 10,000
    studies = [f"S{i:05d}" for i in range(5_000)]
    table = risk_of_bias_table([{"id": s} for s in studies[:4_990]])
    start = time.process_time()
    out = risk_of_bias.with_missing_studies(table, studies)
    assert time.process_time() - start < 2     # quadratic: about a minute
    assert set(out["study_id"]) == set(studies) and len(out) == len(table) // 4_990 * 5_000


def _folder(path):
    path.mkdir(parents=True)
    return path
