"""Risk of bias in the workflow's outputs: each study's judgements reach results/harmonized/risk_of_bias.parquet
through its shard (a study that fails is excluded alone), and the rule risk_of_bias_figures draws the traffic light
of the studies behind the summary of findings and the weighted bars of every pooled row, listed in index.json."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import ROOT, minimal_meta, row, write_study

from livertrials.figures import risk_of_bias as rob_figures
from livertrials.harmonize import shards
from livertrials.harmonize.shards import build_shard, merge_shards
from livertrials.io.tables import read_table, to_table, write_table
from livertrials.synthesis.schemas import POOLED
from livertrials.synthesis.sof_tables import SOF_TABLE
from livertrials.validate.risk_of_bias import RISK_OF_BIAS_TABLE

REGISTRY_PATH = ROOT / "resources" / "registry" / "outcomes.yaml"
ROWS = [row("r1", "cells", "week 12", "albumin", "mean", "32.0", "g/L"),
        row("r2", "cells", "week 12", "albumin", "sd", "3.4", "g/L"),
        row("r3", "control", "week 12", "albumin", "mean", "29.0", "g/L"),
        row("r4", "control", "week 12", "albumin", "sd", "3.0", "g/L")]
ASSESSED = {"tool": "rob2", "domains": [
    {"domain": "randomization", "judgement": "low", "support": "computer-generated sequence", "source": "Methods"},
    {"domain": "missing_data", "judgement": "high", "support": "8 of 20 lost", "source": "Results"}],
    "overall": {"judgement": "high", "support": "8 of 20 lost", "source": "Results"}}


def study(folder, assessment=None):
    meta = minimal_meta(folder.name)
    if assessment is not None:
        meta["risk_of_bias"] = assessment
    return write_study(folder, meta, ROWS)


def merged(tmp_path, folders, collections=None):
    shard = tmp_path / "shard"
    build_shard(folders, collections or ["studies"] * len(folders), REGISTRY_PATH, shard)
    out = tmp_path / "merged"
    outputs = {name: out / f"{name}.parquet" for name in ("harmonized", "characteristics", "issues", "lineage",
                                                          "risk_of_bias")}
    outputs.update(summary=out / "summary.json", report=out / "report.txt")
    merge_shards([shard], outputs)
    return {name: read_table(path) for name, path in outputs.items() if path.suffix == ".parquet"}


def test_each_study_carries_its_risk_of_bias_and_an_unassessed_one_says_so(tmp_path):
    tables = merged(tmp_path, [study(tmp_path / "s" / "Judged2026", ASSESSED), study(tmp_path / "s" / "Plain2026")])
    rob = tables["risk_of_bias"]
    assert list(rob.columns) == RISK_OF_BIAS_TABLE.names
    judged = rob[rob["study_id"] == "Judged2026"].set_index("domain")["judgement"]
    assert list(judged.index) == ["randomization", "deviations", "missing_data", "measurement",
                                  "selection_of_reported_result", "overall"]        # the tool's order
    assert judged.to_dict() == {"randomization": "low", "deviations": "not_assessed", "missing_data": "high",
                                "measurement": "not_assessed", "selection_of_reported_result": "not_assessed",
                                "overall": "high"}
    plain = rob[rob["study_id"] == "Plain2026"]
    assert (plain["judgement"] == "not_assessed").all() and not plain["assessed"].any()


def test_a_rejected_study_and_a_published_meta_analysis_have_no_rows(tmp_path):
    bad = study(tmp_path / "s" / "Bad2026", {"tool": "rob2", "domains": [{"domain": "randomisation", "judgement": "low",
                                                                          "support": "x", "source": "y"}]})
    good = study(tmp_path / "s" / "Good2026", ASSESSED)
    published = study(tmp_path / "c" / "Pub2026")
    tables = merged(tmp_path, [bad, good, published], ["studies", "studies", "comparators"])
    assert set(tables["risk_of_bias"]["study_id"]) == {"Good2026"}
    assert "Bad2026" in set(tables["issues"].loc[tables["issues"]["severity"] == "error", "study"])


def test_a_failure_while_reading_one_studys_risk_of_bias_excludes_that_study_only(tmp_path, monkeypatch):
    first, second = study(tmp_path / "s" / "First2026", ASSESSED), study(tmp_path / "s" / "Second2026", ASSESSED)
    real = shards.risk_of_bias

    def broken(meta, study_id, collection):
        if study_id == "First2026":
            raise RuntimeError("injected")
        return real(meta, study_id, collection)

    monkeypatch.setattr(shards, "risk_of_bias", broken)
    tables = merged(tmp_path, [first, second])
    errors = tables["issues"][tables["issues"]["severity"] == "error"]
    assert list(errors["study"]) == ["First2026"]
    assert "reading its risk of bias" in errors["message"].iloc[0] and "injected" in errors["message"].iloc[0]
    assert set(tables["risk_of_bias"]["study_id"]) == {"Second2026"}
    assert set(tables["harmonized"]["study_id"]) == {"Second2026"}


# --------------------------------------------------------------------------------------------------------
# the rule risk_of_bias_figures
# --------------------------------------------------------------------------------------------------------

def _sof_row(sof_id, pooled_id, studies, k, outcome="death", window="month 6"):
    return {"sof_id": sof_id, "pooled_id": pooled_id, "comparison": "c", "comparison_label": "Cells vs control",
            "outcome": outcome, "outcome_label": outcome.title(), "window": window, "k": k, "study_ids": studies,
            "critical": True}


@pytest.fixture
def rule_inputs(tmp_path):
    rob = pd.DataFrame([
        {"study_id": "A", "tool": "rob2", "assessed": True, "domain": d, "domain_label": d,
         "judgement": "high" if d in ("missing_data", "overall") else "low", "support": "q", "source": "s"}
        for d in ("randomization", "deviations", "missing_data", "measurement", "selection_of_reported_result", "overall")])
    write_table(to_table(rob, RISK_OF_BIAS_TABLE), tmp_path / "rob.parquet")
    sof = pd.DataFrame([_sof_row("s1", "p1", ["A", "B"], 2), _sof_row("s2", "p2", ["A"], 1, window="month 3")])
    write_table(to_table(sof, SOF_TABLE), tmp_path / "sof.parquet")
    pooled = pd.DataFrame([{"pooled_id": "p1", "study_ids": ["A", "B"], "weights": [75.0, 25.0]},
                           {"pooled_id": "p2", "study_ids": ["A"], "weights": [100.0]}])
    write_table(to_table(pooled, POOLED), tmp_path / "pooled.parquet")
    return tmp_path


def test_the_rule_draws_the_traffic_light_and_the_bars_of_pooled_rows_only(rule_inputs):
    out, manifest_path = rule_inputs / "rob" / "figures", rule_inputs / "rob" / "index.json"
    manifest = rob_figures.draw_all(rule_inputs / "rob.parquet", rule_inputs / "sof.parquet",
                                    rule_inputs / "pooled.parquet", out, manifest_path, ["png", "svg"])
    assert json.loads(manifest_path.read_text()) == manifest
    assert manifest["directory"] == "figures"
    light = manifest["traffic_light"]
    assert light["studies"] == ["A", "B"] and light["assessed"] == ["A"] and light["not_drawn"] == 0
    assert (out / light["files"]["png"]).stat().st_size > 1000
    svg = (out / light["files"]["svg"]).read_text()
    assert "rob|B|overall|not_assessed" in svg and "rob|A|missing_data|high" in svg   # B: never guessed
    assert [b["sof_id"] for b in manifest["bars"]] == ["s1"]                            # k = 1 has no bars
    bars = manifest["bars"][0]
    assert bars["title"] == "Cells vs control: Death, month 6 (k = 2)" and bars["pooled_id"] == "p1"
    svg = (out / bars["files"]["svg"]).read_text()
    assert "rob-bar|rob2|overall|high" in svg and "rob-bar|robins_i|overall|not_assessed" in svg   # B: design not stated


def test_the_rule_writes_an_empty_manifest_when_nothing_is_in_the_summary(rule_inputs):
    write_table(to_table(pd.DataFrame(columns=SOF_TABLE.names), SOF_TABLE), rule_inputs / "sof.parquet")
    out = rule_inputs / "rob" / "figures"
    manifest = rob_figures.draw_all(rule_inputs / "rob.parquet", rule_inputs / "sof.parquet",
                                    rule_inputs / "pooled.parquet", out, rule_inputs / "rob" / "index.json", ["png"])
    assert manifest["traffic_light"]["files"] is None and manifest["bars"] == [] and out.is_dir()
