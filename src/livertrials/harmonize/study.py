"""One study folder from files to harmonized records: read, validate, harmonize, score, describe.

A study never takes another down: anything that goes wrong with it, foreseen by a rule or not,
becomes an error Issue naming the study, the file and the step, and the study is excluded
(build_shard calls this once per study and builds the others).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from livertrials.harmonize import patients
from livertrials.harmonize.characteristics import characteristics
from livertrials.harmonize.records import harmonize_study
from livertrials.io.extraction import (
    MEASUREMENT_COLUMNS,
    MEASUREMENTS_FILE,
    STUDY_FILE,
    ExtractionReadError,
    StudyFolder,
    load_measurements,
    read_study_yaml,
)
from livertrials.lineage.records import record_lineage
from livertrials.validate.cross_field import validate_placement
from livertrials.validate.interventions import validate_interventions
from livertrials.validate.issues import Issue, unexpected_error
from livertrials.validate.meta import validate_study_meta
from livertrials.validate.study import validate_rows


class Step:
    """What is being done to which file, for the message if it fails."""

    def __init__(self, doing: str, file: Path):
        self.doing, self.file = doing, file

    def __call__(self, doing: str, file: Path) -> None:
        self.doing, self.file = doing, file


def process_study(folder: Path, collection: str, registry, lineage: list | None = None) -> tuple[list[dict], list[dict], list[Issue]]:
    """(harmonized records, characteristics rows, issues) of one study; never raises.

    If ``lineage`` is a list, the lineage edges of the records are appended to it.
    """
    step = Step("starting", folder)
    try:
        records, rows, issues, edges = _process(folder, collection, registry, step, lineage is not None)
    except ExtractionReadError as error:
        return [], [], [Issue(folder.name, str(error.file), None, "", "", "", error.rule, error.message)]
    except Exception as error:  # a bug or an input no rule foresaw must not take the other studies down with it
        return [], [], [unexpected_error(folder.name, step.file, step.doing, error)]
    if lineage is not None:
        lineage += edges
    return records, rows, issues


def _process(folder: Path, collection: str, registry, step: Step, with_lineage: bool):
    patients_file = folder / patients.PATIENTS_FILE
    step("reading study.yaml", folder / STUDY_FILE)
    meta = read_study_yaml(folder / STUDY_FILE)
    step("reading measurements.csv", folder / MEASUREMENTS_FILE)
    if patients_file.exists() and not (folder / MEASUREMENTS_FILE).exists():
        # a patient-level study needs no study-level measurements
        study = StudyFolder(folder, meta, pd.DataFrame(columns=MEASUREMENT_COLUMNS))
    else:
        study = load_measurements(folder, meta)
    patient_only = patients_file.exists() and study.measurements.empty
    step("validating study.yaml", folder / STUDY_FILE)
    issues = validate_interventions(study, registry, validate_study_meta(study))
    issues += validate_placement(study.meta, study.study_id, str(folder / STUDY_FILE), collection)
    if not patient_only:
        step("validating measurements.csv", folder / MEASUREMENTS_FILE)
        issues += validate_rows(study, registry)
    if patients_file.exists() and not _errors(issues):
        arm_ids = {a["id"] for a in study.meta.get("arms") or []}
        step("reading patients.csv", patients_file)
        try:
            frame = patients.read_patients(patients_file)
        except ExtractionReadError as error:
            return [], [], issues + [Issue(folder.name, str(error.file), None, "", "", "", error.rule, error.message)], []
        step("validating patients.csv", patients_file)
        issues += patients.validate_patients(frame, patients_file, study.study_id, registry, arm_ids)
    if _errors(issues):
        return [], [], issues, []
    step("harmonizing measurements.csv", folder / MEASUREMENTS_FILE)
    records = [] if patient_only else harmonize_study(study, registry, collection)
    if patients_file.exists():
        step("scoring patients.csv", patients_file)
        scored = patients.score_patients(frame, registry)
        records += patients.summarize(scored, study.study_id, study.meta, registry, collection)
    step("recording the lineage of its records", folder)
    edges = record_lineage(study, records) if with_lineage else []
    step("describing the study (characteristics)", folder / STUDY_FILE)
    return records, characteristics(study.meta, study.study_id, collection, registry), issues, edges


def _errors(issues: list[Issue]) -> bool:
    return any(i.severity == "error" for i in issues)
