"""One study folder from files to harmonized records: read, validate, harmonize, score, describe.

A study never takes another down: whatever goes wrong with it becomes an error Issue and
the study is excluded (see build_shard, which calls this once per study).
"""

from __future__ import annotations

import traceback
from pathlib import Path

import pandas as pd

from livertrials.harmonize import patients
from livertrials.harmonize.characteristics import characteristics
from livertrials.harmonize.records import harmonize_study
from livertrials.io.extraction import (MEASUREMENT_COLUMNS, MEASUREMENTS_FILE, STUDY_FILE, ExtractionReadError, StudyFolder,
                                       load_study, read_study_yaml)
from livertrials.provenance.core import record_lineage
from livertrials.validate.issues import Issue
from livertrials.validate.meta import validate_study_meta
from livertrials.validate.study import validate_study


def process_study(folder: Path, collection: str, registry, lineage: list | None = None) -> tuple[list[dict], list[dict], list[Issue]]:
    """(harmonized records, characteristics rows, issues) of one study; never raises.

    If ``lineage`` is a list, the lineage edges of the records are appended to it.
    """
    patients_file = folder / patients.PATIENTS_FILE
    try:
        if patients_file.exists() and not (folder / MEASUREMENTS_FILE).exists():
            # a patient-level study needs no study-level measurements
            study = StudyFolder(folder, read_study_yaml(folder / STUDY_FILE), pd.DataFrame(columns=MEASUREMENT_COLUMNS))
        else:
            study = load_study(folder)
    except ExtractionReadError as error:
        return [], [], [Issue(folder.name, str(error.file), None, "", "", "", error.rule, error.message)]
    try:
        patient_only = patients_file.exists() and study.measurements.empty
        issues = validate_study_meta(study) if patient_only else validate_study(study, registry)
        if patients_file.exists() and not issues:
            arm_ids = {a["id"] for a in study.meta.get("arms") or []}
            try:
                frame = patients.read_patients(patients_file)
            except ExtractionReadError as error:
                return [], [], issues + [Issue(folder.name, str(error.file), None, "", "", "", error.rule, error.message)]
            issues += patients.validate_patients(frame, patients_file, study.study_id, registry, arm_ids)
        if any(i.severity == "error" for i in issues):
            return [], [], issues
        records = [] if patient_only else harmonize_study(study, registry, collection)
        if patients_file.exists():
            scored = patients.score_patients(frame, registry)
            records += patients.summarize(scored, study.study_id, study.meta, registry, collection)
        if lineage is not None:
            lineage += record_lineage(study, records)
        return records, characteristics(study.meta, study.study_id, collection), issues
    except Exception as error:  # a bug must not take the other studies down with it
        detail = traceback.format_exception_only(type(error), error)[-1].strip()
        return [], [], [Issue(folder.name, str(folder), None, "", "", "", "internal error",
                              f"the pipeline failed on this study ({detail}); please report it")]
