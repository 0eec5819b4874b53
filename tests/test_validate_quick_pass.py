"""The quick pass over measurements.csv (validate.measurement_schema.passes_quickly) never changes an issue.

It evaluates the rules of the pandera schema without pandera and may only say "valid" where pandera would
too; anything else goes to pandera. Checked on every case of the bad-input corpus (tests/bad_inputs), every
shipped study and a few synthetic ones (the corpus the speed is for): the issues with the quick pass equal
those of pandera alone, and the quick pass says "valid" exactly when pandera does (so valid studies do skip
pandera). Then one bad cell per rule, and unusual tables (a null, an object column, a missing column, ...).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from pathlib import Path

import pandas as pd
import pytest
from pandera.errors import SchemaErrors

from livertrials.io.extraction import ExtractionReadError, load_study
from livertrials.validate import rows
from livertrials.validate.measurement_schema import accepted_dtype, measurement_schema, passes_quickly
from livertrials.validate.rows import study_rules, validate_measurements

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "bad_inputs"
BAD_INPUTS = sorted(p for p in CORPUS.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))
SHIPPED = sorted(p for c in ("studies", "comparators") for p in (ROOT / "resources" / c).iterdir() if p.is_dir())
SYNTHETIC = 8

# (column, rule) -> (index of the row in base_valid, the cells that break that rule and no other schema rule)
BAD_CELLS = {
    ("row_id", "not empty"): (0, {"row_id": " "}),
    ("row_id", "unique row_id"): (1, {"row_id": "E01"}),
    ("arm", "known arm"): (1, {"arm": "celll"}),
    ("outcome", "known outcome"): (1, {"outcome": "albumn"}),
    ("statistic", "known statistic"): (1, {"statistic": "meen"}),
    ("timepoint", "readable timepoint"): (1, {"timepoint": "week twenty"}),
    ("source", "not empty"): (1, {"source": ""}),
    ("quote", "not empty"): (1, {"quote": ""}),
    ("flags", "known flag"): (1, {"flags": "approximate;bogus"}),
    (None, "number as printed"): (1, {"value": "32.5.1"}),
    (None, "unit allowed for outcome"): (1, {"unit": "kg"}),
    (None, "plausible range"): (1, {"value": "400"}),
    (None, "SD and SE are not negative"): (2, {"value": "-4.1"}),
    (None, "percentage within 0-100"): (6, {"statistic": "proportion", "value": "150", "unit": "%"}),
    (None, "count within arm size"): (6, {"value": "25"}),
}


def _synthetic_folders(target: Path) -> list[Path]:
    spec = importlib.util.spec_from_file_location("generate_corpus", ROOT / "benchmarks" / "generate_corpus.py")
    module = importlib.util.module_from_spec(spec)
    saved, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = saved
    return module.generate_corpus(target, SYNTHETIC)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> list[Path]:
    return _synthetic_folders(tmp_path_factory.mktemp("synthetic"))


def _pandera_passes(study, registry) -> bool:
    _, spec = study_rules(study, registry)
    try:
        measurement_schema(spec).validate(study.measurements, lazy=True)
    except SchemaErrors:
        return False
    return True


@pytest.fixture
def verdicts(monkeypatch) -> list[str]:
    """What each pandera validation of validate_measurements found ("passes" or "fails"), in order."""
    found = []

    def recorded_schema(spec):
        schema = measurement_schema(spec)
        validate = schema.validate

        def recorded(frame, **kwargs):
            try:
                checked = validate(frame, **kwargs)
            except SchemaErrors:
                found.append("fails")
                raise
            found.append("passes")
            return checked

        schema.validate = recorded
        return schema

    monkeypatch.setattr(rows, "measurement_schema", recorded_schema)
    return found


def _assert_same_as_pandera(study, registry, verdicts: list[str]) -> bool:
    """The issues are those of pandera alone, and the quick pass skips pandera exactly when pandera passes.

    True if it did."""
    verdicts.clear()
    assert validate_measurements(study, registry) == validate_measurements(study, registry, quick=False)
    if study.measurements.empty:
        return False  # reported before any rule runs
    *quick, alone = verdicts
    assert quick == ([] if alone == "passes" else ["fails"]), f"pandera alone {alone}; with the quick pass: {quick}"
    return not quick


@pytest.mark.parametrize("folder", BAD_INPUTS + SHIPPED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_quick_pass_reports_what_pandera_reports(folder, registry, verdicts):
    try:
        study = load_study(folder)
    except ExtractionReadError:
        return  # nothing to validate row by row: the folder is reported before measurements.csv is read
    skipped = _assert_same_as_pandera(study, registry, verdicts)
    if folder in SHIPPED or folder.name == "base_valid":
        assert skipped, f"{folder.name}: valid, but the quick pass sent it to pandera"


def test_quick_pass_takes_the_synthetic_studies(synthetic, registry, verdicts):
    for folder in synthetic:
        assert _assert_same_as_pandera(load_study(folder), registry, verdicts), folder.name


def _base():
    return load_study(CORPUS / "base_valid")


def _with(study, frame: pd.DataFrame):
    return dataclasses.replace(study, measurements=frame)


def test_every_rule_has_a_bad_cell(registry):
    _, spec = study_rules(_base(), registry)
    rules = {(c, name) for c, name, _ in spec.column_checks} | {(None, name) for name, _ in spec.row_checks}
    assert rules == set(BAD_CELLS), "a rule was added or renamed: give it a bad cell in BAD_CELLS"


@pytest.mark.parametrize("column, rule", list(BAD_CELLS), ids=lambda v: str(v))
def test_one_bad_cell_goes_to_pandera(column, rule, registry):
    study = _base()
    index, cells = BAD_CELLS[(column, rule)]
    frame = study.measurements.copy()
    for name, value in cells.items():
        frame.loc[index, name] = value
    bad = _with(study, frame)
    assert not passes_quickly(study_rules(bad, registry)[1], frame)
    issues = validate_measurements(bad, registry)
    assert issues == validate_measurements(bad, registry, quick=False)
    found = [(i.row, i.column) for i in issues if i.rule == rule]
    assert (index + 2, column or found[0][1]) in found, [str(i) for i in issues]
    if column:
        assert {c for _, c in found} == {column}


def _object_column(frame):
    return frame.assign(note=frame["note"].astype(object))


def _null_cell(frame):
    frame = frame.copy()
    frame.loc[1, "note"] = None
    return frame


@pytest.mark.parametrize("change, pandera_passes, quick_passes", [
    (lambda f: f.assign(colour="red"), False, False),                       # a column outside the format
    (lambda f: f.assign(**{"": ""}), False, False),                         # a nameless column
    (lambda f: f.drop(columns=["quote"]), False, False),                    # a required column missing
    (lambda f: f.drop(columns=["flags", "note"]), True, True),              # optional columns missing
    (_null_cell, False, False),
    (_object_column, True, False),                                          # text, but not pandas' str dtype: pandera decides
    (lambda f: f.assign(note=[7] * len(f)), False, False),                  # not text
    (lambda f: f.assign(note=f["note"].astype("category")), False, False),
    (lambda f: f.assign(note=f["note"].astype("string")), True, False),     # a str dtype with pd.NA: pandera decides
])
def test_unusual_tables_go_to_pandera(change, pandera_passes, quick_passes, registry):
    study = _base()
    odd = _with(study, change(study.measurements))
    assert _pandera_passes(odd, registry) == pandera_passes
    assert passes_quickly(study_rules(odd, registry)[1], odd.measurements) == quick_passes
    assert validate_measurements(odd, registry) == validate_measurements(odd, registry, quick=False)


def test_the_schema_holds_exactly_the_listed_rules(registry):
    """measurement_schema adds no rule of its own (the quick pass would not know it)."""
    _, spec = study_rules(_base(), registry)
    schema = measurement_schema(spec)
    assert list(schema.columns) == list(spec.required)
    for name, column in schema.columns.items():
        assert [c.name for c in column.checks] == [rule for c, rule, _ in spec.column_checks if c == name]
        assert (column.required, column.nullable) == (spec.required[name], spec.nullable)
        assert column.dtype.type == accepted_dtype(spec.dtype)  # the dtype the quick pass takes is the schema's
    assert [c.name for c in schema.checks] == [rule for rule, _ in spec.row_checks]
    assert schema.strict == spec.strict
