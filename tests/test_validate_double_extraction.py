"""Double extraction: every disagreement between measurements.csv and measurements.second.csv, in the CLI, the
Parquet table, the exclusion setting and the report section."""

from __future__ import annotations

import csv
import json

import pyarrow.parquet as pq
import pytest
from conftest import ROOT, minimal_meta, row, write_study

from livertrials.cli import main
from livertrials.harmonize.shards import build_shard, merge_shards
from livertrials.io.extraction import MEASUREMENT_COLUMNS
from livertrials.io.tables import ISSUES, read_table, to_table
from livertrials.report.qa_sections import extraction_checks_section
from livertrials.validate.double_extraction import (
    COMPARED_KEY,
    DOUBLE_EXTRACTION,
    RULE,
    SECOND_FILE,
    compare_folder,
    compared_studies,
    disagreement_issues,
    write_double_extraction,
)

REGISTRY_PATH = ROOT / "resources" / "registry" / "outcomes.yaml"
FIRST = [row("R1", "cells", "baseline", "albumin", "mean", "30.1", "g/L"),
         row("R2", "cells", "baseline", "albumin", "sd", "4.2", "g/L"),
         row("R3", "control", "baseline", "albumin", "mean", "31.0", "g/L"),
         row("R4", "control", "baseline", "albumin", "sd", "3.9", "g/L"),
         row("R5", "cells_vs_control", "month 3", "meld", "p_value", "<0.05", "")]


def study(tmp_path, second, first=FIRST, name="Double"):
    folder = write_study(tmp_path / name, minimal_meta(name), first)
    if second is not None:
        with open(folder / SECOND_FILE, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=MEASUREMENT_COLUMNS)
            writer.writeheader()
            writer.writerows(second)
    return folder


def edited(rows, row_id, **changes):
    return [dict(r, **changes) if r["row_id"] == row_id else dict(r) for r in rows]


def found(folder, registry=None):
    return [(d.kind, d.column, d.row_id, d.second_row_id, d.first, d.second) for d in compare_folder(folder, registry=registry)]


def test_two_identical_extractions_agree_and_a_folder_without_a_second_has_nothing_to_compare(tmp_path):
    assert compare_folder(study(tmp_path, FIRST)) == []
    assert compare_folder(study(tmp_path, None, name="Single")) == []


@pytest.mark.parametrize("column, first, second", [
    ("value", "30.1", "31.0"), ("unit", "g/L", "g/dL"), ("arm", "cells", "control"), ("timepoint", "baseline", "week 4"),
    ("statistic", "mean", "median"), ("outcome", "albumin", "bilirubin"), ("unit_presumed", "", "g/L")])
def test_each_column_of_a_pair_matched_by_row_id_is_compared(tmp_path, column, first, second):
    folder = study(tmp_path, edited(FIRST, "R1", **{column: second}))
    assert found(folder) == [("different", column, "R1", "R1", first, second)]
    (one,) = compare_folder(folder)
    assert (one.line, one.second_line, one.matched_by) == (2, 2, "row_id")
    assert f"{column} differs" in one.message and repr(second) in one.message


def test_the_same_number_or_reading_is_no_disagreement(tmp_path, registry):
    same = edited(edited(FIRST, "R1", value="30.10", unit=" g/L "), "R2", outcome="ALB", statistic="SD")
    assert found(study(tmp_path, same), registry) == []
    assert ("different", "outcome", "R2", "R2", "albumin", "ALB") in found(study(tmp_path, same, name="Raw"))  # as written
    assert found(study(tmp_path, edited(FIRST, "R1", unit="g/l"), name="Spelling"), registry) == []
    assert found(study(tmp_path, edited(FIRST, "R5", value="0.05"), name="P"), registry) == [
        ("different", "value", "R5", "R5", "<0.05", "0.05")]


def test_rows_are_matched_by_arm_timepoint_outcome_statistic_when_the_ids_differ(tmp_path):
    second = [dict(r, row_id=f"S{i}") for i, r in enumerate(FIRST, 1)]
    second[2]["value"] = "13.0"
    (one,) = compare_folder(study(tmp_path, second))
    assert (one.kind, one.column, one.row_id, one.second_row_id, one.matched_by) == (
        "different", "value", "R3", "S3", "arm+timepoint+outcome+statistic")


def test_rows_only_one_extractor_has_are_missing_rows(tmp_path):
    extra = row("X9", "control", "week 4", "albumin", "mean", "33", "g/L")
    folder = study(tmp_path, [r for r in FIRST if r["row_id"] != "R4"] + [extra])
    result = compare_folder(folder)
    assert [(d.kind, d.row_id, d.second_row_id, d.line, d.second_line) for d in result] == [
        ("missing in second", "R4", "", 5, None), ("missing in first", "", "X9", None, 6)]
    assert "control / week 4 / albumin / mean = 33 g/L" in result[1].second


def test_an_unreadable_second_file_is_one_disagreement_not_a_crash(tmp_path):
    folder = study(tmp_path, FIRST)
    (folder / SECOND_FILE).write_text("row_id;arm;value\nR1;cells;1\n", encoding="utf-8")
    (one,) = compare_folder(folder)
    assert one.kind == "unreadable" and "semicolons" in one.message and SECOND_FILE in one.message


def test_the_table_has_described_fields_and_names_the_studies_compared(tmp_path, registry):
    agreeing = study(tmp_path, FIRST, name="Agree")
    differing = study(tmp_path, edited(FIRST, "R1", value="3.01"), name="Differ")
    single = study(tmp_path, None, name="Single")
    out = tmp_path / "double_extraction.parquet"
    assert write_double_extraction([agreeing, differing, single], ["studies"] * 3, registry, out, {"k": "v"}) == 1
    schema = pq.read_schema(out)
    assert schema.names == DOUBLE_EXTRACTION.names
    assert all(schema.field(n).metadata[b"description"] for n in schema.names)
    assert schema.metadata[b"k"] == b"v" and json.loads(schema.metadata[COMPARED_KEY.encode()]) == ["Agree", "Differ"]
    assert compared_studies(out) == ["Agree", "Differ"]
    assert read_table(out)[["study", "column", "first", "second"]].values.tolist() == [["Differ", "value", "30.1", "3.01"]]


def test_each_disagreement_is_an_error_naming_the_file_and_line(tmp_path):
    folder = study(tmp_path, edited([r for r in FIRST if r["row_id"] != "R4"], "R1", value="3.01")
                   + [row("X9", "control", "week 4", "albumin", "mean", "33", "g/L")])
    out = tmp_path / "d.parquet"
    write_double_extraction([folder], ["studies"], None, out)
    issues = disagreement_issues(read_table(out))
    assert [(i.severity, i.rule, i.file.rsplit("/", 1)[1], i.row, i.row_id, i.column, i.value) for i in issues] == [
        ("error", RULE, "measurements.csv", 2, "R1", "value", "30.1"),   # the value as the named file has it
        ("error", RULE, "measurements.csv", 5, "R4", "", ""),
        ("error", RULE, SECOND_FILE, 6, "X9", "", "")]


def test_unresolved_disagreements_exclude_the_study_when_set(tmp_path, registry):
    differing = study(tmp_path, edited(FIRST, "R1", value="3.01"), name="Differ")
    fine = study(tmp_path, None, name="Fine")
    build_shard([differing, fine], ["studies", "studies"], REGISTRY_PATH, tmp_path / "shard")
    table = tmp_path / "double.parquet"
    write_double_extraction([differing, fine], ["studies"] * 2, registry, table)
    names = ("harmonized", "characteristics", "issues", "lineage", "summary", "report")
    for setting in (False, True):
        out = tmp_path / str(setting)
        outputs = {n: out / (f"{n}.json" if n == "summary" else f"{n}.txt" if n == "report" else f"{n}.parquet") for n in names}
        merge_shards([tmp_path / "shard"], outputs, double_extraction=[table] if setting else [])
        harmonized = read_table(outputs["harmonized"])
        assert ("Differ" in set(harmonized["study_id"])) is not setting and "Fine" in set(harmonized["study_id"])
        summary = json.loads(outputs["summary"].read_text())
        assert summary["rejected_studies"] == ({"Differ": 1} if setting else {})
    assert "unresolved double extraction: value differs" in (tmp_path / "True" / "report.txt").read_text()


def run(capsys, *argv):
    code = main(["compare-extractions", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_compare_extractions_prints_every_disagreement(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    differing = study(tmp_path, edited(FIRST, "R1", value="3.01", unit="g/dL"), name="Differ")
    agreeing = study(tmp_path, FIRST, name="Agree")
    single = study(tmp_path, None, name="Single")
    code, out, err = run(capsys, "--registry", REGISTRY_PATH, "Differ", "Agree", "Single")
    assert code == 1 and err == ""
    assert out.splitlines() == [
        "DISAGREE Differ: value differs: '30.1' in measurements.csv line 2 (row_id 'R1'), '3.01' in "
        "measurements.second.csv line 2 (matched by row_id)",
        "DISAGREE Differ: unit differs: 'g/L' in measurements.csv line 2 (row_id 'R1'), 'g/dL' in "
        "measurements.second.csv line 2 (matched by row_id)",
        "Differ: 2 disagreements", "Agree: the two extractions agree",
        f"Single: no second extraction ({SECOND_FILE}) to compare"]
    assert run(capsys, "--registry", REGISTRY_PATH, agreeing, single)[0] == 0
    code, out, err = run(capsys, differing)   # no config found: compared as written, and said so
    assert code == 1 and "compared as written" in err
    code, out, err = run(capsys, "--registry", tmp_path / "missing.yaml", differing)
    assert code == 2 and out == "" and err.count("\n") == 1


def test_the_report_section_counts_and_lists_both_checks(tmp_path, registry):
    hostile = "<script>alert(1)</script>"
    differing = study(tmp_path, edited(FIRST, "R1", value=hostile), name="Differ")
    (tmp_path / "results" / "validation").mkdir(parents=True)
    write_double_extraction([differing], ["studies"], registry, tmp_path / "results" / "validation" / "double_extraction.parquet")
    issues = to_table([{"issue_id": "i", "study": "Q", "file": "f", "row": 7, "row_id": "E7", "column": "value",
                        "value": "38.4", "rule": "value in quote", "message": f"the value '38.4' {hostile}",
                        "severity": "warning"}], ISSUES).to_pandas()
    html = extraction_checks_section(tmp_path / "results", issues, {"exclude_unresolved_double_extraction": False})
    assert 'id="extraction-checks"' in html
    assert "1 row with a value that does not appear in its own quote" in html and "<td>E7</td>" in html
    assert "1 study with a second extraction (Differ): 1 disagreement in 1 of them" in html
    assert hostile not in html and "&lt;script&gt;" in html
    empty = extraction_checks_section(tmp_path / "nothing", issues.iloc[0:0], {})
    assert "0 rows with a value" in empty and "No double-extraction table" in empty


def test_the_report_links_the_section():
    from livertrials.report.page import SECTIONS

    assert ("extraction-checks", "Extraction checks") in SECTIONS
