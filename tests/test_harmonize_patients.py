"""Patient-level input: validated, scored per patient-visit, summarized per arm x visit."""

import filecmp
import math

import pandas as pd
import pytest
from conftest import ROOT, minimal_meta, write_study

from livertrials.harmonize.study import process_study
from livertrials.io.synthetic import write_patient_level_example


def patient_study(tmp_path, rows):
    folder = tmp_path / "PLD1"
    meta = minimal_meta("PLD1")
    write_study(folder, meta, [])
    (folder / "measurements.csv").unlink()
    pd.DataFrame(rows).to_csv(folder / "patients.csv", index=False)
    return folder


def patient(pid, arm, visit, bili, inr, creat, unit="mg/dL", **extra):
    base = dict(patient_id=pid, arm=arm, visit=visit, bilirubin=bili, bilirubin_unit=unit, inr=inr,
                creatinine=creat, creatinine_unit=unit, sex="M", dialysis=0)
    base.update(extra)
    return base


def test_scores_are_summarized_per_arm_and_visit(tmp_path, registry):
    # meld_vectors.csv U03 (bili 4.2, INR 1.2, creat 1.9 mg/dL) -> 20 and U01 (all 1.0) -> 6
    folder = patient_study(tmp_path, [patient("p1", "cells", "week 4", 4.2, 1.2, 1.9),
                                      patient("p2", "cells", "week 4", 1.0, 1.0, 1.0)])
    records, _, issues = process_study(folder, "studies", registry)
    assert not [str(i) for i in issues if i.severity == "error"]
    meld = next(r for r in records if r["outcome"] == "meld")
    assert meld["n"] == 2 and meld["mean"] == 13 and meld["sd"] == pytest.approx(math.sqrt(98))
    assert meld["median"] == 13 and meld["minimum"] == 6 and meld["maximum"] == 20
    assert meld["meld_variant"] == "UNOS" and meld["method"] == "computed from 2 patient rows (patients.csv)"
    assert meld["source_row_ids"] == ["patients.csv:2", "patients.csv:3"]
    bilirubin = next(r for r in records if r["outcome"] == "bilirubin")
    assert bilirubin["mean"] == pytest.approx((4.2 + 1.0) / 2 * 17.1)  # canonical umol/L
    assert "meld_3" not in {r["outcome"] for r in records}  # needs albumin


def test_dialysis_sets_creatinine_to_four(tmp_path, registry):
    # OPTN 9.1.D: dialysis -> creatinine 4.0; with bili 3.0, INR 2.0 the score equals meld_vectors U04 (32)
    folder = patient_study(tmp_path, [patient("p1", "cells", "baseline", 3.0, 2.0, 1.1, dialysis=1)])
    records, _, _ = process_study(folder, "studies", registry)
    assert next(r for r in records if r["outcome"] == "meld")["mean"] == 32


@pytest.mark.parametrize("change, column", [
    ({"arm": "nope"}, "arm"),
    ({"sex": "X"}, "sex"),
    ({"bilirubin": -1}, "bilirubin"),
    ({"bilirubin_unit": "furlongs"}, "bilirubin_unit"),
    ({"visit": "someday"}, "visit"),
])
def test_bad_patient_rows_are_rejected_with_line_and_column(tmp_path, registry, change, column):
    bad = dict(patient("p2", "cells", "baseline", 2.0, 1.5, 1.0), **change)
    folder = patient_study(tmp_path, [patient("p1", "cells", "baseline", 2.0, 1.5, 1.0), bad])
    records, _, issues = process_study(folder, "studies", registry)
    assert records == []
    assert any(i.column == column and i.row == 3 and "patients.csv" in i.file for i in issues), [str(i) for i in issues]


def test_duplicate_patient_visit_is_rejected(tmp_path, registry):
    folder = patient_study(tmp_path, [patient("p1", "cells", "baseline", 2.0, 1.5, 1.0)] * 2)
    records, _, issues = process_study(folder, "studies", registry)
    assert records == [] and any("one row per patient and visit" in i.message for i in issues)


def test_synthetic_example_is_reproducible_and_builds(tmp_path, registry):
    write_patient_level_example(tmp_path / "SYNTH-PLD-001")
    shipped = ROOT / "resources" / "examples" / "SYNTH-PLD-001"
    for name in ("study.yaml", "patients.csv"):
        assert filecmp.cmp(shipped / name, tmp_path / "SYNTH-PLD-001" / name, shallow=False)
    records, _, issues = process_study(shipped, "studies", registry)
    assert not issues
    outcomes = {r["outcome"] for r in records}
    assert {"meld", "meld_na", "meld_3", "albi", "albumin", "bilirubin", "inr"} <= outcomes
    assert all("from_patient_level" in r["flags"] for r in records)
    assert "synthetic" in (shipped / "study.yaml").read_text().lower()
