"""The shipped corpus is a faithful transcription of both evidence sheets, and it validates."""

import csv
import filecmp
import re
import shutil

import pytest
import yaml
from conftest import ROOT

from livertrials.harmonize.study import process_study
from livertrials.io.evidence_sheet import SHEETS, import_sheet, study_ref
from livertrials.io.extraction import study_folders

SHEET_FILES = [ROOT / sheet for sheet in SHEETS]
ROWS_PER_SHEET = {"extractions.csv": 552, "extractions_2.csv": 203}  # as the sheets' README counts them
COLLECTIONS = ("studies", "comparators")
SECONDARY = re.compile(r"\[[^\]]*secondary source", re.IGNORECASE)
META_ANALYSES = ("LiJing2019", "Ding2024", "Pan2014", "Pankaj2015", "ESLD-MA-CN", "Cao2018", "Xue2018",
                 "Yang2016_GCSF_MA", "Hou2021_GCSF_ACLF_MA", "QiuB_GCSF_ACLF_MA", "Marot2020_GCSF_AH_MA",
                 "TJG2019_BMDSC_MA", "Eureka2016_SC31_MA")
# the second sheet's README: G-CSF trials are a different intervention (mobilisation), never a cell-therapy pool
GCSF_TRIALS = ("Prajapati2017", "De2021", "Kedarisetty2015", "Venkitaraman2022", "Verma2018", "Haque2020",
               "Philips2019_GCSF_HC", "Garg2012")


def sheet_rows():
    rows = []
    for sheet in SHEET_FILES:
        with open(sheet, newline="", encoding="utf-8") as handle:
            rows += [dict(r, sheet=sheet.name) for r in csv.DictReader(handle)]
    return rows


def test_both_sheets_are_shipped_in_full():
    rows = sheet_rows()
    assert {name: sum(r["sheet"] == name for r in rows) for name in ROWS_PER_SHEET} == ROWS_PER_SHEET
    assert len({r["row_id"] for r in rows}) == len(rows)


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
        assert copy["note"].endswith(f"evidence sheet: {source['sheet']}")  # provenance: the sheet it came from
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
        # timepoint: as printed; empty -> "not stated"; unreadable -> a readable form with the printed text kept
        # as its qualifier, and a note saying so
        printed = source["timepoint"]
        assert (copy["timepoint"] == printed or (printed == "" and copy["timepoint"] == "not stated")
                or (copy["timepoint"].endswith(f"({printed})") and f"timepoint printed as {printed!r}" in copy["note"]))
        # caveats the sheet wrote into the quote or the arm label are flags a sensitivity analysis can exclude
        flags = copy["flags"].split(";")
        assert ("secondary_source" in flags) == bool(SECONDARY.search(source["quote"])), source["row_id"]
        if re.search(r"first value of pair|second value of pair|unlabelled|probably", source["arm"], re.IGNORECASE):
            assert "arm_attribution_uncertain" in flags, source["row_id"]


def test_transcription_is_reproducible(tmp_path):
    copy = tmp_path / "resources"
    for collection in COLLECTIONS:
        shutil.copytree(ROOT / "resources" / collection, copy / collection)
        for csv_file in (copy / collection).glob("*/measurements.csv"):
            csv_file.unlink()
    import_sheet(SHEET_FILES, copy)
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
    for study_id in META_ANALYSES:
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


def test_every_arm_names_a_registered_intervention(registry):
    for collection in COLLECTIONS:
        for folder in study_folders(ROOT / "resources" / collection):
            for arm in yaml.safe_load((folder / "study.yaml").read_text(encoding="utf-8"))["arms"]:
                assert arm.get("intervention") in registry.interventions, (folder.name, arm["id"])
                if arm["role"] == "all":
                    assert arm["intervention"] == "all_arms", (folder.name, arm["id"])


def test_gcsf_trials_are_mobilisation_not_cell_therapy(registry):
    for study_id in GCSF_TRIALS:
        meta = yaml.safe_load((ROOT / "resources" / "studies" / study_id / "study.yaml").read_text(encoding="utf-8"))
        classes = {registry.interventions[a["intervention"]].class_id for a in meta["arms"]}
        assert "cell_therapy" not in classes and "mobilisation" in classes, study_id
        assert "not_cell_therapy" in {f["code"] for f in meta["flags"]}, study_id


def test_risk_of_bias_support_is_verbatim_from_the_named_sheet_row():
    """Every shipped judgement quotes its own study's sheet row: source names the sheet and row
    ("extractions.csv E0370 (abstract, ...)"), support is a verbatim part of that row's quote."""
    rows = {(r["sheet"], r["row_id"]): r for r in sheet_rows()}
    transcribed = transcribed_rows()
    assessed = 0
    for folder in study_folders(ROOT / "resources" / "studies"):
        assessment = yaml.safe_load((folder / "study.yaml").read_text(encoding="utf-8")).get("risk_of_bias")
        if assessment is None:
            continue
        assessed += 1
        for entry in [*assessment["domains"], *([assessment["overall"]] if "overall" in assessment else [])]:
            where = (folder.name, entry.get("domain", "overall"))
            if entry["judgement"] == "no_information":   # nothing to quote
                continue
            named = re.match(r"(extractions(?:_2)?\.csv) (E\d{4})\b", entry["source"])
            assert named, (*where, "source must start with the sheet and row id", entry["source"])
            sheet, row_id = named.groups()
            assert (sheet, row_id) in rows, (*where, f"{row_id} is not a row of {sheet}")
            assert transcribed[row_id]["folder"] == folder.name, (*where, f"{row_id} is another study's row")
            assert entry["support"] in rows[sheet, row_id]["quote"], (*where, "support is not verbatim", row_id)
    assert assessed > 0


@pytest.mark.parametrize("printed, written", [
    ("month 6", "month 6"),
    ("", "not stated"),
    ("randomisation", "baseline (randomisation)"),
    ("within 1 year (not explicitly stated for this arm)", "first 1 year (within 1 year (not explicitly stated for this arm))"),
    ("within 3 months", "first 3 months (within 3 months)"),
    ("after 6 months", "not stated (after 6 months)"),
])
def test_unreadable_timepoints_keep_the_printed_text(printed, written):
    from livertrials.io.evidence_sheet import readable_timepoint
    from livertrials.io.timepoints import parse_timepoint

    timepoint, note = readable_timepoint(printed)
    assert timepoint == written
    parse_timepoint(timepoint)
    assert (note == "") == (printed == written)


def test_a_row_id_in_two_sheets_is_refused(tmp_path):
    rows = sheet_rows()
    header = [k for k in rows[0] if k != "sheet"]
    for name in ("a.csv", "b.csv"):
        with open(tmp_path / name, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=header, extrasaction="ignore")
            writer.writeheader()
            writer.writerow(rows[0])
    with pytest.raises(ValueError, match=f"row_id {rows[0]['row_id']} is also in a.csv"):
        import_sheet([tmp_path / "a.csv", tmp_path / "b.csv"], tmp_path / "resources")
