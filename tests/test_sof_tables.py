"""The summary of findings as rule synthesize writes it (sof_tables): one row per comparison x outcome x window with
a stable id and lineage to its pooled row, the critical outcomes first, reviewers' overrides with their reasons and
the rule's own rating beside them, the CSV for a manuscript, the evidence gaps, config grade checks, and the
registry's optional minimal important difference."""

from __future__ import annotations

import csv

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import ROOT
from test_synthesis import TOY, rec, two_arm

from livertrials.io.registry import load_registry
from livertrials.io.tables import CHARACTERISTICS, HARMONIZED, to_table, write_table
from livertrials.lineage.trails import Auditor
from livertrials.synthesis.run import synthesize
from livertrials.synthesis.settings import Settings
from livertrials.synthesis.sof_tables import EVIDENCE_GAPS, SOF_TABLE, GradeSettings, intervention_words
from livertrials.validate.risk_of_bias import RISK_OF_BIAS_TABLE, risk_of_bias_table

REGISTRY = ROOT / "resources" / "registry" / "outcomes.yaml"
OUTPUTS = ("comparisons", "windows", "pooled", "comparators", "unmatched", "summary_of_findings", "evidence_gaps")


def corpus():
    """Three two-arm trials: albumin at month 3 (all three) and deaths at month 3 (S1, S2)."""
    records, chars = [], []
    for s in TOY:
        r, c = two_arm(*s)
        records += r
        chars += c
    for study, (e1, e2) in (("S1", (2, 6)), ("S2", (1, 4))):
        for arm, role, events in (("cells", "intervention", e1), ("control", "control", e2)):
            records.append(rec(study, arm, role, outcome="death", kind="events", events=events, total=20, n=20,
                               unit="patients"))
    return records, chars


def run(tmp_path, grade=None, rob_metas=None) -> dict:
    records, chars = corpus()
    results = tmp_path / "results"
    harmonized, characteristics = results / "harmonized" / "outcomes.parquet", results / "harmonized" / "chars.parquet"
    harmonized.parent.mkdir(parents=True)
    write_table(to_table(records, HARMONIZED), harmonized)
    write_table(to_table(chars, CHARACTERISTICS), characteristics)
    rob = results / "harmonized" / "risk_of_bias.parquet"
    metas = rob_metas or [{"id": s, "randomized": True} for s in ("S1", "S2", "S3")]
    write_table(to_table(risk_of_bias_table(metas), RISK_OF_BIAS_TABLE), rob)
    outputs = {name: results / "synthesis" / f"{name}.parquet" for name in OUTPUTS}
    outputs["summary_of_findings_csv"] = results / "synthesis" / "summary_of_findings.csv"
    outputs["lineage"] = results / "provenance" / "lineage.parquet"
    synthesize(harmonized, characteristics, REGISTRY, {"longest_follow_up": False}, outputs,
               {"livertrials.manifest": "{}"}, risk_of_bias_path=rob, grade=grade)
    tables = {name: pd.read_parquet(path) for name, path in outputs.items() if path.suffix == ".parquet"}
    tables["results"] = results
    tables["csv"] = outputs["summary_of_findings_csv"]
    return tables


def test_one_row_per_comparison_outcome_window_critical_first_with_the_schema(tmp_path):
    tables = run(tmp_path)
    sof = tables["summary_of_findings"]
    assert pq.read_schema(tmp_path / "results/synthesis/summary_of_findings.parquet").names == SOF_TABLE.names
    assert list(zip(sof["comparison"], sof["outcome"], sof["window"])) == [
        ("cell_vs_control", "death", "month 3"), ("cell_vs_control", "albumin", "month 3")]   # grade.critical_outcomes order
    assert sof["critical"].all() and sof["sof_id"].is_unique
    assert set(sof["comparison_label"]) == {"Cell therapy vs control"}
    death = sof.iloc[0]
    assert death["k"] == 2 and death["participants"] == 80 and death["relative_effect"].startswith("RR ")
    assert death["assumed_control_risk"] == pytest.approx(250)      # median of 6/20 and 4/20
    assert death["plain_language"] == "The evidence is very uncertain about the effect of cell therapy on death at month 3."
    albumin = sof.iloc[1]
    assert albumin["absolute_effect"].startswith("MD ") and "g/L" in albumin["absolute_effect"]
    # every study not assessed: risk of bias -1; one of the domains' reasons names them
    assert (sof["risk_of_bias_change"] == 1).all() and "not assessed 100%" in albumin["risk_of_bias_reason"]
    assert list(sof["rule_ratings"].map(list)) == [[], []]


def test_each_row_has_lineage_to_its_pooled_row_and_an_audit_trail(tmp_path):
    tables = run(tmp_path)
    sof, lineage, pooled = tables["summary_of_findings"], tables["lineage"], tables["pooled"]
    edges = lineage[lineage["output_table"] == "synthesis/summary_of_findings"]
    assert list(edges["output_id"]) == list(sof["sof_id"])
    assert list(edges["input_id"]) == list(sof["pooled_id"]) and set(sof["pooled_id"]) <= set(pooled["pooled_id"])
    assert (edges["step"] == "grade").all() and (edges["input_kind"] == "pooled_estimate").all()
    assert edges["transformation"].str.contains("certainty very low|certainty low|certainty moderate").all()
    trail = Auditor(tables["results"]).trail(sof["sof_id"].iloc[1])
    text = "\n".join(trail)
    assert "summary of findings, Cell therapy vs control / albumin / month 3" in text
    assert f"pooled {sof['pooled_id'].iloc[1]}" in text and "harmonized record S1|cells|month 3|albumin" in text


def test_an_override_shows_its_reason_and_keeps_the_rules_rating(tmp_path):
    reason = "all three trials enrolled ACLF; the question is decompensated cirrhosis"
    grade = {"overrides": [{"comparison": "cell_vs_control", "outcome": "albumin", "window": "month 3",
                            "domain": "indirectness", "rating": "serious", "reason": reason},
                           {"outcome": "death", "domain": "risk_of_bias", "rating": 0, "reason": "reviewed: low"}]}
    sof = run(tmp_path, grade=grade)["summary_of_findings"].set_index("outcome")
    assert sof.at["albumin", "indirectness_overridden"] and sof.at["albumin", "indirectness_change"] == 1
    assert sof.at["albumin", "indirectness_reason"] == reason
    assert any(reason in f and "[reviewer's override]" in f for f in sof.at["albumin", "certainty_footnotes"])
    assert list(sof.at["albumin", "rule_ratings"]) == [
        "Indirectness: the rule rated 0 (no study carries an indirectness flag); the reviewer -1"]
    assert sof.at["death", "risk_of_bias_overridden"] and sof.at["death", "risk_of_bias_change"] == 0
    assert sof.at["death", "risk_of_bias_reason"] == "reviewed: low"
    assert not sof.at["death", "indirectness_overridden"]


def test_an_override_that_matches_nothing_is_reported(tmp_path, capsys):
    run(tmp_path, grade={"overrides": [{"outcome": "meld", "domain": "imprecision", "rating": 1, "reason": "x"}]})
    assert "grade override matches no summary-of-findings row" in capsys.readouterr().out


@pytest.mark.parametrize("grade, message", [
    ({"critical_outcomes": ["mortality"]}, "'mortality' is not an outcome of the registry"),
    ({"overrides": [{"outcome": "deaths", "domain": "imprecision", "rating": 1, "reason": "x"}]}, "outcome 'deaths'"),
    ({"overrides": [{"comparison": "cells", "outcome": "death", "domain": "imprecision", "rating": 1, "reason": "x"}]},
     "comparison 'cells' is not declared"),
    ({"overrides": [{"outcome": "death", "window": "month 5", "domain": "imprecision", "rating": 1, "reason": "x"}]},
     "window 'month 5' is not an analysis window"),
])
def test_a_grade_setting_naming_nothing_known_is_an_error(grade, message):
    with pytest.raises(ValueError, match=message):
        GradeSettings.from_config(grade).check(Settings.default(), load_registry(REGISTRY).outcomes)


@pytest.mark.parametrize("entry", [
    {"outcome": "death", "domain": "imprecision", "rating": 1},                       # no reason
    {"outcome": "death", "domain": "imprecision", "rating": 3, "reason": "x"},        # rating out of range
    {"outcome": "death", "domain": "precision", "rating": 1, "reason": "x"},          # unknown domain
])
def test_an_override_without_reason_or_with_an_unknown_domain_or_rating_is_refused(entry):
    import jsonschema

    with pytest.raises(jsonschema.ValidationError):
        GradeSettings.from_config({"overrides": [entry]})


def test_the_csv_holds_every_row_and_column_with_lists_joined(tmp_path):
    tables = run(tmp_path)
    with open(tables["csv"], newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["sof_id"] for r in rows] == list(tables["summary_of_findings"]["sof_id"])
    assert list(rows[0]) == SOF_TABLE.names
    assert rows[0]["study_ids"] == "S1; S2" and rows[0]["certainty_footnotes"].count("; ") >= 1


def test_evidence_gaps_cover_every_comparison_and_critical_outcome_window(tmp_path):
    gaps = run(tmp_path)["evidence_gaps"]
    assert list(gaps.columns) == EVIDENCE_GAPS.names
    settings = Settings.default()
    windows = [w.label for w in settings.windows]            # longest follow-up switched off in this run
    critical = GradeSettings.from_config({}).critical_outcomes
    cells = set(zip(gaps["comparison"], gaps["outcome"], gaps["window"]))
    expected = {(c.id, o, w) for c in settings.comparisons for o in critical for w in windows}
    assert cells == expected - {("cell_vs_control", "death", "month 3"), ("cell_vs_control", "albumin", "month 3")}
    meld = gaps[(gaps["comparison"] == "cell_vs_control") & (gaps["outcome"] == "meld") & (gaps["window"] == "month 6")]
    assert meld["gap"].iloc[0] == "MELD score at month 6: no controlled study reports it"
    assert set(gaps["comparison_label"]) == {c.label for c in settings.comparisons}


def test_the_plain_language_names_the_experimental_side_in_running_text():
    settings = Settings.from_config({}, [{"id": "g", "label": "G-CSF vs control", "experimental": {"classes": ["x"],
                                          "label": "G-CSF mobilisation"}, "control": {"classes": ["y"]}}])
    assert intervention_words(settings) == {"g": "G-CSF mobilisation"}
    assert intervention_words(Settings.from_config({}, [{"id": "c", "label": "Cells vs control", "experimental": {
        "classes": ["x"], "label": "Cell therapy"}, "control": {"classes": ["y"]}}])) == {"c": "cell therapy"}


def test_the_registry_reads_an_optional_minimal_important_difference(tmp_path):
    data = yaml.safe_load(REGISTRY.read_text(encoding="utf-8"))
    assert all("mid" not in spec for spec in data["outcomes"].values())   # none set: no published MID cited yet
    data["outcomes"]["albumin"]["mid"] = 5
    registry = tmp_path / "outcomes.yaml"
    registry.write_text(yaml.safe_dump(data), encoding="utf-8")
    (tmp_path / "interventions.yaml").write_text((REGISTRY.parent / "interventions.yaml").read_text(encoding="utf-8"))
    loaded = load_registry(registry)
    assert loaded.outcomes["albumin"].mid == 5.0 and loaded.outcomes["bilirubin"].mid is None
    for bad in (0, -1, "five", True):
        data["outcomes"]["albumin"]["mid"] = bad
        registry.write_text(yaml.safe_dump(data), encoding="utf-8")
        load_registry.cache_clear()
        with pytest.raises(ValueError, match="minimal important difference"):
            load_registry(registry)
    load_registry.cache_clear()


def test_a_not_cell_therapy_flag_does_not_make_evidence_indirect_the_comparison_matched_its_arms():
    from livertrials.synthesis.sof_tables import study_flags

    chars = pd.DataFrame({"study_id": ["G", "G", "L"], "study_flags": [
        ["not_cell_therapy: G-CSF only, no cells infused", "secondary_source: from a review"],
        ["not_cell_therapy: G-CSF only, no cells infused"], ["population_mismatch: children"]]})
    assert study_flags(chars) == {"G": ["secondary_source: from a review"], "L": ["population_mismatch: children"]}
