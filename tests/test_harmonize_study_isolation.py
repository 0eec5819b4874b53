"""Whatever goes wrong with one study, foreseen by a rule or not, excludes that study only.

Fault injection: an unexpected exception is raised inside each per-study step (monkeypatch) while a
shard of two studies is built; the broken study is excluded with an error Issue naming the study, the
file and the step, and the other study is built as if alone. An arm size of 10**23 (too large for
the int64 columns) is a validation error; if validation let it through, the shard still builds.
"""

from __future__ import annotations

import importlib

import pandas as pd
import pytest
from conftest import ROOT, minimal_meta, row, write_study

from livertrials.harmonize.shards import build_shard
from livertrials.harmonize.study import process_study
from livertrials.io.tables import read_table

REGISTRY_PATH = ROOT / "resources" / "registry" / "outcomes.yaml"
TABLES = ("harmonized", "characteristics", "issues", "lineage")


def full_study(folder):
    """A study with measurements.csv (one presumed unit: a warning) and patients.csv: every step runs."""
    rows = [row("r1", "cells", "baseline", "albumin", "mean", "30.1", "g/L"),
            row("r2", "cells", "baseline", "albumin", "sd", "4.2", "g/L"),
            row("r3", "control", "baseline", "albumin", "mean", "31.0", "", unit_presumed="g/L"),
            row("r4", "control", "baseline", "albumin", "sd", "3.9", "g/L")]
    write_study(folder, minimal_meta(folder.name), rows)
    patients = [dict(patient_id=f"p{i}", arm=arm, visit=visit, bilirubin=1.0 + i / 10, bilirubin_unit="mg/dL", inr=1.2,
                     creatinine=1.0, creatinine_unit="mg/dL", sex="F", dialysis=0)
                for i, arm in enumerate(["cells", "control"]) for visit in ("baseline", "week 4")]
    pd.DataFrame(patients).to_csv(folder / "patients.csv", index=False)
    return folder


def build(tmp_path, folders, name="out"):
    out = tmp_path / name
    build_shard(folders, ["studies"] * len(folders), REGISTRY_PATH, out)
    return {table: read_table(out / f"{table}.parquet") for table in TABLES}


# (step named in the message, module, function it calls, file named by the issue)
STEPS = [
    ("reading study.yaml", "livertrials.harmonize.study", "read_study_yaml", "study.yaml"),
    ("reading measurements.csv", "livertrials.harmonize.study", "load_measurements", "measurements.csv"),
    ("validating study.yaml", "livertrials.harmonize.study", "validate_study_meta", "study.yaml"),
    ("validating measurements.csv", "livertrials.harmonize.study", "validate_rows", "measurements.csv"),
    ("reading patients.csv", "livertrials.harmonize.patients", "read_patients", "patients.csv"),
    ("validating patients.csv", "livertrials.harmonize.patients", "validate_patients", "patients.csv"),
    ("harmonizing measurements.csv", "livertrials.harmonize.study", "harmonize_study", "measurements.csv"),
    ("scoring patients.csv", "livertrials.harmonize.patients", "score_patients", "patients.csv"),
    ("recording the lineage of its records", "livertrials.harmonize.study", "record_lineage", "Broken"),
    ("describing the study (characteristics)", "livertrials.harmonize.study", "characteristics", "study.yaml"),
]


def test_the_full_study_runs_every_step_and_builds(tmp_path, registry):
    records, chars, issues = process_study(full_study(tmp_path / "Full"), "studies", registry)
    assert [i.rule for i in issues] == ["presumed unit"]
    assert {r["outcome"] for r in records} >= {"albumin", "meld", "bilirubin"} and len(chars) == 2


@pytest.mark.parametrize("doing, module, name, file", STEPS, ids=[s[0] for s in STEPS])
def test_an_unexpected_exception_in_any_step_excludes_that_study_only(tmp_path, monkeypatch, doing, module, name, file):
    broken, fine = full_study(tmp_path / "Broken"), full_study(tmp_path / "Fine")
    alone = build(tmp_path, [fine], "alone")
    real = getattr(importlib.import_module(module), name)
    calls = []

    def fault(*args, **kwargs):  # the first study (Broken) meets the fault, the second the real function
        calls.append(name)
        if len(calls) == 1:
            raise RuntimeError("injected fault")
        return real(*args, **kwargs)

    monkeypatch.setattr(importlib.import_module(module), name, fault)
    tables = build(tmp_path, [broken, fine])
    assert len(calls) == 2, "the step was not reached for both studies"
    errors = tables["issues"][tables["issues"]["severity"] == "error"]
    assert errors[["study", "rule"]].values.tolist() == [["Broken", "internal error"]]
    issue = errors.iloc[0]
    assert issue["file"].endswith(file)
    assert f"while {doing} (RuntimeError: injected fault)" in issue["message"]
    assert "the study is excluded and every other study is still built" in issue["message"]
    for table in ("harmonized", "characteristics", "lineage"):
        assert set(tables[table]["study_id"]) == {"Fine"}, table
        pd.testing.assert_frame_equal(tables[table], alone[table])  # as if built alone
    others = tables["issues"][tables["issues"]["study"] == "Fine"].reset_index(drop=True)
    pd.testing.assert_frame_equal(others, alone["issues"], check_dtype=False)  # row: NaN elsewhere makes it float


def test_an_arm_size_of_10_to_the_23_is_a_validation_error(tmp_path, registry):
    huge = write_study(tmp_path / "Huge", minimal_meta("Huge", n_cells=10**23),
                       [row("r1", "cells", "baseline", "albumin", "mean", "30", "g/L")])
    fine = full_study(tmp_path / "Fine")
    tables = build(tmp_path, [huge, fine])  # used to stop the whole shard with OverflowError
    errors = tables["issues"][tables["issues"]["severity"] == "error"]
    assert errors["study"].tolist() == ["Huge"] and errors["column"].tolist() == ["arms.0.n_randomized"]
    assert errors["message"].iloc[0] == "'arms.0.n_randomized' must be at most 1,000,000, not 100000000000000000000000"
    assert set(tables["harmonized"]["study_id"]) == {"Fine"}


def test_a_value_too_large_for_its_column_excludes_only_its_study(tmp_path, monkeypatch):
    """Had validation not stopped it, the 10**23 reaches the int64 columns: the shard still builds."""
    import livertrials.harmonize.study as study_module

    real = study_module.validate_study_meta
    monkeypatch.setattr(study_module, "validate_study_meta", lambda study: [] if study.study_id == "Huge" else real(study))
    huge = write_study(tmp_path / "Huge", minimal_meta("Huge", n_cells=10**23),
                       [row("r1", "cells", "baseline", "albumin", "mean", "30", "g/L")])
    fine = full_study(tmp_path / "Fine")
    tables = build(tmp_path, [huge, fine])
    errors = tables["issues"][tables["issues"]["severity"] == "error"]
    assert errors["study"].tolist() == ["Huge"] and errors["rule"].tolist() == ["internal error"]
    assert "while writing its rows to the harmonized tables (OverflowError" in errors["message"].iloc[0]
    assert errors["file"].iloc[0] == str(huge)
    for table in ("harmonized", "characteristics", "lineage"):
        assert set(tables[table]["study_id"]) == {"Fine"}, table
