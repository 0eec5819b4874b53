"""End to end: the Snakemake workflow on a temporary data folder.

The data folder holds only config/ and resources/; the workflow runs from this checkout with
``snakemake -s Snakefile -d DATA`` (how a reviewer keeps a review's data apart from the code).
One run holds the shipped corpus plus a new study folder and a broken one: the new study
must reach every output with no code change; the broken one must be reported and
excluded while everything else builds; then fixing it makes the run pass. A reviewer's GRADE override in
the copied config must reach the summary of findings and the report with its reason.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from conftest import ROOT, copy_project, minimal_meta, row, write_study

pytestmark = pytest.mark.slow


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir), *args],
                          cwd=workdir, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    work = tmp_path_factory.mktemp("project")
    copy_project(work, ("config", "resources"))
    write_study(work / "resources" / "studies" / "NewTrial2026", minimal_meta("NewTrial2026"), [
        row("N1", "cells", "baseline", "albumin", "mean", "28.5", "g/L"),
        row("N2", "cells", "baseline", "albumin", "sd", "3.1", "g/L"),
        row("N3", "cells", "week 12", "albumin", "mean", "32.0", "g/L"),
        row("N4", "cells", "week 12", "albumin", "sd", "3.4", "g/L"),
        row("N5", "control", "week 12", "albumin", "mean", "29.0", "g/L"),
        row("N6", "control", "week 12", "albumin", "sd", "3.0", "g/L"),
    ])
    # the synthetic patient-level example is not in the default corpus; here it joins as a study
    shutil.copytree(ROOT / "resources" / "examples" / "SYNTH-PLD-001", work / "resources" / "studies" / "SYNTH-PLD-001")
    write_study(work / "resources" / "studies" / "BrokenTrial", minimal_meta("BrokenTrial"), [
        row("B1", "cells", "week 4", "albumin", "mean", "400", "g/L"),  # 400 g/L: implausible
    ])
    config = yaml.safe_load((work / "config" / "config.yaml").read_text(encoding="utf-8"))
    config["grade"]["overrides"] = [OVERRIDE]
    (work / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    first = snakemake(work, "-c2", "--keep-going")
    return work, first


OVERRIDE = {"comparison": "cell_vs_control", "outcome": "death", "window": "longest follow-up",
            "domain": "indirectness", "rating": "serious",
            "reason": "workflow test: two of the five trials enrolled ACLF only <b>not bold</b>"}


def test_broken_study_fails_the_run_but_everything_else_builds(project):
    work, first = project
    assert first.returncode != 0
    for output in ("results/harmonized/outcomes.parquet", "results/harmonized/study_characteristics.parquet",
                   "results/figures/evidence_map.svg", "results/figures/arm_means_albumin.png"):
        assert (work / output).is_file(), output
    assert not (work / "results/validation/checked.txt").exists()
    report = (work / "results/validation/report.txt").read_text()
    assert "BrokenTrial" in report and "plausible range" in report and "B1" in report
    summary = json.loads((work / "results/validation/summary.json").read_text())
    assert list(summary["rejected_studies"]) == ["BrokenTrial"]
    assert "Traceback" not in first.stderr


def test_new_study_appears_in_every_output(project):
    work, _ = project
    outcomes = pq.read_table(work / "results/harmonized/outcomes.parquet").to_pandas()
    chars = pq.read_table(work / "results/harmonized/study_characteristics.parquet").to_pandas()
    assert "NewTrial2026" in set(outcomes["study_id"]) and "NewTrial2026" in set(chars["study_id"])
    assert "BrokenTrial" not in set(outcomes["study_id"])
    assert "NewTrial2026" in (work / "results/figures/evidence_map.svg").read_text()
    assert "NewTrial2026" in (work / "results/figures/arm_means_albumin.svg").read_text()


def test_patient_level_study_flows_to_the_harmonized_table(project):
    work, _ = project
    outcomes = pq.read_table(work / "results/harmonized/outcomes.parquet").to_pandas()
    synth = outcomes[outcomes["study_id"] == "SYNTH-PLD-001"]
    assert {"meld", "meld_na", "meld_3"} <= set(synth["outcome"])
    assert synth["method"].str.startswith("computed from 20 patient rows").all()


def test_every_shipped_study_is_harmonized(project):
    work, _ = project
    outcomes = pq.read_table(work / "results/harmonized/outcomes.parquet").to_pandas()
    shipped = {p.name for c in ("studies", "comparators") for p in (ROOT / "resources" / c).iterdir() if p.is_dir()}
    assert shipped <= set(outcomes["study_id"])


def test_outputs_have_explicit_schema_with_units(project):
    work, _ = project
    schema = pq.read_schema(work / "results/harmonized/outcomes.parquet")
    assert schema.field("timepoint_days").metadata[b"unit"] == b"days"
    assert b"description" in schema.field("source_row_ids").metadata


def test_fixing_the_study_makes_the_run_pass(project):
    work, _ = project
    broken = work / "resources" / "studies" / "BrokenTrial" / "measurements.csv"
    broken.write_text(broken.read_text().replace(",400,", ",40,"))
    second = snakemake(work, "-c2", "--keep-going")
    assert second.returncode == 0, second.stderr[-3000:]
    assert (work / "results/validation/checked.txt").is_file()
    outcomes = pq.read_table(work / "results/harmonized/outcomes.parquet").to_pandas()
    assert "BrokenTrial" in set(outcomes["study_id"])
    # nothing left to do: a no-op rerun
    dry = snakemake(work, "-n", "-q")
    assert "Nothing to be done" in dry.stdout + dry.stderr or dry.stdout.strip() == ""


def test_lint_passes(project):
    work, _ = project
    lint = snakemake(work, "--lint")
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_manifest_and_crate_describe_the_workflow_from_its_own_folder(project):
    """The workflow files are hashed and packed from the Snakefile's folder, named relative to it."""
    work, _ = project
    manifest = json.loads((work / "results/provenance/manifest.json").read_text())
    assert "Snakefile" in manifest["workflow_files"]
    assert "workflow/rules/harmonize.smk" in manifest["workflow_files"]
    assert not any(name.startswith("/") for name in manifest["workflow_files"])
    crate = json.loads((work / "results/provenance/ro-crate/ro-crate-metadata.json").read_text())
    ids = {entity["@id"] for entity in crate["@graph"]}
    assert {"Snakefile", "workflow/rules/harmonize.smk", "scripts/synthesize.py"} <= ids
    assert not (work / "Snakefile").exists()


def test_summary_of_findings_and_evidence_gaps_for_every_comparison(project):
    work, _ = project
    config = yaml.safe_load((work / "config" / "config.yaml").read_text(encoding="utf-8"))
    sof = pq.read_table(work / "results/synthesis/summary_of_findings.parquet").to_pandas()
    gaps = pq.read_table(work / "results/synthesis/evidence_gaps.parquet").to_pandas()
    rob = pq.read_table(work / "results/harmonized/risk_of_bias.parquet").to_pandas()
    windows = {w["label"] for w in config["synthesis"]["windows"]} | {"longest follow-up"}
    for comparison in (c["id"] for c in config["comparisons"]):
        rows, missing = sof[sof["comparison"] == comparison], gaps[gaps["comparison"] == comparison]
        assert len(rows) + len(missing), comparison
        # every critical outcome x window is either a SoF row pooling two or more studies or a gap
        for outcome in config["grade"]["critical_outcomes"]:
            pooled = set(rows.loc[(rows["outcome"] == outcome) & (rows["k"] >= 2), "window"])
            gap = set(missing.loc[missing["outcome"] == outcome, "window"])
            assert not pooled & gap and pooled | gap == windows, (comparison, outcome)
    assert sof["sof_id"].is_unique and sof["certainty"].isin(["high", "moderate", "low", "very low"]).all()
    for domain in ("risk_of_bias", "inconsistency", "indirectness", "imprecision", "publication_bias"):
        assert sof[f"{domain}_reason"].str.len().gt(0).all(), domain
    csv = (work / "results/synthesis/summary_of_findings.csv").read_text(encoding="utf-8")
    assert csv.count("\n") >= len(sof) + 1 and all(i in csv for i in sof["sof_id"])
    assert "NewTrial2026" in set(rob["study_id"])
    index = json.loads((work / "results/risk_of_bias/index.json").read_text())
    assert {b["sof_id"] for b in index["bars"]} == set(sof.loc[sof["k"] >= 2, "sof_id"])
    # livertrials audit <sof id> prints the trail down to the printed quotes
    audit = subprocess.run([sys.executable, "-m", "livertrials.cli", "audit", sof["sof_id"].iloc[0], "--results",
                            str(work / "results")], capture_output=True, text=True, timeout=120)
    assert audit.returncode == 0, audit.stderr
    assert "summary of findings" in audit.stdout and "quote:" in audit.stdout


def test_a_grade_override_reaches_the_table_and_the_report_with_its_reason(project):
    work, _ = project
    sof = pq.read_table(work / "results/synthesis/summary_of_findings.parquet").to_pandas()
    row = sof[(sof["comparison"] == "cell_vs_control") & (sof["outcome"] == "death")
              & (sof["window"] == "longest follow-up")].iloc[0]
    assert row["indirectness_overridden"] and row["indirectness_change"] == 1
    assert row["indirectness_reason"] == OVERRIDE["reason"]
    assert any(OVERRIDE["reason"] in note for note in row["certainty_footnotes"])
    assert list(row["rule_ratings"]) and "the rule rated" in row["rule_ratings"][0]
    page = (work / "results/report/index.html").read_text(encoding="utf-8")
    shown = page[page.index('<section id="sof">'):page.index('<section id="gaps">')]
    assert "workflow test: two of the five trials enrolled ACLF only &lt;b&gt;not bold&lt;/b&gt;" in shown
