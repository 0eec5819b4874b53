"""The shipped corpus is a faithful transcription of the evidence sheet, and it validates."""

import csv
import filecmp
import shutil
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from livertrials.harmonize.study import process_study
from livertrials.io.evidence_sheet import import_sheet, study_ref
from livertrials.io.extraction import study_folders

SHEET = ROOT / "resources" / "evidence" / "extractions.csv"
COLLECTIONS = ("studies", "comparators")


def sheet_rows():
    with open(SHEET, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def transcribed_rows():
    rows = {}
    for collection in COLLECTIONS:
        for folder in study_folders(ROOT / "resources" / collection):
            with open(folder / "measurements.csv", newline="", encoding="utf-8") as handle:
                for r in csv.DictReader(handle):
                    assert r["row_id"] not in rows, f"{r['row_id']} transcribed twice"
                    rows[r["row_id"]] = dict(r, folder=folder.name, collection=collection)
    return rows


def test_every_sheet_row_is_transcribed_once_and_verbatim():
    transcribed = transcribed_rows()
    sheet = sheet_rows()
    assert set(transcribed) == {r["row_id"] for r in sheet}
    for source in sheet:
        copy = transcribed[source["row_id"]]
        ref = study_ref(source["study_id"])
        assert (copy["folder"], copy["collection"]) == (ref.folder_id, ref.collection)
        assert copy["quote"] == source["quote"]
        assert copy["outcome"] == source["outcome"]
        assert copy["arm_as_printed"] == source["arm"]
        # value: as printed; an annotation in the cell moves to note, "not printed" leaves it empty
        if source["value"] == "not printed":
            assert copy["value"] == "" and "not_printed" in copy["flags"]
        else:
            assert source["value"].startswith(copy["value"]) and copy["value"] != ""
        # unit: as printed, or empty when the sheet says it was not printed (the guess goes to unit_presumed)
        if source["unit"].startswith(("not printed", "unit truncated")):
            assert copy["unit"] == ""
        else:
            assert source["unit"].startswith(copy["unit"])
        assert source["statistic"].startswith(copy["statistic"])
        assert (copy["timepoint"] == source["timepoint"]) or (source["timepoint"] == "" and copy["timepoint"] == "not stated")


def test_transcription_is_reproducible(tmp_path):
    copy = tmp_path / "resources"
    for collection in COLLECTIONS:
        shutil.copytree(ROOT / "resources" / collection, copy / collection)
        for csv_file in (copy / collection).glob("*/measurements.csv"):
            csv_file.unlink()
    import_sheet(SHEET, copy)
    for collection in COLLECTIONS:
        for folder in study_folders(ROOT / "resources" / collection):
            assert filecmp.cmp(folder / "measurements.csv", copy / collection / folder.name / "measurements.csv", shallow=False), folder.name


@pytest.mark.parametrize("collection", COLLECTIONS)
def test_every_shipped_study_validates(registry, collection):
    for folder in study_folders(ROOT / "resources" / collection):
        records, _, issues = process_study(folder, collection, registry)
        errors = [str(i) for i in issues if i.severity == "error"]
        assert not errors, errors
        assert records, folder.name


def test_seed_studies_are_shipped():
    studies = ROOT / "resources" / "studies"
    for study_id in ("Lin2017", "ZhangJunfei2018", "Huang2012"):
        assert (studies / study_id / "study.yaml").is_file()
    zhang = yaml.safe_load((studies / "ZhangJunfei2018" / "study.yaml").read_text())
    assert [a["n_randomized"] for a in zhang["arms"]] == [20, 20, 20]
    assert (ROOT / "resources" / "comparators" / "LiJing2019" / "study.yaml").is_file()


def test_meta_analyses_are_comparators_not_trials():
    for study_id in ("LiJing2019", "Ding2024", "Pan2014", "Pankaj2015", "ESLD-MA-CN", "Cao2018", "Xue2018"):
        assert not (ROOT / "resources" / "studies" / study_id).exists()
        meta = yaml.safe_load((ROOT / "resources" / "comparators" / study_id / "study.yaml").read_text())
        assert meta["kind"] == "meta_analysis"
    assert not list((ROOT / "resources" / "studies").glob("Sun2020*"))


def test_study_ids_match_folders():
    for collection in COLLECTIONS:
        for folder in study_folders(ROOT / "resources" / collection):
            assert yaml.safe_load((folder / "study.yaml").read_text())["id"] == folder.name


def test_template_for_new_trials_is_valid(registry, tmp_path):
    folder = tmp_path / "YourStudyId2026"
    shutil.copytree(ROOT / "resources" / "template", folder)
    records, characteristics, issues = process_study(folder, "studies", registry)
    assert not [str(i) for i in issues if i.severity == "error"]
    assert records and characteristics
